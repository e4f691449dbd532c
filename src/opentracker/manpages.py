"""The manual pages opentracker(1) and opentracker.conf(5), written from the
one table of options (cli.OPTIONS) and the one table of config keys
(config.KEYS_TABLE), so that they cannot drift from the program:

    python -m opentracker.manpages man/        # writes man/opentracker.1 and man/opentracker.conf.5

tests/test_manpages.py checks that the committed pages are what this writes
and that mandoc finds nothing to say about them; setup.py installs them
under share/man.
"""

import os
import sys
import textwrap

from . import cli, config
from ._version import __version__

DATE = "December 1, 2026"   # of the pages' text; bump when the prose below changes
SOURCE = "opentracker-py %s" % __version__


def roff(text):
    """Plain text as roff: backslashes, hyphens of options, and a leading
    dot or quote (which would start a request) made literal."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    if text[:1] in (".", "'"):
        text = "\\&" + text
    return text


def _default(entry):
    d = entry.default
    if entry.kind == "listen":
        return "none given: TCP and UDP port %d on every IPv4 and IPv6 address" % config.DEFAULT_PORT
    if d is None or d == ():
        return "none"
    if d is True:
        return "on"
    if d is False:
        return "off"
    return str(d)


def _option_for(key):
    """The command-line option that sets the same thing as a key, if any."""
    for flag, arg, option_key, _, _ in cli.OPTIONS:
        if option_key == key:
            return "-%s %s" % (flag, arg)
    return None


def page_1():
    out = [
        '.TH OPENTRACKER 1 "%s" "%s" "User Commands"' % (DATE, SOURCE),
        ".SH NAME",
        "opentracker \\- a BitTorrent tracker with a Cython core, compatible with Dirk Engling's opentracker",
        ".SH SYNOPSIS",
        ".B opentracker",
    ]
    for flag, arg, _, _, _ in cli.OPTIONS:
        out.append(".RB [ \\-%s ]" % flag if arg is None else ".RB [ \\-%s\n.IR %s ]" % (flag, roff(arg)))
    out += [
        ".RB [ \\-\\-check\\-config ]",
        ".SH DESCRIPTION",
        ".B opentracker",
        "serves BitTorrent announces and scrapes over HTTP and UDP (BEP 3, 15, 23, 7), IPv4 and IPv6 in",
        "one process. It takes the C original's options, config keys, access lists, state dumps and",
        "/stats modes; a config file written for it works here.",
        ".PP",
        "Options are read strictly left to right:",
        ".B \\-i",
        "sets the address for the following",
        ".BR \\-p ,",
        ".B \\-P",
        "and",
        ".BR \\-s ,",
        "and",
        ".B \\-f",
        "reads its file at that point. With no listen option or key the tracker serves TCP and UDP port",
        "%d on every IPv4 and IPv6 address. It binds first, then (started as root) changes its root to" % (
            config.DEFAULT_PORT),
        ".B tracker.rootdir",
        "and becomes",
        ".BR tracker.user .",
        ".PP",
        "The stats path (default",
        ".BR /stats )",
        "is served to loopback and to the networks of",
        ".B access.stats",
        "only. A browser asking for text/html without a mode gets a status page (also",
        ".BR /stats?mode=html );",
        "scripts get the original's answers byte for byte, and",
        ".B /metrics",
        "serves Prometheus.",
        ".SH OPTIONS",
    ]
    for flag, arg, key, _, doc in cli.OPTIONS:
        out.append(".TP")
        out.append(".B \\-%s" % flag if arg is None else ".BI \\-%s \" \" %s" % (flag, roff(arg)))
        text = roff(doc[0].upper() + doc[1:]) + "."
        if key:
            text += "\nThe same as the config key\n.BR %s ." % roff(key)
        out.append(text)
    out += [
        ".TP",
        ".B \\-\\-check\\-config",
        roff(cli.CHECK_HELP[0].upper() + cli.CHECK_HELP[1:]) + ".",
        "Problems that stop start-up, or files named in the settings that cannot be used, are errors;",
        "lines that start-up would skip are warnings.",
        ".SH SIGNALS",
        ".TP",
        ".B SIGHUP",
        "re-reads the access list (a list that cannot be read keeps the one in force).",
        ".TP",
        ".BR SIGINT \", \" SIGTERM",
        "stop in order: the state file is written, then the tracker exits with status 0.",
        ".SH EXIT STATUS",
        "0 after",
        ".BR \\-h ,",
        ".BR \\-v ,",
        "a passed",
        ".B \\-\\-check\\-config",
        "or an orderly stop; 1 for a bad option, a bad config value or a failed check (the file and line",
        "are named); 111 when start-up fails (a port in use, a user that does not exist).",
        ".SH FILES",
        ".TP",
        ".I /etc/opentracker.conf",
        "a conventional place for the config file given with",
        ".BR \\-f ;",
        "see",
        ".BR opentracker.conf (5).",
        ".SH SEE ALSO",
        ".BR opentracker.conf (5)",
        "",
    ]
    return "\n".join(out)


def page_5():
    out = [
        '.TH OPENTRACKER.CONF 5 "%s" "%s" "File Formats"' % (DATE, SOURCE),
        ".SH NAME",
        "opentracker.conf \\- configuration file of opentracker",
        ".SH DESCRIPTION",
        "One setting a line:",
        '.IR "key value" .',
        "Leading whitespace is skipped, empty lines and lines starting with",
        ".B #",
        "are ignored, there are no comments after a value, and trailing whitespace is dropped. A key",
        "counts only when whitespace follows it. A value the tracker cannot use stops start-up with the",
        "file, line and reason;",
        ".B opentracker \\-\\-check\\-config",
        "reports every such line at once. Keys the tracker does not know are reported and skipped.",
        "Keys that may be given more than once (listen lines, networks) add up; for the others the last",
        "one wins.",
        ".SH KEYS",
    ]
    for entry in config.KEYS_TABLE:
        if entry.key is None:
            continue
        out.append(".TP")
        out.append(".BI %s \" \" %s" % (roff(entry.key), roff(entry.arg)))
        text = roff(entry.doc[0].upper() + entry.doc[1:]) + "."
        text += "\nDefault: %s." % roff(_default(entry))
        option = _option_for(entry.key)
        if option:
            text += "\nThe option\n.B %s\nsets the same." % roff(option)
        out.append(text)
    out += [
        ".SH EXAMPLE",
        ".nf",
        ".RS",
        "listen.tcp_udp 0.0.0.0:6969",
        "listen.tcp_udp [::]:6969",
        "tracker.user nobody",
        "tracker.memory_limit 24M",
        "access.stats 192.168.1.0/24",
        "tracker.statefile /var/lib/opentracker/state",
        ".RE",
        ".fi",
        ".SH SEE ALSO",
        ".BR opentracker (1)",
        "",
    ]
    return "\n".join(out)


def _wrap(page):
    """Text lines wrapped at 79 columns (mandoc's style); a line that now
    starts with a dot or quote is made literal."""
    out = []
    for line in page.split("\n"):
        if line.startswith(".") or len(line) < 80:
            out.append(line)
            continue
        for piece in textwrap.wrap(line, 79, break_long_words=False, break_on_hyphens=False):
            out.append("\\&" + piece if piece[:1] in (".", "'") else piece)
    return "\n".join(out)


PAGES = {"opentracker.1": lambda: _wrap(page_1()), "opentracker.conf.5": lambda: _wrap(page_5())}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.exit("usage: python -m opentracker.manpages OUTDIR")
    os.makedirs(argv[0], exist_ok=True)
    for name, write in PAGES.items():
        with open(os.path.join(argv[0], name), "w") as f:
            f.write(write())


if __name__ == "__main__":
    main()
