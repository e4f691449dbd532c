"""What the tests share and do not test themselves: the tracker under test as
a subprocess (trackerproc), the bencode and BEP 15 oracle (reference), network
namespaces (netns, stranger), in-process shell servers (shellserver), sliced
large answers (sliced), headless Chromium (statusbrowser) and the libtorrent
client driver (clients/lt_peer.py, run as a script).

Imported as `helpers.<module>` with tests/ on sys.path (pytest puts it there;
scripts outside pytest insert it themselves)."""
