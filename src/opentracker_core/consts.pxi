# Tunables of the core. Values that clients or the C original can observe are
# the original's (docs/compatibility.md, "Timing and limits"); the rest are
# ours and say why.

cdef enum:
    OT_HASH_SIZE = 20
    # Room for an address as text and its NUL (INET6_ADDRSTRLEN is 46).
    OT_IP_TEXT_MAX = 64

    # Torrents live in 2^12 buckets picked by the top 12 bits of the info_hash,
    # each a vector sorted by hash, so walking the buckets in order visits the
    # torrents in ascending info_hash order (full scrape, statedump). The
    # original has 1024; 4096 keeps the memmove on insert short at 10^6
    # torrents and costs 48-64 KiB when empty.
    OT_BUCKET_BITS = 12
    OT_BUCKET_COUNT = 4096

    # Lock groups: one lock per 16 consecutive buckets, so a hash's group is
    # its first byte (docs/architecture.md, "The store with several
    # workers"). With 256, a take finds another worker there ~0.04 % of the
    # time with two workers and ~0.6 % with sixteen, in 16 KiB (a 64-byte
    # group each); the original's 1024 would take 64 KiB to save a fraction
    # of a percent no router sees.
    OT_GROUP_BITS = 8
    OT_GROUP_COUNT = 256
    OT_GROUP_SHIFT = 4            # OT_BUCKET_BITS - OT_GROUP_BITS

    # Address families. A peer record is the compact wire form followed by a
    # flags byte and an age byte (minutes), so building a reply is memcpy.
    OT_FAMILY_V4 = 0
    OT_FAMILY_V6 = 1
    OT_PEER4_KEY = 6              # ip4 + port: identity, sort key, wire form
    OT_PEER6_KEY = 18             # ip6 + port
    OT_PEER4_SIZE = 8
    OT_PEER6_SIZE = 20

    PEER_FLAG_SEEDING = 0x80
    PEER_FLAG_COMPLETED = 0x40
    PEER_FLAG_STOPPED = 0x20      # only in requests and live-sync records
    PEER_FLAG_FROM_SYNC = 0x10    # learned through live sync

    # Ageing, in minutes (docs/compatibility.md, "Ageing and expiry"). A
    # peer's timeout follows the interval it was last told: the low three
    # bits of its flags byte hold a timeout class c, whose timeout is
    # ceil(45 * (2 + c) / 2) minutes (store.pxd, ot_peer_timeout): class 0 is
    # the original's 45, class 6 is 180, class 7 (203) is the longest.
    OT_PEER_TIMEOUT = 45
    OT_PEER_TIMEOUT_MAX = 203
    PEER_CLASS_MASK = 0x07
    OT_TORRENT_TIMEOUT = 1440

    # Announce interval, nominal seconds (tracker.announce_interval; the
    # default is the original's). A client is told nominal - nominal/10 +
    # rand % (2 * (nominal/10)): 1620..1979 for 1800; min interval is half
    # of what it is told (HTTP only). tracker.adaptive_interval lengthens it
    # by half the base per step of swarm size and load (tracker.pyx), up to
    # the ceiling (docs/compatibility.md, "Adaptive announce intervals").
    OT_ANNOUNCE_INTERVAL = 1800
    OT_INTERVAL_MIN = 60
    OT_INTERVAL_CEILING = 7200
    OT_INTERVAL_STEPS_MAX = 6

    # Peers in one answer: HTTP numwant default and cap; UDP caps per family,
    # 66 IPv6 peers keep the datagram near 1200 bytes as current upstream does.
    OT_NUMWANT_DEFAULT = 50
    OT_NUMWANT_MAX = 200
    OT_UDP_PEERS_V4 = 200
    OT_UDP_PEERS_V6 = 66

    # Scrape caps: hashes answered per HTTP scrape and per UDP scrape packet.
    OT_MAXMULTISCRAPE = 64
    OT_UDP_SCRAPE_MAX = 75

    # Worst case of one announce body: the fixed part with 10-digit counters
    # is under 200 bytes, plus 200 peers of 18 bytes.
    OT_ANNOUNCE_BODY_MAX = 4096

# Status codes returned by store operations.
cdef enum:
    OT_OK = 0
    OT_REFUSED_MEMORY = 1     # tracker.memory_limit reached: no new torrent
    OT_NOMEM = 2              # malloc failed
    OT_REFUSED_ACCESS = 3     # the access list refuses the info_hash
