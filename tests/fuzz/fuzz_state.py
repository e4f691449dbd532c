"""Fuzz the state-file loader (docs/compatibility.md, the state file) and the
state dump it reads.

Input: a selector byte, then the bytes of a state file.
  bits 0-1  access: open, white list (H[0..2], H[4]), black list (H[1]), or
            open under a tight memory budget (common.new_server)
  bit 2     start from a populated store (common.populate_swarms) rather than
            an empty one

state.load must never raise for any content. Its report accounts for every
non-empty line exactly once (loaded, repeated, refused, bad); what it loaded
is what the first valid line of each new, allowed hash says; nothing else in
the store changed; and the store's statedump, loaded into a fresh server,
gives the same torrents back (a round trip). The core gives back every block.

    python tests/fuzz/fuzz_state.py -max_total_time=600
"""

import atexit
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

with common.instrumented(__name__):
    from opentracker import state

core = common.core
TMP = tempfile.mkdtemp(prefix="ot-fuzz-state-")
atexit.register(shutil.rmtree, TMP, True)
PATH = os.path.join(TMP, "state")
LINE = re.compile(rb"([0-9A-Fa-f]{40}):([0-9]+):([0-9]+)")


def load(srv, data):
    with open(PATH, "wb") as f:
        f.write(data)
    return state.load(srv, PATH)


def model(data, allows, known):
    """What loading must do: {hash: (base, downloaded)} newly loaded, and
    the (loaded, duplicates, refused, bad) counts."""
    loaded = {}
    duplicates = refused = bad = 0
    for line in data.split(b"\n"):
        line = line.rstrip(b"\r")
        if not line:
            continue
        m = LINE.fullmatch(line)
        if (m is None or len(m.group(2)) > 10 or len(m.group(3)) > 10
                or int(m.group(2)) >= 2**32 or int(m.group(3)) >= 2**32):
            bad += 1
            continue
        h = bytes.fromhex(m.group(1).decode())
        if not allows(h):
            refused += 1
        elif h in known or h in loaded:
            duplicates += 1
        else:
            loaded[h] = (int(m.group(2)), int(m.group(3)))
    return loaded, (len(loaded), duplicates, refused, bad)


def one_input(data):
    if not data:
        return
    setup = data[0] & 3
    body = data[1:]
    with common.no_leaks():
        srv = common.new_server(setup, populate=bool(data[0] & 4))
        before = {t[0]: t for t in srv.store.torrents()}
        loaded, counts = model(body, srv.allows, before)
        report = load(srv, body)
        got = (report.loaded, report.duplicates, report.refused, report.bad)
        after = {t[0]: t for t in srv.store.torrents()}
        if common.limited(setup):
            # Under tracker.memory_limit some torrents may not fit: what was
            # restored is a part of what the file asks for, and said so.
            assert set(before) <= set(after) <= set(before) | set(loaded), "torrents appeared or vanished"
            assert report.loaded == len(after) - len(before), (report.loaded, len(after), len(before))
            # Every line that would have loaded either did, or is counted as
            # over the budget (a repeat of one that did not fit is retried).
            over = getattr(report, "over_budget", 0)
            assert (report.refused, report.bad) == counts[2:], (got, counts)
            assert report.loaded + over + report.duplicates == counts[0] + counts[1], (got, over, counts)
        else:
            assert got == counts, (got, counts)
            assert set(after) == set(before) | set(loaded), "torrents appeared or vanished"
        assert len(report.first_bad) == min(report.bad, 5)
        assert isinstance(report.describe("state"), str)
        for h, t in after.items():
            if h in loaded and h not in before:
                # A restored torrent: peerless, downloaded and base as written.
                assert t[1:] == (0, 0, loaded[h][1], loaded[h][0]), (t, loaded[h])
            else:
                assert t == before[h], (t, before[h])
        common.check_store(srv.store)
        dump, count = srv.store.statedump()
        assert count == len(after)
        again = core.Server(seed=2)
        report = load(again, dump)
        assert (report.loaded, report.bad) == (count, 0)
        assert [t[0] for t in again.store.torrents()] == sorted(after)
        assert again.store.statedump() == (dump, count), "a state dump does not load back as itself"
        del again, srv


# ---------------------------------------------------------------- grammar (hypothesis)

def inputs():
    """Hypothesis strategy: state files of valid, repeated, refused and
    broken lines (numbers at 2**32, missing fields, bad hex), raw bytes,
    mutated seed files."""
    from hypothesis import strategies as st

    hashes = st.one_of(st.sampled_from(common.H).map(lambda h: h.hex()), st.binary(min_size=20, max_size=20)
                       .map(lambda b: b.hex()), st.binary(min_size=20, max_size=20).map(lambda b: b.hex().upper()))
    number = st.one_of(st.integers(0, 2**32 + 5).map(str),
                       st.sampled_from(["", "0", "4294967295", "4294967296", "00000000001", "-1", "1e3", " 1"]))
    good = st.builds(lambda h, b, d: "%s:%s:%s" % (h, b, d), hashes, number, number)
    line = st.one_of(good, good, good,
                     st.builds(lambda h, cut: h[:cut], good, st.integers(0, 60)),
                     st.sampled_from(["", "\r", "#comment", "x" * 40 + ":1:1", "A" * 41 + ":1:1"]),
                     st.text(max_size=30))
    text = st.builds(lambda lines, crlf: ("\r\n" if crlf else "\n").join(lines).encode("utf-8", "surrogateescape"),
                     st.lists(line, max_size=25), st.booleans())
    return st.one_of(st.builds(lambda s, t: bytes([s]) + t, st.integers(0, 255), text),
                     st.builds(lambda s, t: bytes([s]) + t, st.integers(0, 255), text),
                     st.binary(max_size=200), common.mutated(common.seeds("state")))


if __name__ == "__main__":
    common.main(one_input, "state")
