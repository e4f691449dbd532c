"""docs/status-page.png: the status page at 1280x800 after a few minutes of
traffic on loopback (python docs/make_status_screenshot.py [--minutes N])."""

import argparse
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from helpers.statusbrowser import chromium, make_traffic, run_chromium  # noqa: E402
from helpers.trackerproc import Tracker  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=int, default=5, help="minutes of traffic before the picture")
    ap.add_argument("--out", default=os.path.join(HERE, "status-page.png"))
    args = ap.parse_args()
    if chromium() is None:
        sys.exit("chromium is not installed (apt-get install chromium)")
    with Tracker(impl="ours", config=["tracker.memory_limit 4M"]) as tracker:
        end = time.monotonic() + 60 * args.minutes
        rounds = 0
        while True:
            # Uneven load, so the chart shows something.
            make_traffic(tracker, rounds=1, torrents=4 + rounds % 9)
            rounds += 1
            if time.monotonic() >= end:
                break
            time.sleep(0.5 + (rounds % 5) * 0.4)
        # Traffic goes on while the picture is taken, as on a live tracker.
        stop = threading.Event()

        def more():
            n = rounds
            while not stop.is_set():
                make_traffic(tracker, rounds=1, torrents=4 + n % 9)
                n += 1
                stop.wait(0.5 + (n % 5) * 0.4)

        worker = threading.Thread(target=more)
        worker.start()
        time.sleep(5)
        try:
            url = "http://127.0.0.1:%d/stats?mode=html" % tracker.port
            _, console, requests = run_chromium(url, "--window-size=1280,800", "--hide-scrollbars",
                                                "--screenshot=" + os.path.abspath(args.out))
        finally:
            stop.set()
            worker.join()
        print("console:", console, "requests:", requests)


if __name__ == "__main__":
    main()
