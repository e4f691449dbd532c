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

PROG = "opentracker"

USAGE = ("Usage: %s [-i ip] [-p port] [-P port] [-r redirect] [-d dir] [-u user] [-A ip[/bits]] "
         "[-f config] [-s livesyncport] [-w whitelistfile | -b blacklistfile] [-l statefile] [-v] [-h]" % PROG)

_HELP = (
    ("-f config", "include and execute the config file (may repeat; read at this point)"),
    ("-i ip", "specify ip to bind to with next -[pPs] (default: ::, i.e. every IPv4 and IPv6 address)"),
    ("-p port", "do bind to tcp port (default: 6969, you may specify more than one)"),
    ("-P port", "do bind to udp port (default: 6969, you may specify more than one)"),
    ("-r redirecturl", "specify url where / should be redirected to (default none)"),
    ("-d dir", "specify directory to chroot to when started as root, chdir to otherwise (default: none)"),
    ("-u user", "specify user under whose privileges opentracker should run (default: \"nobody\")"),
    ("-A ip[/bits]", "bless an ip address or net as admin address (stats, proxy and live sync)"),
    ("-w file", "specify whitelist file: only listed torrents are served"),
    ("-b file", "specify blacklist file: every torrent but the listed ones is served"),
    ("-s port", "live sync: join the multicast group on the -i address, this port (default none)"),
    ("-l file", "load a state dump (/stats?mode=statedump) once at start-up"),
    ("-v", "print the version report and exit"),
    ("-h", "print this help and exit"),
)

_EXAMPLE = """
Example:   %(prog)s -i 127.0.0.1 -p 6969 -P 6969 -f ./opentracker.conf -i 10.1.1.23 -p 2710 -p 80
           Here -i 127.0.0.1 selects the ip address for the next -p 6969 and -P 6969.
           If no port is bound from config file or command line, the last address given
           (or :: if none is set) will be used on port 6969, tcp and udp.
""" % {"prog": PROG}

# Options taking a value, and what each does with the Builder.
_WITH_VALUE = {
    "i": lambda b, v, o: b.set_address(v, o),
    "p": lambda b, v, o: b.add_port("tcp", v, o),
    "P": lambda b, v, o: b.add_port("udp", v, o),
    "s": lambda b, v, o: b.set_livesync_port(v, o),
    "A": lambda b, v, o: b.add_admin(v, o),
    "l": lambda b, v, o: b.set_load_state(v, o),
    "f": lambda b, v, o: b.read_file(v),
    "r": lambda b, v, o: b.apply_option("tracker.redirect_url", v, o),
    "d": lambda b, v, o: b.apply_option("tracker.rootdir", v, o),
    "u": lambda b, v, o: b.apply_option("tracker.user", v, o),
    "w": lambda b, v, o: b.apply_option("access.whitelist", v, o),
    "b": lambda b, v, o: b.apply_option("access.blacklist", v, o),
}


class UsageError(Exception):
    """An option the program does not know, or one without its value."""


def parse_args(argv):
    """argv (without the program name) -> (action, settings, warnings).

    action is "run", "help" or "version"; settings is None unless "run".
    -h and -v act where they stand, as in the original: options before them
    have been processed (and may have failed), later ones are not looked at.
    Raises UsageError or config.ConfigError, with the warnings found until
    then in their .warnings.
    """
    builder = config.Builder()
    try:
        return _parse(builder, list(argv))
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
            _WITH_VALUE[flag](builder, value, config.option_origin("-" + flag, value))
            break
    settings, warnings = builder.build()
    return "run", settings, warnings


def _stray(arg):
    # getopt(3) would ignore it; most likely a config file without its -f.
    return UsageError("unexpected argument '%s' (a config file is given with -f)" % config.printable(arg))


def help_text():
    lines = [USAGE]
    lines += ["\t%-16s%s" % (opt, desc) for opt, desc in _HELP]
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
        action, settings, warnings = parse_args(argv)
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
        sys.exit(111)
    sys.exit(run(settings))
