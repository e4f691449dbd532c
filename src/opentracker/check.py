"""`opentracker --check-config`: everything start-up would read, read the
same way, every problem reported with its file:line, nothing bound, no
privilege dropped, exit 0 (it would start) or 1 (it would not, or would not
do what the files say). An init script's reload runs it before touching
the running tracker (crossbuild/openwrt/files/opentracker.init).

Problems are errors (start-up stops, or a file the settings name cannot be
used) or warnings (start-up goes on, as it would: an access-list line that
is skipped, a state line that is not restored); only errors fail the check.
"""

import os
import pwd
import re
import stat
import sys

from . import accesslist, clusterkey, config, state

PROG = "opentracker"
_HASH_LINE = re.compile(rb"[0-9A-Fa-f]{40}(?![0-9A-Fa-f])")
_SHOWN = 20     # bad lines shown per file; the rest are counted


class _Report:
    def __init__(self):
        self.errors = []
        self.warnings = []

    def error(self, text):
        self.errors.append(text)

    def warn(self, text):
        self.warnings.append(text)


def check(settings, config_errors, config_warnings=(), out=None, err=None):
    """Report on stderr (err), the verdict on stdout (out); the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    report = _Report()
    for exc in config_errors:
        report.error(str(exc))
    for text in config_warnings:
        report.warn(text[len("Warning: "):] if text.startswith("Warning: ") else text)
    if settings is not None:
        _check_files(settings, report)
    for line in report.errors:
        err.write("error: %s\n" % line)
    for line in report.warnings:
        err.write("warning: %s\n" % line)
    files = ", ".join(config.printable(f) for f in settings.config_files) if settings else ""
    if report.errors:
        out.write("%s: configuration refused (%d error(s), %d warning(s))%s\n"
                  % (PROG, len(report.errors), len(report.warnings), " in " + files if files else ""))
        return 1
    out.write("%s: configuration OK (%d warning(s))%s\n"
              % (PROG, len(report.warnings), " in " + files if files else ""))
    return 0


def _check_files(settings, report):
    _check_user_and_root(settings, report)
    server = _scratch_server(settings)
    _check_access_list(settings, report, server)
    _check_fifos(settings, report)
    _check_state(settings, report, server)
    _check_cluster_key(settings, report)


def _check_user_and_root(settings, report):
    """Start-up as root chroots to tracker.rootdir and becomes tracker.user;
    as anyone else it changes to rootdir."""
    if settings.rootdir and not os.path.isdir(settings.rootdir):
        report.error("tracker.rootdir %s is not a directory" % config.printable(settings.rootdir))
    try:
        pw = pwd.getpwnam(settings.user)
    except KeyError:
        (report.error if os.geteuid() == 0 else report.warn)(
            "tracker.user %s does not exist (started as root, the tracker would stop)" % config.printable(settings.user))
        return
    if pw.pw_uid == 0 or pw.pw_gid == 0:
        (report.error if os.geteuid() == 0 else report.warn)(
            "tracker.user %s has uid or gid 0: started as root, the tracker refuses to run as it"
            % config.printable(settings.user))


def _scratch_server(settings):
    """A core that binds nothing, with the budget and access list start-up
    would give it, for the state file to be loaded into."""
    from opentracker_core import Server
    return Server(memory_limit=settings.memory_limit)


def _check_access_list(settings, report, server):
    path = settings.whitelist or settings.blacklist
    if not path:
        return
    key = "access.whitelist" if settings.whitelist else "access.blacklist"
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        report.error("%s %s cannot be read: %s (the tracker would start %s)"
                     % (key, config.printable(path), e.strerror,
                        "refusing every torrent" if settings.whitelist else "with nothing blacklisted"))
        return
    hashes = accesslist.parse(data)
    server.set_access("white" if settings.whitelist else "black", hashes.blob)
    bad = 0
    for number, line in enumerate(data.split(b"\n"), 1):
        if line.strip() and not line.lstrip().startswith(b"#") and not _HASH_LINE.match(line):
            bad += 1
            if bad <= _SHOWN:
                report.warn("%s:%d: skipped: not 40 hex digits at the start of the line: %s"
                            % (config.printable(path), number,
                               config.printable(line[:60].decode("utf-8", "surrogateescape"))))
    if bad > _SHOWN:
        report.warn("%s: %d more skipped line(s)" % (config.printable(path), bad - _SHOWN))


def _check_fifos(settings, report):
    for key, path in (("access.fifo_add", settings.fifo_add), ("access.fifo_delete", settings.fifo_delete)):
        if not path:
            continue
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
                report.error("%s %s: its directory does not exist, so it cannot be created"
                             % (key, config.printable(path)))
            continue
        except OSError as e:
            report.error("%s %s: %s" % (key, config.printable(path), e.strerror))
            continue
        if not stat.S_ISFIFO(mode):
            report.error("%s %s exists and is not a named pipe (fifo)" % (key, config.printable(path)))


def _check_state(settings, report, server):
    """-l (must exist) then tracker.statefile (may not exist yet), loaded as
    start-up loads them."""
    for key, path, must_exist in (("-l", settings.load_state, True), ("tracker.statefile", settings.statefile, False)):
        if not path:
            continue
        try:
            result = state.load(server, path)
        except FileNotFoundError:
            if must_exist:
                report.error("%s %s does not exist" % (key, config.printable(path)))
            elif not os.path.isdir(os.path.dirname(os.path.abspath(path))):
                report.error("%s %s: its directory does not exist, so it cannot be written"
                             % (key, config.printable(path)))
            continue
        except OSError as e:
            report.error("%s %s cannot be read: %s" % (key, config.printable(path), e.strerror))
            continue
        for number, text in result.first_bad:
            report.warn("%s:%d: not a state line (<40 hex>:<minutes>:<downloaded>), skipped: %s"
                        % (config.printable(path), number, text.decode("latin-1")))
        if result.bad > len(result.first_bad):
            report.warn("%s: %d more bad line(s)" % (config.printable(path), result.bad - len(result.first_bad)))
        if result.refused or result.duplicates or result.over_budget:
            report.warn(result.describe(path))


def _check_cluster_key(settings, report):
    """livesync.cluster.key: a file start-up can read a key from. The
    message names the config line and the file, never what it holds."""
    path = settings.livesync_key
    if not path:
        return
    try:
        clusterkey.read(path)
    except ValueError as e:
        where = _line_of(settings, "livesync.cluster.key")
        report.error("%slivesync.cluster.key: %s (start-up would stop)" % (where + ": " if where else "", e))


def _line_of(settings, key):
    """file:line of the last config line that sets key, or None."""
    found = None
    for name in settings.config_files:
        try:
            with open(name, "rb") as f:
                lines = f.read(config.MAX_FILE_BYTES).split(b"\n")
        except OSError:
            continue
        for number, line in enumerate(lines, 1):
            words = line.split(None, 1)
            if words and words[0] == key.encode():
                found = "%s:%d" % (config.printable(name), number)
    return found
