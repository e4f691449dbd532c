# The request-rate history behind the status page's chart (statuspage.pyx):
# announces and scrapes per protocol, one sample a minute for the last hour,
# in a fixed ring in the tracker's state (ot_tracker.status.hist; ot_history,
# status.pxd: 1,008 bytes on x86-64). Sampled from the loop's one-second
# tick, never per request, so an announce costs what it did.

from libc.stdint cimport UINT32_MAX


cdef inline void _history_counters(const ot_counters *k, uint64_t *v) noexcept nogil:
    v[0] = k.tcp_announces[0] + k.tcp_announces[1]
    v[1] = k.udp_announces[0] + k.udp_announces[1]
    v[2] = k.tcp_scrapes[0] + k.tcp_scrapes[1]
    v[3] = k.udp_scrapes[0] + k.udp_scrapes[1]


cdef void history_tick(ot_history *h, const ot_counters *k, int64_t mono) noexcept nogil:
    """Once a second (loop_tick): the first call starts the history (its
    first step counts from zero, so the requests before the loop's first
    tick are in it); a call a step or more after the last sample closes
    that step."""
    cdef uint64_t v[OT_HISTORY_SERIES]
    cdef uint64_t d
    cdef int i
    if h.step == 0:
        h.step = OT_HISTORY_STEP
    if h.last_at <= 0:
        h.last_at = mono if mono > 0 else 1
        return
    if mono - h.last_at < h.step:
        return
    _history_counters(k, v)
    for i in range(OT_HISTORY_SERIES):
        d = v[i] - h.last[i]
        if d > <uint64_t>UINT32_MAX:
            d = UINT32_MAX
        h.events[h.head][i] = <uint32_t>d
        h.last[i] = v[i]
    h.head = <uint16_t>((h.head + 1) % OT_HISTORY_SLOTS)
    if h.count < OT_HISTORY_SLOTS:
        h.count += 1
    # A loop held up for more than a step (a suspended machine): what came
    # meanwhile is one sample, and the next step starts now.
    h.last_at = h.last_at + h.step if mono - h.last_at < 2 * h.step else mono


cdef uint64_t history_partial(const ot_history *h, const ot_counters *k, int64_t mono, int series) noexcept nogil:
    """The events of the step in progress, scaled to a whole step (0 when
    it has just begun): the chart's newest point."""
    cdef uint64_t v[OT_HISTORY_SERIES]
    cdef int64_t elapsed = mono - h.last_at
    if h.last_at <= 0 or elapsed <= 0 or h.step == 0:
        return 0
    _history_counters(k, v)
    return (v[series] - h.last[series]) * h.step // <uint64_t>elapsed


cdef inline uint32_t history_at(const ot_history *h, int age, int series) noexcept nogil:
    """The sample `age` steps old (0: the newest completed one; age < count)."""
    return h.events[(h.head + OT_HISTORY_SLOTS - 1 - age) % OT_HISTORY_SLOTS][series]
