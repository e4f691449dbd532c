"""livesync.cluster.key: the secret the nodes of a live-sync cluster share
(docs/cluster-keys.md). The file holds 32 hexadecimal digits, the 16 bytes
of a SipHash-2-4 key (`openssl rand -hex 16 > cluster.key`); whitespace
around them is ignored. Messages name the file, never what it holds."""

from .config import printable

KEY_BYTES = 16
MAX_FILE_BYTES = 4096
# Spelled out: the string module imports re (docs/memory.md, "The shell at rest").
_HEX = frozenset("0123456789abcdefABCDEF")


def read(path):
    """The 16 key bytes of the file at path; ValueError with the reason."""
    name = printable(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ValueError("the cluster key file %s cannot be read: %s" % (name, exc.strerror or exc)) from None
    text = data.strip(b" \t\r\n")
    if not text:
        raise ValueError("the cluster key file %s is empty" % name)
    if len(data) > MAX_FILE_BYTES or len(text) != 2 * KEY_BYTES or not all(chr(c) in _HEX for c in text):
        raise ValueError("the cluster key file %s must hold 32 hexadecimal digits (16 bytes; "
                         "make one with: openssl rand -hex 16)" % name)
    return bytes.fromhex(text.decode("ascii"))
