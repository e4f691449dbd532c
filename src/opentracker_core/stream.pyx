# Streaming a large answer to its readers: a connection's place in the
# answer's body (ot_reader, the only code that changes it), the header and
# the chunk framing, and the sends straight from the answer's blocks.
#
# What the answer holds and when a slice is made is answers.pyx's; what
# happens to the connection (watched, listed for the send deadline, closed)
# is conn.pyx's, told by the verdict stream_send returns. So this file
# neither closes nor watches sockets, and conn.pyx never touches a reader.
# docs/large-answers.md describes the whole path.

from libc.string cimport memset


cdef enum:
    # What stream_send leaves the connection to do (conn_stream acts on it).
    STREAM_NOT_BEGUN = 0      # too little made for a header yet: nothing to do
    STREAM_WAIT_SLICE = 1     # caught up with what is made: no deadline, not watched
    STREAM_WAIT_SOCKET = 2    # the socket is full: watch it, within the send deadline
    STREAM_OVER = 3           # the body went whole, or was cut off: close
    STREAM_REFUSED = 4        # failed before its first byte: answer 500 instead
    STREAM_VERDICT = 7        # the bits above
    STREAM_PROGRESS = 8       # or-ed in: bytes went (a new send deadline)

    # How a streamed answer's body is delimited (ot_reader.framing).
    FRAME_LENGTH = 0          # complete before its first byte went: Content-Length, as the original
    FRAME_CHUNKED = 1         # HTTP/1.1 client: chunked, so a cut-off answer shows
    FRAME_CLOSE = 2           # HTTP/1.0 client: until the connection closes

    OT_STREAM_IOV = 16            # pieces per send: the framing and up to 15 blocks
    OT_STREAM_SENDS = 64          # sends per call, at most: the socket fills long before
    # Bytes sent to readers of large answers per loop turn, at most (and
    # then the one send that crosses it): a few hundred microseconds of
    # copying, the longest an HTTP announce waits behind them.
    OT_TURN_STREAM_BYTES = 128 * 1024
    # Between those sends the UDP sockets are looked at every this many
    # bytes (an empty look is one recvmmsg), so a UDP announce waits behind
    # tens of microseconds of copying, not the turn's.
    OT_STREAM_UDP_POLL = 32 * 1024


# ---------------------------------------------------------------- joining and leaving

cdef void stream_attach(ot_worker *w, ot_answer *b, ot_conn *c, bint http11) noexcept nogil:
    """Make c a reader of b, from the body's first byte."""
    memset(&c.rd, 0, sizeof(ot_reader))
    c.rd.answer = b
    c.rd.rnext = b.reader
    c.rd.http11 = http11
    c.rd.blk = b.first if b.first_at == 0 else NULL
    b.reader = c.fd
    b.readers += 1
    c.state = OT_CONN_STREAMING


cdef void _frame_free(ot_worker *w, ot_reader *rd) noexcept nogil:
    if rd.frame == NULL:
        return
    ot_free(rd.frame)
    rd.frame = NULL
    store_charge_other(w.t.store, -<int64_t>OT_FRAME_ROOM)
    w.queued_held -= OT_FRAME_ROOM


cdef void stream_detach(ot_worker *w, ot_conn *c) noexcept nogil:
    """c stops reading its answer (done, or gone). The last reader of an
    answer that is not kept for sharing takes it with it."""
    cdef ot_answer *b = c.rd.answer
    cdef int32_t *pp
    _frame_free(w, &c.rd)
    if b == NULL:
        return
    pp = &b.reader
    while pp[0] >= 0:
        if pp[0] == c.fd:
            pp[0] = c.rd.rnext
            break
        pp = &w.conns[pp[0]].rd.rnext
    c.rd.rnext = -1
    c.rd.answer = NULL
    c.rd.blk = NULL
    b.readers -= 1
    if b.readers == 0:
        if not (b.shared and b.done and w.mono_ms < b.expires_ms):
            answer_drop(w, b)
        return
    answer_release(w, b)
    if answer_wants_slice(w, b):
        answer_line_push(w, b)


cdef void stream_socket(int32_t fd) noexcept nogil:
    """Cap the kernel's send buffer of a large answer's connection: the
    kernel would otherwise queue megabytes per reader (its autotuning goes
    to net.ipv4.tcp_wmem's maximum, 4 MiB), memory the router has not got,
    and would report room to write only after half of that drained, so a
    slow but steady reader would look stalled to the send deadline."""
    cdef int size = OT_STREAM_SNDBUF
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size))


# ---------------------------------------------------------------- header and framing

cdef uint8_t *stream_head(uint8_t *p, ot_reader *rd, const ot_answer *b) noexcept nogil:
    """The header of a streamed answer, written when its first byte goes;
    sets how its body is delimited (rd.framing). An answer already complete
    gets a Content-Length and `HTTP/1.0`, byte for byte the original's;
    one still being made is chunked for an HTTP/1.1 client and runs until
    the connection closes for an HTTP/1.0 one."""
    cdef int flags
    cdef const char *content_type = CONTENT_TEXT
    if b.ops != NULL and b.ops.content_type != NULL:
        content_type = b.ops.content_type
    flags = HEAD_GZIP if b.encoding == ENC_GZIP else (HEAD_ZSTD if b.encoding == ENC_ZSTD else 0)
    if b.done:
        rd.framing = FRAME_LENGTH
        flags |= HEAD_HTTP10
    elif rd.http11:
        rd.framing = FRAME_CHUNKED
        flags |= HEAD_CHUNKED
    else:
        rd.framing = FRAME_CLOSE
        flags |= HEAD_HTTP10 | HEAD_UNTIL_CLOSE
    return put_http_head(p, flags, content_type, <size_t>b.produced)


cdef void _reader_advance(ot_reader *rd) noexcept nogil:
    """Keep rd.blk on the block that holds rd.pos."""
    while rd.blk != NULL and rd.blk.next != NULL and rd.pos >= rd.blk_at + rd.blk.len:
        rd.blk_at += rd.blk.len
        rd.blk = rd.blk.next


cdef bint _stream_frame(ot_reader *rd, const ot_answer *b) noexcept nogil:
    """Frame what is ready: the next chunk's size line (chunked), or the
    last chunk once the body is complete. False when nothing is ready."""
    cdef uint64_t ready = b.produced - rd.pos
    cdef uint8_t *p = rd.frame
    if rd.framing != FRAME_CHUNKED:
        rd.chunk_left = <uint32_t>(ready if ready < (1u << 30) else (1u << 30))
        return ready != 0
    if ready == 0 and not (b.done and not b.failed and not rd.trailer):
        return False
    if rd.pos:
        p = put_raw(p, b"\r\n", 2)          # the end of the chunk before
    if ready:
        if ready > (1u << 30):
            ready = 1u << 30
        p = put_hex(p, ready)
        rd.chunk_left = <uint32_t>ready
    else:
        p = put_raw(p, b"0", 1)
        rd.trailer = 1
    p = put_raw(p, b"\r\n", 2)
    if rd.trailer:
        p = put_raw(p, b"\r\n", 2)
    rd.frame_pos = 0
    rd.frame_len = <uint16_t>(p - rd.frame)
    return True


cdef int _stream_begin(ot_worker *w, ot_reader *rd, const ot_answer *b) noexcept nogil:
    """Write the header once enough is made: the whole answer, or a
    window's worth (small answers go whole, with a Content-Length)."""
    if b.failed:
        return STREAM_REFUSED     # nothing went out yet: the original's answer when memory runs out
    if not b.done and b.produced < OT_STREAM_WINDOW:
        return STREAM_NOT_BEGUN
    if rd.frame == NULL:
        rd.frame = <uint8_t *>ot_malloc(OT_FRAME_ROOM)
        if rd.frame == NULL:
            return STREAM_OVER
        # Counted as an answer waiting in a send queue, which it is part of.
        store_charge_other(w.t.store, <int64_t>OT_FRAME_ROOM)
        w.queued_held += OT_FRAME_ROOM
    rd.frame_pos = 0
    rd.frame_len = <uint16_t>(stream_head(rd.frame, rd, b) - rd.frame)
    rd.head_sent = 1
    return STREAM_WAIT_SOCKET


# ---------------------------------------------------------------- sending

cdef int stream_send(ot_worker *w, ot_conn *c) noexcept nogil:
    """Send a reader of a large answer what is ready for it, as far as its
    socket takes it: header, chunk framing and body straight from the
    answer's blocks. Returns a STREAM_* verdict for the connection, with
    STREAM_PROGRESS when bytes went."""
    cdef ot_reader *rd = &c.rd
    cdef ot_answer *b = rd.answer
    cdef iovec iov[OT_STREAM_IOV]
    cdef msghdr msg
    cdef ot_block *blk
    cdef size_t want, take, off, left, sent
    cdef ssize_t wrote
    cdef int k, rounds, verdict, progress = 0
    if not rd.head_sent:
        verdict = _stream_begin(w, rd, b)
        if verdict != STREAM_WAIT_SOCKET:
            return verdict
    memset(&msg, 0, sizeof(msg))
    msg.msg_iov = iov
    for rounds in range(OT_STREAM_SENDS):
        if rd.frame_pos == rd.frame_len and rd.chunk_left == 0 and not _stream_frame(rd, b):
            if b.failed:
                return STREAM_OVER | progress     # cut off: a chunked body shows it, a gzip one too
            if b.done:
                answer_served(w, b)
                return STREAM_OVER | progress
            if answer_wants_slice(w, b):
                answer_line_push(w, b)
            return STREAM_WAIT_SLICE | progress
        k = 0
        want = 0
        if rd.frame_pos < rd.frame_len:
            iov[0].iov_base = rd.frame + rd.frame_pos
            iov[0].iov_len = rd.frame_len - rd.frame_pos
            want = iov[0].iov_len
            k = 1
        if rd.blk == NULL:
            rd.blk = b.first
            rd.blk_at = b.first_at
        _reader_advance(rd)
        blk = rd.blk
        off = <size_t>(rd.pos - rd.blk_at)
        left = rd.chunk_left
        while left and blk != NULL and k < OT_STREAM_IOV:
            take = blk.len - off
            if take > left:
                take = left
            iov[k].iov_base = block_data(blk) + off
            iov[k].iov_len = take
            k += 1
            want += take
            left -= take
            off = 0
            blk = blk.next
        msg.msg_iovlen = k
        wrote = sendmsg(c.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT)
        if wrote < 0:
            if errno == EAGAIN or errno == EINTR:
                return STREAM_WAIT_SOCKET | progress
            return STREAM_OVER | progress
        sent = <size_t>wrote
        w.turn_sent += sent
        if rd.frame_pos < rd.frame_len:
            take = rd.frame_len - rd.frame_pos
            if take > sent:
                take = sent
            rd.frame_pos += <uint16_t>take
            sent -= take
        rd.pos += sent
        rd.chunk_left -= <uint32_t>sent
        _reader_advance(rd)
        progress = STREAM_PROGRESS
        answer_release(w, b)
        if answer_wants_slice(w, b):
            answer_line_push(w, b)
        if <size_t>wrote < want:
            return STREAM_WAIT_SOCKET | progress
    return STREAM_WAIT_SOCKET | progress
