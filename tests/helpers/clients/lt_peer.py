#!/usr/bin/python3
"""A real BitTorrent client (libtorrent) for the end-to-end tests.

Runs under Debian's /usr/bin/python3 (python3-libtorrent imports only there),
always as a subprocess of the test, never imported by pytest.

    lt_peer.py make  --file PATH --tracker URL --out TORRENT
        Write a v1 torrent of one file whose only tracker is URL; print
        {"info_hash": "<40 hex>"} on stdout.

    lt_peer.py run --role seed|leech --torrent TORRENT --save DIR --listen ADDR
        Join the swarm as a seeder (DIR holds the file) or a leecher (DIR is
        empty). Peers can come only from the tracker: DHT, PEX, LSD, UPnP and
        NAT-PMP are off. Events go to stdout as one JSON object per line
        (flushed), a log of every alert to stderr. Runs until killed, until
        --lifetime seconds have passed, or until its parent goes away.

Events (key "ev"): listening {port}, checked {seed}, announce {n} (a
tracker_reply; "after_finish" true once the download is done), tracker_error
{msg}, tracker_warning {msg}, peer {ip, port} (an established connection),
finished {peers}, error {msg}.
"""

import argparse
import json
import os
import sys
import time

import libtorrent as lt


def emit(ev, **fields):
    fields["ev"] = ev
    fields["t"] = round(time.monotonic(), 3)
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def log(msg):
    sys.stderr.write("%.3f %s\n" % (time.monotonic(), msg))
    sys.stderr.flush()


def make(args):
    fs = lt.file_storage()
    lt.add_files(fs, args.file)
    ct = lt.create_torrent(fs, args.piece_size, flags=lt.create_torrent.v1_only)
    ct.add_tracker(args.tracker, 0)
    ct.set_creator("opentracker e2e test")
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(args.file)))
    data = lt.bencode(ct.generate())
    with open(args.out, "wb") as f:
        f.write(data)
    info = lt.torrent_info(args.out)
    emit("made", info_hash=str(info.info_hashes().v1), size=info.total_size(),
         pieces=info.num_pieces())


def session_settings(args):
    """Everything that differs from libtorrent's defaults, and why."""
    s = {
        # Bind to loopback only, any free port: the test never leaves the host.
        "listen_interfaces": "%s:0" % args.listen,
        # Peers may come from the tracker and nowhere else.
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        # Both clients share one address (127.0.0.1 or ::1) and differ only by
        # port. Without this libtorrent accepts one connection per IP: the
        # seeder's connection to itself (a tracker lists the requester in its
        # own answer) takes the slot for 127.0.0.1 and the leecher's incoming
        # connection is dropped, so nothing is ever transferred.
        "allow_multiple_connections_per_ip": True,
        # TCP only: one transport keeps the connection logs easy to read.
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        # Peers on 127.0.0.1/::1 are "local" and exempt from rate limits by
        # default; the seeder's limit below must apply to them.
        "ignore_limits_on_local_network": False,
        # The tracker is on loopback: libtorrent's SSRF mitigation allows that
        # only for the path /announce, which is what the tests use; keep it on
        # so a wrong path fails loudly instead of silently working.
        "ssrf_mitigation": True,
        # Fail fast on a tracker that does not answer; the test's waits are
        # bounded and a silent tracker should show up as a tracker_error.
        "tracker_receive_timeout": 5,
        "tracker_completion_timeout": 10,
        "stop_tracker_timeout": 1,
        "alert_mask": (lt.alert.category_t.error_notification
                       | lt.alert.category_t.status_notification
                       | lt.alert.category_t.tracker_notification
                       | lt.alert.category_t.connect_notification
                       | lt.alert.category_t.peer_notification
                       | lt.alert.category_t.storage_notification),
        "user_agent": "opentracker-e2e/%s libtorrent/%s" % (args.role, lt.__version__),
    }
    if args.upload_limit:
        s["upload_rate_limit"] = args.upload_limit
    return s


def run(args):
    # start_default_features without add_default_plugins: no ut_pex (and no
    # ut_metadata, smart_ban) extension is loaded, so PEX cannot happen at all.
    ses = lt.session(session_settings(args), lt.session_flags_t.start_default_features)
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(args.torrent)
    atp.save_path = args.save
    flags = atp.flags
    flags &= ~lt.torrent_flags.auto_managed  # start now, never queued
    flags &= ~lt.torrent_flags.paused
    flags |= lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd | lt.torrent_flags.disable_pex
    atp.flags = flags
    h = ses.add_torrent(atp)
    log("added %s role=%s listen=%s" % (atp.ti.info_hashes().v1, args.role, args.listen))

    parent = os.getppid()
    deadline = time.monotonic() + args.lifetime
    finished_at = None
    forced = 0
    seen_peers = set()
    last_announce = None

    while time.monotonic() < deadline:
        if os.getppid() != parent:
            log("parent went away; exiting")
            return 1
        if ses.wait_for_alert(250) is not None:
            for a in ses.pop_alerts():
                log("%s: %s" % (a.what(), a.message()))
                if isinstance(a, lt.listen_succeeded_alert):
                    if a.socket_type == lt.socket_type_t.tcp:
                        emit("listening", port=a.port, address=str(a.address))
                elif isinstance(a, lt.listen_failed_alert):
                    emit("error", msg="listen failed: " + a.message())
                elif isinstance(a, lt.torrent_checked_alert):
                    st = h.status()
                    emit("checked", seed=st.is_seeding, progress=st.progress)
                elif isinstance(a, lt.tracker_reply_alert):
                    last_announce = time.monotonic()
                    emit("announce", n=a.num_peers, url=a.tracker_url(),
                         after_finish=finished_at is not None)
                elif isinstance(a, lt.tracker_error_alert):
                    emit("tracker_error", msg=a.message(), url=a.tracker_url())
                elif isinstance(a, lt.tracker_warning_alert):
                    emit("tracker_warning", msg=a.message())
                elif isinstance(a, lt.torrent_finished_alert):
                    if args.role == "leech" and finished_at is None:
                        finished_at = time.monotonic()
                        emit("finished", peers=sorted(seen_peers))
                elif isinstance(a, (lt.torrent_error_alert, lt.file_error_alert)):
                    emit("error", msg=a.message())
        # Established connections (handshake done) and where they go.
        for p in h.get_peer_info():
            ip, port = p.ip
            key = "%s|%d" % (ip, port)
            if key not in seen_peers and not (p.flags & lt.peer_info.connecting) and \
                    not (p.flags & lt.peer_info.handshake):
                seen_peers.add(key)
                emit("peer", ip=ip, port=port, outgoing=bool(p.flags & lt.peer_info.local_connection),
                     from_tracker=bool(p.source & lt.peer_info.tracker))
        now = time.monotonic()
        # A leecher without a connection a while after its announce asks the
        # tracker again (the seeder may have announced later than it). The
        # flag is needed: force_reannounce otherwise still waits for the
        # tracker's "min interval" (15 minutes from opentracker).
        if args.role == "leech" and finished_at is None and not seen_peers and \
                last_announce is not None and now - last_announce > args.retry and forced < 10:
            forced += 1
            last_announce = now
            log("no peer yet: forced re-announce #%d" % forced)
            h.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)
        # event=completed is left to libtorrent, which sends it by itself when
        # the download ends (and retries it on failure): forcing another
        # announce here could report the completion twice.
    log("lifetime over; exiting")
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--file", required=True)
    m.add_argument("--tracker", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--piece-size", type=int, default=16384)
    r = sub.add_parser("run")
    r.add_argument("--role", choices=("seed", "leech"), required=True)
    r.add_argument("--torrent", required=True)
    r.add_argument("--save", required=True)
    r.add_argument("--listen", default="127.0.0.1")
    r.add_argument("--lifetime", type=float, default=240.0)
    r.add_argument("--retry", type=float, default=5.0)
    r.add_argument("--upload-limit", type=int, default=0, help="bytes/s, 0 = unlimited")
    args = ap.parse_args()
    if args.cmd == "make":
        make(args)
        return 0
    if ":" in args.listen and not args.listen.startswith("["):
        args.listen = "[%s]" % args.listen
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
