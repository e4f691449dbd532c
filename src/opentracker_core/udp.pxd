# BEP 15 packet layout (docs/compatibility.md, "UDP (BEP 15)"): offsets
# into requests, named once.

cdef enum:
    # Every request: connection id | action | transaction id.
    BEP15_CONNECTION_ID = 0
    BEP15_ACTION = 8
    BEP15_TRANSACTION_ID = 12
    BEP15_HEADER = 16

    BEP15_CONNECT = 0
    BEP15_ANNOUNCE = 1
    BEP15_SCRAPE = 2
    BEP15_ERROR = 3

    # Announce request fields.
    BEP15_INFO_HASH = 16
    BEP15_PEER_ID = 36
    BEP15_DOWNLOADED = 56
    BEP15_LEFT = 64
    BEP15_UPLOADED = 72
    BEP15_EVENT = 80
    BEP15_IP = 84                 # ignored: the source address is the peer
    BEP15_KEY = 88
    BEP15_NUMWANT = 92
    BEP15_PORT = 96
    BEP15_ANNOUNCE_SIZE = 98

    BEP15_EVENT_COMPLETED = 1
    BEP15_EVENT_STOPPED = 3

    # Scrape request: hashes from here on.
    BEP15_SCRAPE_HASHES = 16

    # Replies: action | transaction id, then the body.
    BEP15_REPLY_HEADER = 8
    BEP15_CONNECT_REPLY = 16
    BEP15_SCRAPE_ENTRY = 12
