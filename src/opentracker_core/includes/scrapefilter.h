/* The kernel's side of shedding BEP 15 scrapes (docs/shedding.md, "In the
   kernel"): a classic BPF socket filter that drops scrape requests before
   they are queued, so a flood of them costs the loop nothing at all, not
   even the read. Classic BPF on a socket needs no privilege (unlike eBPF,
   which most distributions keep to root), and runs on every kernel the
   routers ship.

   On a UDP socket the program sees the datagram from its UDP header on
   (8 bytes), so the request's action, a big-endian word at byte 8 of the
   payload, is at 16. A datagram too short to hold connection id, action
   and transaction id (8 + 16 bytes) is let through: the loop answers it as
   it would without the filter. A load past the end would end the program
   with 0 (drop), hence the length check first. */
#ifndef OT_SCRAPEFILTER_H
#define OT_SCRAPEFILTER_H
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <linux/filter.h>

#ifndef SO_ATTACH_FILTER
#define SO_ATTACH_FILTER 26
#endif
#ifndef SO_DETACH_FILTER
#define SO_DETACH_FILTER 27
#endif
/* getsockopt(SO_MEMINFO): the socket's memory counters; the one read here
   is the count of datagrams the socket dropped, by a filter or a full
   queue (linux/sock_diag.h, Linux 4.6 and later). */
#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif
#define OT_SK_MEMINFO_DROPS 8
#define OT_SK_MEMINFO_VARS 9

#define OT_BEP15_SCRAPE 2
#define OT_UDP_HEADER 8

static const struct sock_filter ot_scrape_filter_code[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
    BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, OT_UDP_HEADER + 16, 0, 3),  /* short: keep */
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, OT_UDP_HEADER + 8),           /* the action */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, OT_BEP15_SCRAPE, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, 0),                                    /* a scrape: drop */
    BPF_STMT(BPF_RET | BPF_K, 0xFFFFFFFFu),                          /* all else: keep whole */
};

/* Attach (on) or take off (off) the scrape filter on a UDP socket; 0 or -1
   with errno. Taking off a filter that is not there is no error. */
static inline int ot_scrape_filter_set(int fd, int on) {
    struct sock_fprog prog;
    int unused = 0;
    if (!on) {
        if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof(unused)) < 0 && errno != ENOENT)
            return -1;
        return 0;
    }
    prog.len = (unsigned short)(sizeof(ot_scrape_filter_code) / sizeof(ot_scrape_filter_code[0]));
    prog.filter = (struct sock_filter *)ot_scrape_filter_code;
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
}

/* The socket's drop count (wraps at 2^32; callers take differences), or 0
   when the kernel cannot say. */
static inline uint32_t ot_socket_drops(int fd) {
    uint32_t mem[OT_SK_MEMINFO_VARS];
    socklen_t len = sizeof(mem);
    if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) < 0 || len < sizeof(mem))
        return 0;
    return mem[OT_SK_MEMINFO_DROPS];
}

#endif
