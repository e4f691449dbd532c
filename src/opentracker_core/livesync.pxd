# Live sync (docs/compatibility.md, "Live sync"): nodes of a cluster multicast the peers
# they learn, in the C original's packet format, so our nodes and C nodes
# can share swarms.
#
# Packet: 4 bytes sender's tracker id (opaque; compared for equality only),
# 4 bytes type (big-endian; 0 = IPv4 records, 1 = IPv6 records), then
# records of info_hash(20) | address(4 or 16) | port(2) | flags(1) | age(1):
# 28 bytes for IPv4, 40 for IPv6.

from libc.stdint cimport uint8_t, uint64_t, int64_t
from opentracker_core.includes.system cimport sockaddr_in


cdef enum:
    OT_SYNC_HEADER = 8
    OT_SYNC_REC4 = 28
    OT_SYNC_REC6 = 40
    OT_SYNC_BUF = 1480            # one Ethernet-sized datagram: the most a receiver accepts
    OT_SYNC_MAX_AGE = 15          # seconds a non-empty buffer may wait (the default)
    OT_SYNC_RENEW_BOUNDARY = 10   # minutes: quicker re-announces are not sent on


cdef struct ot_livesync:
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
