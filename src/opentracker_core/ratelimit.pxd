# tracker.rate_limit: a token bucket per client address for announces and
# scrapes, in a fixed table (docs/compatibility.md, "Additions").

from libc.stdint cimport uint8_t, uint32_t


cdef enum:
    OT_RATE_SLOTS = 8192          # table entries (power of two): 192 KiB on 64-bit
    OT_RATE_PROBES = 4            # slots looked at per address
    OT_RATE_ONE = 1024            # a request, in the buckets' fixed-point tokens


cdef struct ot_rate_entry:
    uint8_t addr[16]
    uint32_t seen                 # monotonic seconds of the last refill; 0 = free slot
    uint32_t tokens               # OT_RATE_ONE per request allowed


cdef struct ot_ratelimit:
    ot_lock lock                  # every worker takes from the same buckets
    ot_rate_entry *table          # NULL when the limit is off
    uint32_t per_minute           # requests per address per minute, also the burst


cdef enum:
    OT_MODEST_SLOTS = 1024        # clients remembered for tracker.modest_fullscrapes
    OT_MODEST_SECONDS = 300       # one full scrape per client per 5 minutes (the original's)


cdef struct ot_modest:
    ot_rate_entry *table          # NULL when modest full scrapes are off (tokens unused)
