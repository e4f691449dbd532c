# Counters with several workers. Each loop counts into its own ot_counters
# (no sharing, no atomics on the request path). With more than one loop,
# each copies its counters into `published`, under its pub_lock, before an
# answer leaves (a UDP batch's replies, an HTTP answer): so once a client
# has its answer, whoever sums sees its request counted. The sum is worker
# w's own counters and every other worker's copy; worker 0 answers /stats,
# the status page and /metrics (route.pyx hands them to it).
# docs/architecture.md, "Worker loops".

from libc.string cimport memcpy


cdef inline void counters_publish(ot_worker *w) noexcept nogil:
    ot_lock_take(&w.pub_lock)
    memcpy(&w.published, &w.ctr, sizeof(ot_counters))
    ot_lock_give(&w.pub_lock)


cdef void counters_sum(const ot_worker *w, ot_counters *out) noexcept nogil:
    """Worker w's own counters (read in its thread) plus every other
    worker's last published copy. Every field is a uint64_t."""
    cdef uint64_t *o = <uint64_t *>out
    cdef const uint64_t *p
    cdef uint32_t k
    cdef size_t i
    cdef ot_worker *x
    memcpy(out, &w.ctr, sizeof(ot_counters))
    if w.t.workers == NULL:
        return                            # one loop
    for k in range(w.t.worker_count):
        x = w.t.workers[k]
        if x == w:
            continue
        ot_lock_take(&x.pub_lock)
        p = <const uint64_t *>&x.published
        for i in range(sizeof(ot_counters) // sizeof(uint64_t)):
            o[i] += p[i]
        ot_lock_give(&x.pub_lock)


cdef inline ot_counters *counters_summed(const ot_worker *w, ot_counters *out) noexcept nogil:
    counters_sum(w, out)
    return out


cdef uint64_t counters_udp_requests(ot_worker *x) noexcept nogil:
    """Another worker's UDP datagrams so far (both families), from its
    copy: its share on the status page."""
    cdef uint64_t n
    ot_lock_take(&x.pub_lock)
    n = x.published.udp_datagrams[0] + x.published.udp_datagrams[1]
    ot_lock_give(&x.pub_lock)
    return n
