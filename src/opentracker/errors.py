"""How the shell tells the operator: fatal start-up errors and warnings.

server.py, accesslist.py and state.py all report through here, so that a
warning from a SIGHUP reload looks like one from start-up.
"""

import sys

EXIT_FATAL = 111  # the original's status for fatal start-up errors


class StartupError(Exception):
    """A fatal start-up problem; the message is shown as it is."""


def say(text):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
