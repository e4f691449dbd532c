"""Slow, obviously correct encoders and decoders: the oracle the core is
checked against. Nothing here is used by the tracker itself."""

import struct


def bencode(value):
    """Encode ints, bytes, str, lists and dicts (keys sorted, as BEP 3 says)."""
    if isinstance(value, bool):
        raise TypeError("bool is not bencodable")
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, (bytes, bytearray)):
        return b"%d:%s" % (len(value), bytes(value))
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in value.items())
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"
    raise TypeError(type(value))


def bdecode_ordered(data):
    """Decode a bencoded value; dicts come back as lists of (key, value) pairs
    in wire order, so tests can check order and duplicate keys."""
    value, end = _decode(data, 0)
    if end != len(data):
        raise ValueError("trailing bytes at %d" % end)
    return value


def bdecode(data):
    """Decode with dicts as plain dicts (last duplicate wins)."""
    return _plain(bdecode_ordered(data))


def _plain(v):
    if isinstance(v, _Pairs):
        return {k: _plain(x) for k, x in v}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


class _Pairs(list):
    pass


def _decode(data, i):
    c = data[i:i + 1]
    if c == b"i":
        end = data.index(b"e", i)
        text = data[i + 1:end]
        if text != b"0" and (text.startswith(b"0") or text.startswith(b"-0") or not text.lstrip(b"-").isdigit()):
            raise ValueError("bad int %r" % text)
        return int(text), end + 1
    if c == b"l":
        out, i = [], i + 1
        while data[i:i + 1] != b"e":
            v, i = _decode(data, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        out, i = _Pairs(), i + 1
        while data[i:i + 1] != b"e":
            k, i = _decode(data, i)
            if not isinstance(k, bytes):
                raise ValueError("dict key is not a string")
            v, i = _decode(data, i)
            out.append((k, v))
        return out, i + 1
    if c.isdigit():
        colon = data.index(b":", i)
        n = int(data[i:colon])
        start = colon + 1
        if start + n > len(data):
            raise ValueError("string runs past the end")
        return data[start:start + n], start + n
    raise ValueError("bad byte %r at %d" % (c, i))


def compact_peers(blob, size):
    """Split a compact peer string into (address bytes, port) pairs."""
    if len(blob) % size:
        raise ValueError("compact string of %d bytes is not a multiple of %d" % (len(blob), size))
    return [(blob[i:i + size - 2], struct.unpack(">H", blob[i + size - 2:i + size])[0])
            for i in range(0, len(blob), size)]


def udp_announce_reply(data):
    """(action, transaction_id, interval, leechers, seeders, peer blob)."""
    action, tid, interval, leechers, seeders = struct.unpack(">IIIII", data[:20])
    return action, tid, interval, leechers, seeders, data[20:]
