# Counters with several workers. Each loop counts into its own ot_counters
# (no sharing, no atomics on the request path). A UDP worker copies what it
# counts into `published`, under its pub_lock, before each batch's replies
# leave: so once a client has its answer, whoever sums sees its request
# counted. Worker 0 (the Python thread's loop, which answers /stats, the
# status page and /metrics) sums its own counters and every worker's copy.
# docs/architecture.md, "Worker loops".

from libc.string cimport memcpy


cdef inline size_t _udp_words() noexcept nogil:
    # UDP workers count nothing from numwants on (HTTP only, the struct's
    # last field; every field is a uint64_t): what they publish stops there.
    return (sizeof(ot_counters) - (OT_NUMWANT_MAX + 1) * sizeof(uint64_t)) // sizeof(uint64_t)


cdef inline void counters_publish(ot_worker *w) noexcept nogil:
    ot_lock_take(&w.pub_lock)
    memcpy(&w.published, &w.ctr, _udp_words() * sizeof(uint64_t))
    ot_lock_give(&w.pub_lock)


cdef void counters_sum(const ot_worker *w, ot_counters *out) noexcept nogil:
    """Worker w's own counters (read in its thread) plus every UDP worker's
    last published copy."""
    cdef uint64_t *o = <uint64_t *>out
    cdef const uint64_t *p
    cdef uint32_t k
    cdef size_t i
    cdef ot_worker *x
    memcpy(out, &w.ctr, sizeof(ot_counters))
    for k in range(1, w.t.worker_count):
        x = w.t.workers[k]
        if x == w:
            continue
        ot_lock_take(&x.pub_lock)
        p = <const uint64_t *>&x.published
        for i in range(_udp_words()):
            o[i] += p[i]
        ot_lock_give(&x.pub_lock)


cdef inline ot_counters *counters_summed(const ot_worker *w, ot_counters *out) noexcept nogil:
    counters_sum(w, out)
    return out


cdef uint64_t counters_udp_requests(ot_worker *x) noexcept nogil:
    """A UDP worker's datagrams so far (both families), from its copy: its
    share on the status page."""
    cdef uint64_t n
    ot_lock_take(&x.pub_lock)
    n = x.published.udp_datagrams[0] + x.published.udp_datagrams[1]
    ot_lock_give(&x.pub_lock)
    return n
