"""A core Server set up from config text the way the shell sets it up, for
requests from any address without root.

The tracker's answer to "who may ask" depends on the client's address;
over loopback every client is loopback. `Server.answer_http(request,
client=...)` runs the real HTTP handler with any client address, and
`configured(lines)` gives it the networks exactly as `opentracker -f` does:
the config file parsed by `config.load`, the networks turned into the
core's entries by `server.network_entries`, handed over by `set_networks`.
stranger.py does the same over real sockets in a network namespace (root).
"""

import os
import tempfile

from opentracker import config
from opentracker.server import network_entries
from helpers.testcore import core


def configured(lines):
    """A Server configured from these config lines (listen lines are not
    needed: nothing is bound)."""
    fd, path = tempfile.mkstemp(prefix="ot-inprocess-", suffix=".conf")
    try:
        with os.fdopen(fd, "w") as f:
            f.write("".join(line + "\n" for line in lines))
        settings, warnings = config.load(path)
    finally:
        os.unlink(path)
    assert warnings == [], warnings
    server = core.Server(seed=1, memory_limit=settings.memory_limit)
    server.configure(stats_path=settings.stats_path, fullscrape=settings.fullscrape,
                     compression=settings.compression)
    server.set_networks(network_entries(settings))
    return server


def get(server, target, client, headers=b""):
    """The raw answer to GET target from `client` (address text)."""
    raw = ("GET %s HTTP/1.0\r\n" % target).encode("latin-1") + headers + b"\r\n"
    return server.answer_http(raw, client)
