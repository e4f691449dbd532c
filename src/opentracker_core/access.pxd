# Access control: the info_hash list (whitelist or blacklist) and the
# networks blessed with permissions (stats, proxy, live sync).

from libc.stdint cimport uint8_t, uint32_t


cdef enum:
    OT_ACCESS_OPEN = 0        # no list configured: every hash may be announced
    OT_ACCESS_WHITE = 1       # only listed hashes (an unreadable list refuses everything)
    OT_ACCESS_BLACK = 2       # all but the listed hashes

    OT_PERM_STATS = 1
    OT_PERM_PROXY = 2
    OT_PERM_SYNC = 4
    OT_PERM_ALL = 7


cdef struct ot_hashlist:
    # Sorted, distinct 20-byte hashes in one block; replaced whole on reload.
    uint8_t *hashes
    size_t count


cdef struct ot_net:
    uint8_t addr[16]          # IPv6 form; IPv4 networks are IPv4-mapped
    uint8_t bits              # prefix length over the 16 bytes (IPv4 /n is 96 + n)
    uint8_t perms


cdef struct ot_access:
    int mode
    ot_hashlist list
    ot_hashlist added         # access.fifo_add since the last reload
    ot_hashlist deleted       # access.fifo_delete since the last reload
    ot_net *nets
    size_t net_count
