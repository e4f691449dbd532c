# Streaming content codings for large answers: one call turns some input
# into as much output as fits the room given, so an answer is compressed a
# slice at a time into its blocks and never held whole (answers.pyx).

from libc.string cimport memcpy


cdef bint encoder_begin(ot_encoder *e, int kind) noexcept nogil:
    """Initialise for one answer; False when memory is short."""
    e.kind = <uint8_t>kind
    e.held = 0
    e.ready = 0
    if kind == ENC_GZIP:
        e.zs.zalloc = ot_zalloc
        e.zs.zfree = ot_zfree
        e.zs.opaque = &e.held
        # windowBits + 16: gzip framing.
        if deflateInit2(&e.zs, Z_BEST_SPEED, Z_DEFLATED, OT_GZIP_WINDOW_BITS + 16, OT_GZIP_MEM_LEVEL,
                        Z_DEFAULT_STRATEGY) != Z_OK:
            return False
    elif kind == ENC_ZSTD:
        e.zstd = ot_zstd_begin(&e.held)
        if e.zstd == NULL:
            return False
    e.ready = 1
    return True


cdef size_t encoder_state_max(int kind) noexcept nogil:
    """The most an encoder of this kind allocates: what an answer reserves."""
    if kind == ENC_GZIP:
        return OT_GZIP_STATE_MAX
    if kind == ENC_ZSTD:
        return ot_zstd_state_max()
    return 0


cdef int encoder_run(ot_encoder *e, const uint8_t **src, size_t *n, bint finish, uint8_t **dst,
                     size_t *room) noexcept nogil:
    """Encode from *src (*n bytes) into *dst (*room bytes), moving all four
    along. ENC_DONE once the input is taken (and with `finish`, the coding's
    end written); ENC_MORE_ROOM when the room ran out first."""
    cdef size_t k
    cdef int rc
    if e.kind == ENC_IDENTITY:
        k = n[0] if n[0] < room[0] else room[0]
        memcpy(dst[0], src[0], k)
        src[0] += k
        n[0] -= k
        dst[0] += k
        room[0] -= k
        return ENC_DONE if n[0] == 0 else ENC_MORE_ROOM
    if e.kind == ENC_ZSTD:
        return ot_zstd_run(e.zstd, src, n, finish, dst, room)
    e.zs.next_in = <Bytef *>src[0]
    e.zs.avail_in = <uInt>n[0]
    e.zs.next_out = dst[0]
    e.zs.avail_out = <uInt>room[0]
    rc = deflate(&e.zs, Z_FINISH if finish else Z_NO_FLUSH)
    src[0] = e.zs.next_in
    n[0] = e.zs.avail_in
    dst[0] = e.zs.next_out
    room[0] = e.zs.avail_out
    if rc != Z_OK and rc != Z_STREAM_END and rc != Z_BUF_ERROR:
        return ENC_ERROR
    if finish:
        return ENC_DONE if rc == Z_STREAM_END else ENC_MORE_ROOM
    return ENC_DONE if n[0] == 0 and room[0] != 0 else ENC_MORE_ROOM


cdef void encoder_end(ot_encoder *e) noexcept nogil:
    if not e.ready:
        return
    if e.kind == ENC_GZIP:
        deflateEnd(&e.zs)
    elif e.kind == ENC_ZSTD:
        ot_zstd_end(e.zstd)
    e.ready = 0
