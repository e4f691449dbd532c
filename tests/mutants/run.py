#!/usr/bin/env python3
"""Mutation check: break the product on purpose, one mutant at a time, and
make sure the tests notice.

Each mutant of tests/mutants/mutants.py is one small textual patch (file, the
exact old text, the new text). For each selected mutant this runner

  1. copies the tree (the files git knows or would add:
     `git ls-files -z --cached --others --exclude-standard`) into a private
     temporary directory,
  2. applies the patch there; it stops at once, before building anything,
     when the old text is not found exactly once (the list must stay in step
     with the code),
  3. builds the core and the tests' build of it (tests/testbuild/) in the
     copy (`OT_TESTCORE=1 python setup.py -q build_ext --inplace`,
     with CFLAGS -O0 unless --optimize) when the patch touches it; a mutant
     of the Python shell reuses one unmutated build of the core, made once
     per run,
  4. runs the mutant's tests there, with PYTHONPATH=<copy>/src, one pytest
     argument string after another, until one fails (the mutant is killed)
     or all pass (it survived).

It prints one row a mutant (name, killed or not, by which test, seconds) and
exits 1 when a mutant survives or cannot be judged (the patch does not build,
pytest cannot run), 0 when every one was killed.

    python tests/mutants/run.py --quick     # the CI subset
    python tests/mutants/run.py             # every mutant (by hand)
    python tests/mutants/run.py --list
    python tests/mutants/run.py --only stats-open-to-everyone --keep

Needs Cython in the interpreter that runs it (the core is built from the
.pyx sources) and git (to list the tree).
"""

import argparse
import concurrent.futures
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from mutants import MUTANTS  # noqa: E402

CORE_SUFFIXES = (".pyx", ".pxd", ".pxi", ".h", ".c")
TEST_TIMEOUT = 900        # seconds for one pytest argument string
BUILD_TIMEOUT = 900
OPTIMIZE = False          # --optimize: build as setup.py does by default, not -O0


def source_root():
    out = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=HERE, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("mutants: not in a git checkout: %s" % out.stderr.strip())
    return out.stdout.strip()


def tree_files(root):
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=root, capture_output=True, check=True)
    return [p for p in out.stdout.decode().split("\0") if p and os.path.isfile(os.path.join(root, p))]


def tree_files_below(top):
    return [os.path.relpath(os.path.join(d, n), top) for d, _, names in os.walk(top) for n in names]


def needs_build(mutant):
    return mutant["file"].endswith(CORE_SUFFIXES) or mutant["file"].startswith("src/opentracker_core/")


def check_patch(root, mutant):
    """The number of times the mutant's old text occurs in the tree's file."""
    with open(os.path.join(root, mutant["file"]), encoding="utf-8") as f:
        return f.read().count(mutant["old"])


def copy_tree(root, files, dest):
    os.makedirs(dest)
    for rel in files:
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(root, rel), target)


def apply_patch(copy, mutant):
    path = os.path.join(copy, mutant["file"])
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.count(mutant["old"]) != 1:
        raise RuntimeError("%s: old text found %d times in %s" % (mutant["name"], text.count(mutant["old"]),
                                                                  mutant["file"]))
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(mutant["old"], mutant["new"]))


def build(copy, log):
    env = dict(os.environ)
    if not OPTIMIZE:
        # -O0 (last on the command line, so it wins) compiles in less than
        # half the time; the tests judge behaviour, not speed.
        env["CFLAGS"] = (env.get("CFLAGS", "") + " -O0").strip()
    # The test build beside the core, from the same mutated sources (the
    # tests load it through OT_TESTCORE_PREBUILT, child_env).
    env["OT_TESTCORE"] = "1"
    done = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=copy, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT)
    with open(log, "ab") as f:
        f.write(done.stdout)
    return done.returncode == 0


def child_env(copy):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(copy, "src")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["OT_TESTCORE_PREBUILT"] = "1"
    env.pop("OT_IMPL", None)
    return env


_FAILED = re.compile(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", re.M)


def run_tests(copy, mutant, log):
    """(killed, killer text). killed is None when pytest itself could not run."""
    for args in mutant["tests"]:
        argv = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-rfE"] + shlex.split(args)
        try:
            done = subprocess.run(argv, cwd=copy, env=child_env(copy), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=TEST_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            with open(log, "ab") as f:
                f.write(e.stdout or b"")
            return None, "timeout in %s" % args
        out = done.stdout.decode(errors="replace")
        with open(log, "a") as f:
            f.write("$ %s\n%s\n" % (" ".join(argv), out))
        if done.returncode == 1:
            failed = _FAILED.findall(out)
            return True, failed[0] if failed else args
        if done.returncode != 0:
            return None, "pytest exit %d in %s" % (done.returncode, args)
    return False, ""


class Runner:
    def __init__(self, root, workdir, keep):
        # One snapshot of the tree, taken now: every mutant starts from the
        # same files, whatever is edited in the checkout meanwhile.
        self.root = os.path.join(workdir, "_tree")
        copy_tree(root, tree_files(root), self.root)
        self.files = tree_files_below(self.root)
        self.workdir = workdir
        self.keep = keep
        self._base = None
        self._base_lock = threading.Lock()

    def base_core(self):
        """Path of an unmutated build of the core (made once), for the
        mutants that leave the core alone."""
        with self._base_lock:
            if self._base is None:
                copy = os.path.join(self.workdir, "_unmutated")
                copy_tree(self.root, self.files, copy)
                if not build(copy, os.path.join(self.workdir, "_unmutated.log")):
                    raise RuntimeError("the unmutated core does not build: see %s/_unmutated.log" % self.workdir)
                # (built file, its folder in a copy): the core and the test build
                core = os.path.join("src", "opentracker_core")
                self._base = [(os.path.join(copy, core, n), core) for n in os.listdir(os.path.join(copy, core))
                              if n.endswith(".so")]
                self._base += [(os.path.join(copy, "src", n), "src") for n in os.listdir(os.path.join(copy, "src"))
                               if n.startswith("opentracker_testcore") and n.endswith(".so")]
            return self._base

    def run(self, mutant):
        start = time.monotonic()
        copy = os.path.join(self.workdir, mutant["name"])
        log = copy + ".log"
        try:
            copy_tree(self.root, self.files, copy)
            apply_patch(copy, mutant)
            if needs_build(mutant):
                if not build(copy, log):
                    return mutant, None, "does not build (see %s)" % log, time.monotonic() - start
            else:
                for so, folder in self.base_core():
                    shutil.copy2(so, os.path.join(copy, folder))
            killed, by = run_tests(copy, mutant, log)
            return mutant, killed, by, time.monotonic() - start
        except Exception as e:  # reported as "not judged", never as killed
            return mutant, None, "%s: %s" % (type(e).__name__, e), time.monotonic() - start
        finally:
            if not self.keep:
                shutil.rmtree(copy, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the mutants marked quick (the CI subset)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="this mutant (repeatable)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants built and tested at once (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the copies and logs (path printed)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--optimize", action="store_true", help="build the cores optimized (default -O0: faster)")
    args = parser.parse_args(argv)
    global OPTIMIZE
    OPTIMIZE = args.optimize

    chosen = [m for m in MUTANTS if (not args.quick or m.get("quick")) and (not args.only or m["name"] in args.only)]
    unknown = set(args.only) - {m["name"] for m in MUTANTS}
    if unknown:
        sys.exit("mutants: no such mutant: %s" % ", ".join(sorted(unknown)))
    if args.list:
        for m in chosen:
            print("%-34s %-5s %s\n%34s       %s" % (m["name"], "quick" if m.get("quick") else "", m["file"], "",
                                                   m["breaks"]))
        return 0

    root = source_root()
    stale = [(m["name"], m["file"], n) for m in chosen for n in [check_patch(root, m)] if n != 1]
    if stale:
        for name, path, n in stale:
            print("mutants: %s: the old text occurs %d times in %s (must be exactly once)" % (name, n, path))
        return 2
    try:
        import Cython  # noqa: F401
    except ImportError:
        sys.exit("mutants: Cython is needed to build the mutated core (pip install 'Cython>=3.1,<3.4')")

    workdir = tempfile.mkdtemp(prefix="ot-mutants-")
    runner = Runner(root, workdir, args.keep)
    # Core builds first (the long ones), so the two jobs stay busy.
    order = sorted(chosen, key=lambda m: not needs_build(m))
    started = time.monotonic()
    results = {}
    print("mutants: %d to run, %d at a time, in %s" % (len(order), args.jobs, workdir), flush=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(runner.run, m) for m in order]
        for future in concurrent.futures.as_completed(futures):
            mutant, killed, by, secs = future.result()
            results[mutant["name"]] = (killed, by, secs)
            verdict = {True: "killed", False: "SURVIVED", None: "ERROR"}[killed]
            print("  %-34s %-8s %5.0f s  %s" % (mutant["name"], verdict, secs, by), flush=True)
    total = time.monotonic() - started
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print("| mutant | breaks | killed | by | seconds |")
    print("|---|---|---|---|---|")
    for m in chosen:
        killed, by, secs = results[m["name"]]
        print("| %s | %s | %s | %s | %.0f |" % (m["name"], m["breaks"], {True: "yes", False: "**no**",
                                                                         None: "error"}[killed], by, secs))
    bad = [n for n, (killed, _, _) in results.items() if killed is not True]
    print()
    print("mutants: %d run, %d killed, %d survived, %d errors, %.0f s in all"
          % (len(results), sum(r[0] is True for r in results.values()),
             sum(r[0] is False for r in results.values()), sum(r[0] is None for r in results.values()), total))
    if bad:
        print("mutants: NOT killed: %s" % ", ".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
