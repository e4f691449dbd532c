"""Signals reach the loop through a wakeup pipe (signal.set_wakeup_fd): the
C loop sees the pipe readable, returns to Python, and the handlers installed
here run inside Server.run(). SIGPIPE is ignored: a client that goes away
mid-answer is the loop's business, not a reason to die."""

import os

# The functions and constants of the signal module without its wrappers:
# signal.py turns every SIG*, SIG_* and SIG_BLOCK name into enum members,
# tens of KiB that stay in the RSS for nothing (docs/memory.md, "The shell
# at rest"). Handlers still get the signal number as an int.
import _signal as signal


class SignalRouter:
    def __init__(self, server, on_reload, on_stop):
        self._server = server
        self._on_reload = on_reload
        self._on_stop = on_stop
        self._pipe = None

    def install(self):
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._pipe = (r, w)
        signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        self._server.set_wakeup_fd(r)   # the server owns (and closes) the read end
        signal.signal(signal.SIGHUP, self._hup)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)

    def uninstall(self):
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        if self._pipe:
            os.close(self._pipe[1])
            self._pipe = None

    def _hup(self, signum, frame):
        self._on_reload()

    def _stop(self, signum, frame):
        self._on_stop(signum)
