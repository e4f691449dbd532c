"""The command line: the C original's options, read strictly left to right.

Order matters (`-i` sets the address for the *following* -p/-P/-s, and `-f`
reads its file at that point), which argparse cannot express, so this is a
small getopt: clustered flags (`-vh`), attached arguments (`-p6969`) and `--`
work as in getopt(3). Exit codes: 0 for -h and -v; 1 for a bad option, a bad
value or a bad config file; 111 (the original's status for fatal start-up
errors) when the server cannot be loaded; otherwise what the server returns.
"""

import os
import sys

from . import config
from ._version import __version__
from .errors import EXIT_FATAL

PROG = "opentracker"

USAGE = ("Usage: %s [-i ip] [-p port] [-P port] [-r redirect] [-d dir] [-u user] [-A ip[/bits]] "
         "[-f config] [-s livesyncport] [-w whitelistfile | -b blacklistfile] [-l statefile] [-v] [-h]" % PROG)

# The options, in the order -h lists them: (flag, its argument, the config
# key it sets the same thing as, what it does with the Builder, help line).
# One with a key and no action applies its value to that key; the key also
# lets opentracker.conf(5) name the option beside it. -v and -h take no
# argument and act where they stand. Plain tuples: a named tuple class would
# cost about 8 KiB (x86-64), on a router too.
OPTIONS = (
    ("f", "config", None, lambda b, v, o: b.read_file(v),
     "include and execute the config file (may repeat; read at this point)"),
    ("i", "ip", None, lambda b, v, o: b.set_address(v, o),
     "specify ip to bind to with next -[pPs] (default: ::, i.e. every IPv4 and IPv6 address)"),
    ("p", "port", "listen.tcp", lambda b, v, o: b.add_port("tcp", v, o),
     "do bind to tcp port (default: 6969, you may specify more than one)"),
    ("P", "port", "listen.udp", lambda b, v, o: b.add_port("udp", v, o),
     "do bind to udp port (default: 6969, you may specify more than one)"),
    ("r", "redirecturl", "tracker.redirect_url", None,
     "specify url where / should be redirected to (default none)"),
    ("d", "dir", "tracker.rootdir", None,
     "specify directory to chroot to when started as root, chdir to otherwise (default: none)"),
    ("u", "user", "tracker.user", None,
     "specify user under whose privileges opentracker should run (default: \"nobody\")"),
    ("A", "ip[/bits]", None, lambda b, v, o: b.add_admin(v, o),
     "bless an ip address or net as admin address (stats, proxy and live sync)"),
    ("w", "file", "access.whitelist", None,
     "specify whitelist file: only listed torrents are served"),
    ("b", "file", "access.blacklist", None,
     "specify blacklist file: every torrent but the listed ones is served"),
    ("s", "port", "livesync.cluster.listen", lambda b, v, o: b.set_livesync_port(v, o),
     "live sync: join the multicast group on the -i address, this port (default none)"),
    ("l", "file", None, lambda b, v, o: b.set_load_state(v, o),
     "load a state dump (/stats?mode=statedump) once at start-up"),
    ("v", None, None, None, "print the version report and exit"),
    ("h", None, None, None, "print this help and exit"),
)
_WITH_VALUE = {flag: (key, action) for flag, arg, key, action, _ in OPTIONS if arg is not None}

_EXAMPLE = """
Example:   %(prog)s -i 127.0.0.1 -p 6969 -P 6969 -f ./opentracker.conf -i 10.1.1.23 -p 2710 -p 80
           Here -i 127.0.0.1 selects the ip address for the next -p 6969 and -P 6969.
           If no port is bound from config file or command line, the last address given
           (or :: if none is set) will be used on port 6969, tcp and udp.
""" % {"prog": PROG}


class UsageError(Exception):
    """An option the program does not know, or one without its value."""


CHECK_OPTION = "--check-config"
CHECK_HELP = ("load every -f file and option, access list and state file as start-up would, report every "
              "problem with its file:line, bind nothing; exit 0 when the tracker would start, 1 when not")


def parse_args(argv):
    """argv (without the program name) -> (action, settings, warnings).

    action is "run", "help" or "version"; settings is None unless "run".
    With --check-config anywhere before `--`, action is "check": settings
    may be None, and every ConfigError found is in the builder's .errors
    (returned as a 4th item) instead of stopping at the first.
    -h and -v act where they stand, as in the original: options before them
    have been processed (and may have failed), later ones are not looked at.
    Raises UsageError or config.ConfigError, with the warnings found until
    then in their .warnings.
    """
    builder = config.Builder()
    argv = list(argv)
    end = argv.index("--") if "--" in argv else len(argv)
    checking = CHECK_OPTION in argv[:end]
    if checking:
        builder.errors = []
        argv = [a for i, a in enumerate(argv) if i >= end or a != CHECK_OPTION]
    try:
        action, settings, warnings = _parse(builder, argv)
        if checking and action == "run":
            return "check", settings, warnings, builder.errors
        return action, settings, warnings
    except (UsageError, config.ConfigError) as exc:
        # What was found wrong before the fatal error still helps the reader.
        exc.warnings = list(builder.warnings)
        raise


def _parse(builder, argv):
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            if i < len(argv):
                raise _stray(argv[i])
            break
        if arg == "--help":
            return "help", None, builder.warnings
        if arg == "--version":
            return "version", None, builder.warnings
        if arg.startswith("--"):
            raise UsageError("unknown option %s" % config.printable(arg))
        if not arg.startswith("-") or arg == "-":
            raise _stray(arg)
        j = 1
        while j < len(arg):
            flag = arg[j]
            j += 1
            if flag == "h":
                return "help", None, builder.warnings
            if flag == "v":
                return "version", None, builder.warnings
            if flag not in _WITH_VALUE:
                raise UsageError("unknown option -%s" % config.printable(flag))
            if j < len(arg):
                value = arg[j:]
            elif i < len(argv):
                value = argv[i]
                i += 1
            else:
                raise UsageError("option -%s needs an argument" % flag)
            key, action = _WITH_VALUE[flag]
            origin = config.option_origin("-" + flag, value)
            try:
                if action is None:
                    builder.apply_option(key, value, origin)
                else:
                    action(builder, value, origin)
            except config.ConfigError as exc:
                builder.collect(exc)
            break
    settings, warnings = builder.build()
    return "run", settings, warnings


def _stray(arg):
    # getopt(3) would ignore it; most likely a config file without its -f.
    return UsageError("unexpected argument '%s' (a config file is given with -f)" % config.printable(arg))


def help_text():
    lines = [USAGE]
    for flag, arg, _, _, doc in OPTIONS:
        lines.append("\t%-16s%s" % ("-" + flag if arg is None else "-%s %s" % (flag, arg), doc))
    lines.append("\t%-16s%s" % (CHECK_OPTION, CHECK_HELP))
    return "\n".join(lines) + "\n" + _EXAMPLE


def version_text():
    """What a bug report needs: our version, the interpreter, where the
    compiled core comes from (or why it does not load)."""
    lines = [
        "opentracker %s: BitTorrent tracker, Python shell over a Cython core" % __version__,
        "  shell:  %s" % os.path.dirname(os.path.abspath(__file__)),
        "  python: %s (%s)" % (sys.version.split()[0], sys.executable or "unknown"),
    ]
    try:
        from opentracker_core import _core
    except ImportError as exc:
        lines.append("  core:   not loadable: %s" % exc)
    else:
        lines.append("  core:   %s" % getattr(_core, "__file__", "built in"))
        lines += ["  " + line for line in _core.version_report().decode("ascii", "replace").splitlines()]
    lines += [
        "  compatible with opentracker by Dirk Engling (baseline 110868e, upstream 716dcfb):",
        "  same options, config keys, HTTP/UDP answers, /stats modes, access lists, state dumps, live sync",
        "  runtime features: dual stack, white/blacklist + fifos, restricted stats, proxies, live sync,",
        "  full scrape, gzip, modest full scrapes, syslog of completions, memory budget, rate limit",
    ]
    return "\n".join(lines) + "\n"


def _stderr(text):
    sys.stderr.write(text if text.endswith("\n") else text + "\n")
    sys.stderr.flush()


def main(argv=None):
    """Parse, print warnings, then run the server; never returns."""
    if argv is None:
        argv = sys.argv[1:]
    try:
        action, settings, warnings, *errors = parse_args(argv)
    except UsageError as exc:
        for warning in exc.warnings:
            _stderr(warning)
        _stderr("%s: %s" % (PROG, exc))
        _stderr(USAGE)
        sys.exit(1)
    except config.ConfigError as exc:
        for warning in exc.warnings:
            _stderr(warning)
        _stderr(str(exc) if exc.option is None else "%s: %s" % (PROG, exc))
        if exc.option is not None:
            _stderr(USAGE)
        sys.exit(1)
    if action == "check":
        from opentracker.check import check
        sys.exit(check(settings, errors[0], warnings))
    for warning in warnings:
        _stderr(warning)
    if action == "help":
        _stderr(help_text())
        sys.exit(0)
    if action == "version":
        _stderr(version_text())
        sys.exit(0)
    try:
        from opentracker.server import run
    except ImportError as exc:
        # A broken install (core not built, file missing) deserves one line,
        # not a traceback; 111 is the original's fatal start-up status.
        _stderr("%s: cannot load the server: %s" % (PROG, exc))
        sys.exit(EXIT_FATAL)
    sys.exit(run(settings))
