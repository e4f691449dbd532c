# Live sync (docs/compatibility.md, "Live sync"): nodes of a cluster multicast the peers
# they learn, in the C original's packet format, so our nodes and C nodes
# can share swarms.
#
# Packet: 4 bytes sender's tracker id (opaque; compared for equality only),
# 4 bytes type (big-endian; 0 = IPv4 records, 1 = IPv6 records), then
# records of info_hash(20) | address(4 or 16) | port(2) | flags(1) | age(1):
# 28 bytes for IPv4, 40 for IPv6.
#
# Keyed packets (livesync.cluster.key, docs/cluster-keys.md): type
# OT_SYNC_KEYED + family, an 8-byte sequence after the type (wall seconds
# in the top 32 bits, a count below; rising with every packet a sender
# sends), the same records, and last an 8-byte SipHash-2-4 tag over all the
# bytes before it. C nodes drop them as of an unknown type.

from libc.stdint cimport uint8_t, uint64_t, int64_t
from opentracker_core.includes.system cimport sockaddr_in


cdef enum:
    OT_SYNC_HEADER = 8
    OT_SYNC_REC4 = 28
    OT_SYNC_REC6 = 40
    OT_SYNC_BUF = 1480            # one Ethernet-sized datagram: the most a receiver accepts
    OT_SYNC_MAX_AGE = 15          # seconds a non-empty buffer may wait (the default)
    OT_SYNC_RENEW_BOUNDARY = 10   # minutes: quicker re-announces are not sent on
    OT_SYNC_KEYED = 0x6f740000    # keyed packets' type: this + family ("ot\0\0", "ot\0\1")
    OT_SYNC_KEYED_HEADER = 16     # id, type, sequence
    OT_SYNC_MAC = 8               # the SipHash-2-4 tag at the end
    OT_SYNC_SENDERS = 64          # keyed senders whose replay window is kept (the cluster's size)
    OT_SYNC_WINDOW = 64           # sequences below a sender's highest that are still taken, once
    OT_SYNC_FRESH = 300           # seconds a packet's time may be off our wall clock


# One keyed sender's replay window: the highest sequence taken and which of
# the OT_SYNC_WINDOW below it were taken. 32 bytes on every platform.
cdef struct ot_sync_sender:
    uint32_t id                   # the sender's tracker id (inside the MAC)
    uint32_t used                 # 0: a free slot
    int64_t heard                 # monotonic seconds of its last packet taken
    uint64_t top
    uint64_t seen                 # bit i: top - i was taken


cdef struct ot_livesync:
    ot_lock lock                  # the sending side: buffers, lengths, sequence, counts sent
    int in_fd                     # bound to the group port, joined to the group; -1: off
    int out_fd
    sockaddr_in group             # where packets go
    uint8_t buf4[OT_SYNC_BUF]
    uint8_t buf6[OT_SYNC_BUF]
    size_t len[2]
    int64_t flushed_at[2]         # monotonic seconds
    int64_t max_age               # seconds a non-empty buffer may wait
    uint64_t packets_sent
    uint64_t records_sent
    uint64_t packets_received
    uint64_t packets_ignored      # own, unblessed sender
    uint64_t packets_bad          # truncated, oversized, unknown type
    # keyed clusters (all zero without a key: the original's packets)
    size_t header                 # OT_SYNC_HEADER, or OT_SYNC_KEYED_HEADER with a key
    size_t room                   # bytes records may fill: OT_SYNC_BUF, less the tag with a key
    int keyed
    int accept_unsigned           # with a key, still take type 0 and 1 packets (migration)
    uint8_t key[2][16]            # [0] the key, [1] the one before it
    int64_t old_key_until         # monotonic seconds: key[1] is taken until this one ends
    uint64_t seq                  # the last sequence sent
    ot_sync_sender *senders       # OT_SYNC_SENDERS slots, with a key (in mem_other)
    uint64_t packets_bad_mac      # keyed type, tag wrong or missing
    uint64_t packets_replay       # tag right, sequence taken before, too old, or time off
    uint64_t packets_unsigned     # type 0 or 1 refused: a key is set, accept_unsigned off
