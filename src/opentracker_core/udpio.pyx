# A worker's UDP batches: up to OT_UDP_BATCH datagrams a recvmmsg, each
# answered by udp_respond (udp.pyx) into the batch's reply buffers, the
# replies sent with one sendmmsg from the address each request came to.
# The buffers are the worker's fixed buffers (loop.pyx).

from libc.string cimport memset


cdef size_t udp_reply_source(msghdr *received, uint8_t *ctl) noexcept nogil:
    """A control message making the reply leave from the address the request
    was sent to, or 0 bytes when the request carried none. Without it a socket
    bound to every address answers from whatever address the route prefers,
    and a client on a router's second address drops the answer."""
    cdef cmsghdr *cm = CMSG_FIRSTHDR(received)
    cdef cmsghdr *out = <cmsghdr *>ctl
    cdef in_pktinfo *in4
    cdef in_pktinfo *out4
    cdef in6_pktinfo *in6
    cdef in6_pktinfo *out6
    while cm != NULL:
        if cm.cmsg_level == IPPROTO_IP and cm.cmsg_type == IP_PKTINFO:
            in4 = <in_pktinfo *>CMSG_DATA(cm)
            memset(ctl, 0, CMSG_SPACE(sizeof(in_pktinfo)))
            out.cmsg_level = IPPROTO_IP
            out.cmsg_type = IP_PKTINFO
            out.cmsg_len = CMSG_LEN(sizeof(in_pktinfo))
            out4 = <in_pktinfo *>CMSG_DATA(out)
            out4.ipi_spec_dst = in4.ipi_addr     # the address the client sent to
            return CMSG_SPACE(sizeof(in_pktinfo))
        if cm.cmsg_level == IPPROTO_IPV6 and cm.cmsg_type == IPV6_PKTINFO:
            in6 = <in6_pktinfo *>CMSG_DATA(cm)
            memset(ctl, 0, CMSG_SPACE(sizeof(in6_pktinfo)))
            out.cmsg_level = IPPROTO_IPV6
            out.cmsg_type = IPV6_PKTINFO
            out.cmsg_len = CMSG_LEN(sizeof(in6_pktinfo))
            out6 = <in6_pktinfo *>CMSG_DATA(out)
            out6.ipi6_addr = in6.ipi6_addr
            # A link-local source only means something on its own link.
            if in6.ipi6_addr.s6_addr[0] == 0xFE and (in6.ipi6_addr.s6_addr[1] & 0xC0) == 0x80:
                out6.ipi6_ifindex = in6.ipi6_ifindex
            return CMSG_SPACE(sizeof(in6_pktinfo))
        cm = CMSG_NXTHDR(received, cm)
    return 0


cdef void _udp_send(ot_worker *w, int32_t fd, int k) noexcept nogil:
    """Send the batch's k replies. A signal (SIGHUP's reload, the state
    hook's timer) that lands during sendmmsg interrupts it, before any
    reply or after some: the rest are sent again, not dropped. A reply the
    kernel refuses for its address is skipped, the others still go; a full
    send buffer ends the batch. What did not go is counted."""
    cdef int off = 0, sent
    while off < k:
        sent = sendmmsg(fd, w.udp_smsg + off, k - off, MSG_DONTWAIT)
        if sent > 0:
            off += sent
        elif sent < 0 and errno == EINTR:
            continue
        elif sent < 0 and errno != EAGAIN:    # (EWOULDBLOCK is EAGAIN on Linux)
            off += 1
            w.ctr.udp_send_failures += 1
        else:
            w.ctr.udp_send_failures += <uint64_t>(k - off)
            return


cdef void on_udp(ot_worker *w, int32_t fd) noexcept nogil:
    cdef int round, i, n, k, sent
    cdef uint16_t port
    cdef uint8_t addr16[16]
    cdef size_t r, ctl
    for round in range(OT_UDP_ROUNDS):
        for i in range(OT_UDP_BATCH):
            w.udp_rmsg[i].msg_hdr.msg_namelen = sizeof(sockaddr_in6)
            w.udp_rmsg[i].msg_hdr.msg_controllen = OT_UDP_CTL
            w.udp_rmsg[i].msg_hdr.msg_flags = 0
        n = recvmmsg(fd, w.udp_rmsg, OT_UDP_BATCH, MSG_DONTWAIT, NULL)
        if n < OT_UDP_BATCH:
            w.full_batches = 0            # the queue is empty now
            shed_calm(w)
            if n <= 0:
                return
        else:
            w.full_batches += 1
            if w.full_batches >= OT_SHED_STREAK and w.t.shedding:
                # Behind for a while: how long requests wait decides what this batch sheds.
                shed_observe(w, &w.udp_rmsg[n - 1].msg_hdr)
        k = 0
        for i in range(n):
            sockaddr_to_addr16(<sockaddr *>&w.udp_names[i], addr16, &port)
            r = udp_respond(w, w.udp_in + i * OT_UDP_IN_MAX, w.udp_rmsg[i].msg_len, addr16,
                            w.udp_out + k * OT_UDP_OUT_MAX)
            if r:
                w.udp_smsg[k].msg_hdr.msg_name = &w.udp_names[i]
                w.udp_smsg[k].msg_hdr.msg_namelen = w.udp_rmsg[i].msg_hdr.msg_namelen
                w.udp_siov[k].iov_len = r
                ctl = udp_reply_source(&w.udp_rmsg[i].msg_hdr, w.udp_sctl + k * OT_UDP_CTL)
                w.udp_smsg[k].msg_hdr.msg_control = (w.udp_sctl + k * OT_UDP_CTL) if ctl else NULL
                w.udp_smsg[k].msg_hdr.msg_controllen = ctl
                k += 1
        if w.t.worker_count > 1:
            counters_publish(w)           # before the replies leave (counters.pyx)
        _udp_send(w, fd, k)
        if n < OT_UDP_BATCH:
            return
