# What the HTML status page (statuspage.pyx) keeps in the server: the
# request-rate history (history.pyx) and the listen addresses the Python
# shell hands over once at start (Server.set_listen_text).

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t


cdef enum:
    # One sample a minute, the last hour: announces and scrapes per protocol.
    OT_HISTORY_SLOTS = 60
    OT_HISTORY_STEP = 60
    OT_HISTORY_SERIES = 4      # HTTP announces, UDP announces, HTTP scrapes, UDP scrapes
    # The listen addresses as text (`tcp 0.0.0.0:6969, udp [::]:6969`), cut here.
    OT_LISTEN_TEXT_MAX = 512


cdef struct ot_history:
    # events[i][k]: series k's events during one step, in a ring: the newest
    # at head - 1, `count` of them (at most OT_HISTORY_SLOTS). 32 bits hold
    # 71 million events a second for a minute.
    uint32_t events[OT_HISTORY_SLOTS][OT_HISTORY_SERIES]
    uint64_t last[OT_HISTORY_SERIES]   # the counters at the last sample
    int64_t last_at                    # monotonic seconds of the last sample (0: not started)
    uint16_t head
    uint16_t count
    uint16_t step                      # seconds a sample covers (OT_HISTORY_STEP; tests shorten it)


cdef struct ot_status:
    ot_history hist
    uint16_t listen_len
    uint8_t listen[OT_LISTEN_TEXT_MAX]
