# Peer selection: which of a swarm's peers an answer lists, and in what
# order (docs/compatibility.md, "Choosing peers"). Runs under the swarm's
# group lock (store.pxd), drawing from that group's RNG.

from libc.string cimport memcpy


cdef uint8_t *peers_write_all(uint8_t *out, ot_peervec *v, int family) noexcept nogil:
    """Write every peer's compact form: leechers from the front in list order,
    seeders from the back (so they end up in reverse order). Writes
    v.size * key-size bytes and returns the end."""
    cdef uint32_t ksize = ot_key_size(family), rsize = ot_rec_size(family), i
    cdef uint8_t *end = out + v.size * ksize
    cdef uint8_t *back = end
    cdef uint8_t *rec = ot_peervec_data(v)
    for i in range(v.size):
        if rec[ksize] & PEER_FLAG_SEEDING:
            back -= ksize
            memcpy(back, rec, ksize)
        else:
            memcpy(out, rec, ksize)
            out += ksize
        rec += rsize
    return end


cdef uint8_t *peers_write_selection(uint8_t *out, ot_peervec *v, int family, uint32_t amount,
                                    ot_rng *rng) noexcept nogil:
    """Write `amount` (< v.size) distinct peers, one from each of `amount`
    evenly sized slices of the list taken as a circle from a random start
    (docs/compatibility.md, "Choosing peers"), placed as in peers_write_all.
    Returns the end."""
    cdef uint32_t ksize = ot_key_size(family), rsize = ot_rec_size(family)
    cdef uint32_t count = v.size, shift = 0, offset, diff
    cdef uint64_t shifted = count, step
    cdef uint8_t *end = out + amount * ksize
    cdef uint8_t *back = end
    cdef uint8_t *data = ot_peervec_data(v)
    cdef uint8_t *rec
    # Fixed-point slice width with as much precision as 32-bit int allows.
    while not (shifted & (1 << 29)):
        shifted <<= 1
        shift += 1
    step = shifted // amount
    offset = rng_next(rng) % count
    while amount:
        amount -= 1
        diff = <uint32_t>((((amount + 1) * step) >> shift) - ((amount * step) >> shift))
        offset += 1 + rng_next(rng) % diff
        while offset >= count:
            offset -= count
        rec = data + offset * rsize
        if rec[ksize] & PEER_FLAG_SEEDING:
            back -= ksize
            memcpy(back, rec, ksize)
        else:
            memcpy(out, rec, ksize)
            out += ksize
    return end


cdef inline uint8_t *peers_write(uint8_t *out, ot_peervec *v, int family, uint32_t amount,
                                 ot_rng *rng) noexcept nogil:
    """Write min(amount, peers) peers of one family; returns the end."""
    if v == NULL or amount == 0:
        return out
    if amount >= v.size:
        return peers_write_all(out, v, family)
    return peers_write_selection(out, v, family, amount, rng)
