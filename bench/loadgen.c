/*
 * loadgen.c: the load generator of bench/announce_storm.py (issue 6).
 *
 * One process, one thread, one epoll loop; it is meant to be pinned to its own CPU.
 * Traffic goes to 127.0.0.1 only, from source addresses in 127.0.0.0/8.
 *
 *   loadgen hashes   --torrents T [--seed N] [--out FILE]
 *       the benchmark's info_hashes as 40 lowercase hex digits a line (a whitelist)
 *   loadgen populate --udp-port PORT --torrents T --peers P [options]
 *       announce every peer once over UDP (event=started, numwant=0)
 *   loadgen run      --proto udp|http|none --udp-port PORT --tcp-port PORT --duration S [options]
 *       re-announce existing peers (mix of none/started/completed/stopped) and scrape,
 *       for a fixed duration, optionally paced (--rate), open loop (--open-loop) and
 *       optionally with full-scrape slow readers (--fs-readers) or a full-scrape flood
 *       (--fullscrape-rate / --fullscrape-conns) on the TCP port; --proto none: full scrapes only
 *
 * Options (run; populate takes the first block):
 *   --torrents T --peers P --seed N   the population (hashes from the seed)
 *   --host A (127.0.0.1; must be in 127/8) --udp-port N --tcp-port N
 *   --sockets S (32)      UDP sockets = source addresses
 *   --window W (128)      UDP requests in flight at most (closed loop), split over the sockets
 *   --timeout S (1)       a request not answered in S is lost (transport error "timeout")
 *   --max-seconds S (900) populate's bound
 *   --duration S (10)     run: generating time; in-flight requests get min(timeout, 2 s) more
 *   --rate R (0)          requests/s (0: as fast as the window allows); without --open-loop a
 *                         sender that fell behind catches up, and never beyond the window
 *   --open-loop 0|1       with --rate, UDP: requests leave at R whatever comes back (below)
 *   --delay S (0)         run: after the BEP 15 connects wait S before the first request
 *   --http-conns C (64)   HTTP: connections at once, one request each
 *   --numwant N (50)      --mix s,c,x,q (2,5,2,5): % started, completed, stopped, scrape
 *   --scrape-hashes N (8) a scrape asks 1..N random hashes (N <= 74); --scrape-exact 1: N each
 *   --rx-stamp 0|1        UDP latency from kernel receive stamps (below)
 *   --fifo PRIO (0)       run under SCHED_FIFO at PRIO (1..99), where allowed (below)
 *   --fs-readers N --fs-chunk B (4096) --fs-interval-ms MS (5) --fs-rcvbuf B (16384)
 *                         full-scrape slow readers (below)
 *   --fullscrape-rate R (0) --fullscrape-conns C (0; 64 with a rate) --fullscrape-timeout S (5)
 *   --fullscrape-check N (1)  the full-scrape flood (below)
 *
 * Peers.  Peer p (0 <= p < P) belongs to torrent t = p % T; k = p / T is its index in the
 * torrent.  It announces from source address number s = (k + t) % S (S = --sockets; the
 * address is 127.(1+i/64000).(i/250%256).(i%250+2) for i = s) with port 1025 + k / S, so
 * (address, port) is unique inside a torrent, as the tracker's peer identity requires.
 * Every third peer of a torrent is a seeder (left = 0).
 *
 * UDP.  S sockets, each bound to its own source address and connect()ed to the server.
 * Each socket does BEP 15 connect once and reuses its connection id.  The in-flight
 * window W (--window) is split evenly over the sockets; requests for one socket are sent
 * with one sendmmsg per loop round, replies read with recvmmsg.  The transaction id holds
 * the request's slot (low 16 bits) and a generation (high 16 bits), so every reply is
 * matched to its request.
 *
 * HTTP.  --http-conns concurrent connections; each one sends one request (bound to the
 * announcing peer's source address, IP_BIND_ADDRESS_NO_PORT) and reads the reply until the
 * server closes the connection (HTTP/1.0; the tracker closes after every reply).
 *
 * Latency (--rx-stamp 1, UDP only): a reply's time is the kernel's receive timestamp and a
 * request's the moment before sendmmsg, so what another process on this CPU costs us in
 * scheduling delay does not count as the server's latency.
 *
 * Open loop (--open-loop 1, with --rate): the in-flight table is sized for every request that
 * can be pending, rate x (timeout + 0.3 s) x 1.25 over the sockets (at most 65535 a socket), and
 * a request that still finds no free slot (or only sockets without a connection id) is counted
 * as skipped ("open_loop.skipped") and never sent late, so the offered rate does not bend to the
 * server's. Requests go out in batches at most every 0.1 ms (epoll_pwait2 sleeps in between, so
 * several generators can share one CPU). Lost requests are counted per kind ("lost").
 *
 * Scheduling (--fifo PRIO): the overload scenario runs the paced announcer on the CPU of the
 * flood's senders. Real clients do not share a core with a flood, so the announcer may ask for
 * SCHED_FIFO: it then runs whenever it has a send due or a reply to read, and the flood's
 * senders take only what it leaves. Refused (not root, no CAP_SYS_NICE), it runs as before and
 * says so ("scheduling"). Its loop still sleeps at least 0.1 ms a turn, and the kernel keeps 5 %
 * of every second for other tasks (sched_rt_runtime_us), so it cannot lock the CPU.
 *
 * Where a UDP request was lost (issue 25): "udp_socket_drops" is what the kernel dropped at
 * this process's own sockets (SO_MEMINFO), replies that reached this host but found the
 * receive buffer full; a reply whose (receive-stamped) time is past --timeout counts as lost
 * even when read, and before each sweep for timed-out requests the sockets are read, so a
 * reply that arrived in time while this process waited for the CPU is not taken for a loss.
 *
 * Shed answers (issue 25) are not validation errors: a UDP action 3 error packet whose message
 * is "overloaded" counts in "shed" (udp_announce, udp_scrape, udp_connect); an HTTP 503 counts
 * in shed.http, and in shed.http_retry_after when it has a Retry-After header.
 *
 * Full-scrape flood (--fullscrape-rate R, --fullscrape-conns C): each connection sends
 * `GET /scrape HTTP/1.0` and reads to the close. With R, one new connection every 1/R s
 * whatever is open, at most C at once (a start due beyond that is counted as skipped);
 * without R, C connections back to back (closed loop). Counted: 200 (body checked whole:
 * every --fullscrape-check'th one by fscheck.h, the others only Content-Length = bytes, their
 * bodies discarded in the kernel with MSG_TRUNC), 503 (and with Retry-After), other status,
 * bad body, refused, reset, timeout (--fullscrape-timeout), skipped, unfinished at the end.
 *
 * Full-scrape slow readers (--fs-readers N): N connections each send `GET /scrape HTTP/1.0`
 * (no query: the full scrape), with SO_RCVBUF --fs-rcvbuf, and read --fs-chunk bytes every
 * --fs-interval-ms; starts are staggered by 250 ms, and a reader starts its next full scrape
 * when one ends, at most once a second.
 *
 * Validation (a reply arrived and is wrong: "validation" errors):
 *   UDP: length >= 8; action = the request's (1 announce, 2 scrape, 0 connect), an action 3
 *   error packet (but "overloaded": shed) or an 8-byte announce answer (refused by the access
 *   list) is an error;
 *   transaction id = one in flight; announce: length = 20 + 6n, n <= numwant, for a non-stop
 *   seeders + leechers >= 1 and n <= seeders + leechers, for a stop length = 20, every peer
 *   in 127.0.0.0/8, interval > 0; scrape: length = 8 + 12 * hashes; connect: length >= 16.
 *   HTTP: status line "HTTP/1.x 200" (a 503 is shed, not an error), header ends with CRLF CRLF, Content-Length present
 *   and equal to the body's length, body one well-formed bencoded dict; announce: no
 *   "failure reason", keys complete, incomplete, interval and peers (a string of 6n
 *   bytes, n <= numwant, peers in 127/8); scrape: key files, a dict of 20-byte keys whose
 *   values hold complete, downloaded and incomplete, at most as many as asked.
 *   Full scrape: status 200, Content-Length (when sent; else the body ends with the
 *   connection) = bytes received, body d5:filesd ... ee with 20-byte keys and the three
 *   integers each, at most --torrents entries (fscheck.h, streaming).
 * Transport errors (no usable reply: timeouts, late replies, refused or reset connections)
 * are counted apart.
 *
 * Output: one JSON object on stdout (latency_us: percentiles, and each histogram's nonzero
 * buckets as [microseconds, count], ~3 % wide, so that runs can be pooled).  Exit status 0,
 * or 2 when no UDP socket could connect.
 * Every loop is bounded by the clock: run stops generating at --duration and gives
 * in-flight requests at most min(--timeout, 2 s) more; populate stops at --max-seconds.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <linux/sock_diag.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fscheck.h"

/* BEP 15's limit: 16 + 20 * 74 = 1496 bytes, a scrape that fits a 1500-byte MTU */
#define MAX_SCRAPE 74

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* ------------------------------------------------------------------ options */

static struct {
    const char *mode;
    const char *proto;
    const char *out;
    char host[64];
    int udp_port, tcp_port;
    uint64_t torrents, peers, seed;
    int sockets, window, http_conns, numwant, scrape_hashes;
    double duration, rate, timeout, max_seconds;
    int mix_started, mix_completed, mix_stopped, mix_scrape;
    int fs_readers, fs_chunk, fs_interval_ms, fs_rcvbuf;
    int rx_stamp, open_loop, scrape_exact;
    double fsc_rate, fsc_timeout, delay;
    int fsc_conns, fsc_check, fifo;
} O = {
    .proto = "udp", .host = "127.0.0.1", .torrents = 1000, .peers = 10000, .seed = 1,
    .sockets = 32, .window = 128, .http_conns = 64, .numwant = 50, .scrape_hashes = 8,
    .duration = 10, .rate = 0, .timeout = 1.0, .max_seconds = 900,
    .mix_started = 2, .mix_completed = 5, .mix_stopped = 2, .mix_scrape = 5,
    .fs_readers = 0, .fs_chunk = 4096, .fs_interval_ms = 5, .fs_rcvbuf = 16384,
    .fsc_rate = 0, .fsc_timeout = 5.0, .fsc_conns = 0, .fsc_check = 1,
};

static void die(const char *msg) {
    fprintf(stderr, "loadgen: %s\n", msg);
    exit(1);
}

static void usage(void) {
    fprintf(stderr,
            "usage: loadgen hashes|populate|run [--torrents T] [--peers P] [--seed N] [--out FILE]\n"
            "  [--host 127.0.0.1] [--udp-port N] [--tcp-port N] [--proto udp|http] [--duration S]\n"
            "  [--rate R] [--timeout S] [--max-seconds S] [--sockets S] [--window W] [--http-conns C]\n"
            "  [--numwant N] [--mix started,completed,stopped,scrape] [--scrape-hashes N]\n"
            "  [--fs-readers N] [--fs-chunk B] [--fs-interval-ms MS] [--fs-rcvbuf B] [--rx-stamp 0|1]\n"
            "  [--open-loop 0|1] [--scrape-exact 0|1] [--fullscrape-rate R] [--fullscrape-conns C]\n"
            "  [--fullscrape-timeout S] [--fullscrape-check N] [--delay S]   (--proto none: full scrapes only)\n");
    exit(1);
}

static void parse_args(int argc, char **argv) {
    if (argc < 2) usage();
    O.mode = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i];
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (!strcmp(k, "--torrents")) O.torrents = strtoull(v, 0, 10);
        else if (!strcmp(k, "--peers")) O.peers = strtoull(v, 0, 10);
        else if (!strcmp(k, "--seed")) O.seed = strtoull(v, 0, 10);
        else if (!strcmp(k, "--out")) O.out = v;
        else if (!strcmp(k, "--host")) snprintf(O.host, sizeof O.host, "%s", v);
        else if (!strcmp(k, "--udp-port")) O.udp_port = atoi(v);
        else if (!strcmp(k, "--tcp-port")) O.tcp_port = atoi(v);
        else if (!strcmp(k, "--proto")) O.proto = v;
        else if (!strcmp(k, "--duration")) O.duration = atof(v);
        else if (!strcmp(k, "--rate")) O.rate = atof(v);
        else if (!strcmp(k, "--timeout")) O.timeout = atof(v);
        else if (!strcmp(k, "--max-seconds")) O.max_seconds = atof(v);
        else if (!strcmp(k, "--sockets")) O.sockets = atoi(v);
        else if (!strcmp(k, "--window")) O.window = atoi(v);
        else if (!strcmp(k, "--http-conns")) O.http_conns = atoi(v);
        else if (!strcmp(k, "--numwant")) O.numwant = atoi(v);
        else if (!strcmp(k, "--scrape-hashes")) O.scrape_hashes = atoi(v);
        else if (!strcmp(k, "--mix")) {
            if (sscanf(v, "%d,%d,%d,%d", &O.mix_started, &O.mix_completed, &O.mix_stopped,
                       &O.mix_scrape) != 4)
                usage();
        } else if (!strcmp(k, "--fs-readers")) O.fs_readers = atoi(v);
        else if (!strcmp(k, "--fs-chunk")) O.fs_chunk = atoi(v);
        else if (!strcmp(k, "--fs-interval-ms")) O.fs_interval_ms = atoi(v);
        else if (!strcmp(k, "--fs-rcvbuf")) O.fs_rcvbuf = atoi(v);
        else if (!strcmp(k, "--rx-stamp")) O.rx_stamp = atoi(v);
        else if (!strcmp(k, "--open-loop")) O.open_loop = atoi(v);
        else if (!strcmp(k, "--scrape-exact")) O.scrape_exact = atoi(v);
        else if (!strcmp(k, "--fullscrape-rate")) O.fsc_rate = atof(v);
        else if (!strcmp(k, "--fullscrape-conns")) O.fsc_conns = atoi(v);
        else if (!strcmp(k, "--fullscrape-timeout")) O.fsc_timeout = atof(v);
        else if (!strcmp(k, "--fullscrape-check")) O.fsc_check = atoi(v);
        else if (!strcmp(k, "--delay")) O.delay = atof(v);
        else if (!strcmp(k, "--fifo")) O.fifo = atoi(v);
        else usage();
    }
    if (O.torrents < 1 || O.torrents > 100000000ULL) die("--torrents out of range");
    if (O.peers > 4000000000ULL) die("--peers out of range");
    if (O.sockets < 1 || O.sockets > 16000) die("--sockets out of range (1..16000)");
    if (O.window < O.sockets) O.window = O.sockets;
    if (O.open_loop && O.rate <= 0) die("--open-loop needs --rate");
    if (O.open_loop) { /* see "Open loop" above: room for every request that can be pending */
        double per = O.rate * (O.timeout + 0.3) * 1.25 / O.sockets + 8;
        if (per > 65535) die("--open-loop: --rate x --timeout too large for --sockets (65535 a socket)");
        O.window = (int)per * O.sockets;
    } else if (O.window / O.sockets > 4096) die("--window too large");
    if (O.http_conns < 0 || O.http_conns > 20000) die("--http-conns out of range");
    if (O.numwant < 0 || O.numwant > 200) die("--numwant out of range (0..200)");
    if (O.scrape_hashes < 1 || O.scrape_hashes > MAX_SCRAPE) die("--scrape-hashes out of range (1..74)");
    if (O.fsc_rate < 0 || O.fsc_rate > 100000) die("--fullscrape-rate out of range");
    if (O.fsc_conns < 0 || O.fsc_conns > 4096) die("--fullscrape-conns out of range (0..4096)");
    if (O.fsc_rate > 0 && O.fsc_conns == 0) O.fsc_conns = 64;
    if (O.fsc_timeout <= 0 || O.fsc_timeout > 600) die("--fullscrape-timeout out of range");
    if (O.fsc_check < 1) die("--fullscrape-check must be at least 1");
    if (O.delay < 0 || O.delay > 600) die("--delay out of range");
    if (O.fifo < 0 || O.fifo > 99) die("--fifo out of range (0: off, 1..99)");
    if (O.fs_readers < 0 || O.fs_readers > 256) die("--fs-readers out of range");
    if (O.fs_chunk < 1 || O.fs_chunk > 65536) die("--fs-chunk out of range");
    if (O.fs_interval_ms < 0 || O.fs_interval_ms > 10000) die("--fs-interval-ms out of range");
    if (O.duration < 0 || O.duration > 3600) die("--duration out of range");
    if (O.timeout <= 0 || O.timeout > 60) die("--timeout out of range");
    if (O.max_seconds <= 0 || O.max_seconds > 7200) die("--max-seconds out of range");
    if (O.mix_started < 0 || O.mix_completed < 0 || O.mix_stopped < 0 || O.mix_scrape < 0 ||
        O.mix_started + O.mix_completed + O.mix_stopped + O.mix_scrape > 100)
        die("--mix: four percentages adding up to at most 100");
}

/* ------------------------------------------------------------------ helpers */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t rng = 88172645463325252ULL;
static inline uint64_t rnd(void) { /* xorshift64* */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ULL;
}
static inline uint64_t rnd_below(uint64_t n) { return n ? (rnd() >> 11) % n : 0; }

static inline void put16(uint8_t *b, uint16_t v) { b[0] = v >> 8; b[1] = v; }
static inline void put32(uint8_t *b, uint32_t v) { b[0] = v >> 24; b[1] = v >> 16; b[2] = v >> 8; b[3] = v; }
static inline void put64(uint8_t *b, uint64_t v) { put32(b, v >> 32); put32(b + 4, (uint32_t)v); }
static inline uint32_t get32(const uint8_t *b) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint8_t *hashes; /* torrents x 20 bytes */

static void make_hashes(void) {
    hashes = malloc(O.torrents * 20);
    if (!hashes) die("out of memory");
    for (uint64_t i = 0; i < O.torrents; i++) {
        uint64_t x = (O.seed << 40) ^ i, w[3];
        for (int j = 0; j < 3; j++) w[j] = splitmix64(&x);
        memcpy(hashes + i * 20, w, 20);
    }
}

static inline uint64_t peer_torrent(uint64_t p) { return p % O.torrents; }
static inline uint64_t peer_k(uint64_t p) { return p / O.torrents; }
static inline int peer_sock(uint64_t p) { return (int)((peer_k(p) + peer_torrent(p)) % O.sockets); }
static inline uint16_t peer_port(uint64_t p) { return (uint16_t)(1025 + (peer_k(p) / O.sockets) % 64000); }
static inline int peer_seeder(uint64_t p) { return peer_k(p) % 3 == 0; }
static inline void peer_id(uint64_t p, uint8_t out[20]) {
    memcpy(out, "-LG0001-", 8);
    for (int i = 0; i < 12; i++) out[8 + i] = "0123456789ab"[(p >> (i * 3)) % 12];
}

static uint32_t src_addr(int i) { /* host order, in 127.0.0.0/8, never .0/.1/.255 last byte */
    uint32_t mid = (uint32_t)i / 250, host = (uint32_t)i % 250 + 2;
    return (127u << 24) | ((1 + mid / 256) << 16) | ((mid % 256) << 8) | host;
}

static struct sockaddr_in server_addr(int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, O.host, &a.sin_addr) != 1) die("--host must be a dotted IPv4 address");
    if ((ntohl(a.sin_addr.s_addr) >> 24) != 127) die("--host must be in 127.0.0.0/8");
    return a;
}

/* ------------------------------------------------------------------ counters */

enum {
    V_UDP_SHORT, V_UDP_ACTION, V_UDP_TXID, V_UDP_LENGTH, V_UDP_ERROR_PACKET, V_UDP_REFUSED,
    V_UDP_COUNTS, V_UDP_PEER, V_UDP_INTERVAL, V_UDP_CONNECT,
    V_HTTP_STATUS, V_HTTP_FRAMING, V_HTTP_LENGTH, V_HTTP_TOO_LONG, V_HTTP_EMPTY, V_HTTP_BENCODE,
    V_HTTP_KEYS, V_HTTP_FAILURE, V_HTTP_COUNTS, V_HTTP_PEER,
    V_FS_EMPTY, V_FS_STATUS, V_FS_LENGTH, V_FS_BODY,
    NV
};
static const char *vname[NV] = {
    "udp_short", "udp_action", "udp_txid", "udp_length", "udp_error_packet", "udp_refused",
    "udp_counts", "udp_peer", "udp_interval", "udp_connect",
    "http_status", "http_framing", "http_length", "http_too_long", "http_empty", "http_bencode",
    "http_keys", "http_failure", "http_counts", "http_peer",
    "fullscrape_empty", "fullscrape_status", "fullscrape_length", "fullscrape_body",
};
enum { T_TIMEOUT, T_LATE, T_UNANSWERED_AT_END, T_CONNECT, T_RESET, T_SEND, T_SOCKET,
       T_UDP_NO_CONNECTION_ID, T_FS_CONNECT, NT };
static const char *tname[NT] = {
    "timeout", "late_reply", "unanswered_at_end", "tcp_connect", "reset", "send", "socket",
    "udp_no_connection_id", "fullscrape_connect",
};
static uint64_t verr[NV], terr[NT];

/* latency histogram in microseconds, ~3% resolution */
#define HNB (64 + 40 * 32)
typedef struct { uint64_t n, max; double sum; uint64_t b[HNB]; } hist_t;
static int hidx(uint64_t v) {
    if (v < 64) return (int)v;
    int e = 63 - __builtin_clzll(v);
    int idx = 64 + (e - 6) * 32 + (int)((v >> (e - 5)) & 31);
    return idx < HNB ? idx : HNB - 1;
}
static uint64_t hval(int idx) {
    if (idx < 64) return idx;
    int e = (idx - 64) / 32 + 6, m = (idx - 64) % 32;
    return ((uint64_t)(32 + m) << (e - 5)) + ((1ULL << (e - 5)) >> 1);
}
static void hadd(hist_t *h, uint64_t us) {
    h->n++;
    h->sum += (double)us;
    if (us > h->max) h->max = us;
    h->b[hidx(us)]++;
}
static uint64_t hpct(const hist_t *h, double q) {
    if (!h->n) return 0;
    uint64_t want = (uint64_t)(q * (double)h->n + 0.999999), c = 0;
    if (want < 1) want = 1;
    for (int i = 0; i < HNB; i++) {
        c += h->b[i];
        if (c >= want) { uint64_t v = hval(i); return v > h->max ? h->max : v; }
    }
    return h->max;
}

enum { K_ANNOUNCE, K_SCRAPE, K_CONNECT };
enum { EV_NONE, EV_COMPLETED, EV_STARTED, EV_STOPPED }; /* BEP 15 numbering */
static const char *evname[4] = {"none", "completed", "started", "stopped"};

static hist_t lat_announce, lat_scrape;
static uint64_t n_sent, n_connect_ok, n_announce_ok, n_scrape_ok, n_announce_win, n_scrape_win,
    n_events[4], n_scrape_hashes, n_scrape_sent;
/* Shed answers (issue 25) are counted apart from validation errors: a BEP 15 error packet whose
   message is "overloaded" (per kind of request) and an HTTP 503 (with or without Retry-After). */
static uint64_t n_shed[3], n_http_shed, n_http_retry_after;
static uint64_t n_lost[2];    /* per kind: timed out, or still unanswered at the end */
static char scheduling[64] = "other"; /* --fifo: what the kernel granted */
static uint64_t n_skipped;    /* open loop: due but no free slot, so never sent (lost too) */
static uint64_t t_start, t_deadline, t_end;
static uint64_t fs_started, fs_completed, fs_bytes;
static hist_t fs_time;
static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) { (void)sig; stop_flag = 1; }

static void count_ok(int kind, uint64_t sent_ns, uint64_t now) {
    uint64_t us = now > sent_ns ? (now - sent_ns) / 1000 : 0;
    if (kind == K_ANNOUNCE) {
        n_announce_ok++;
        if (now <= t_deadline) n_announce_win++;
        hadd(&lat_announce, us);
    } else {
        n_scrape_ok++;
        if (now <= t_deadline) n_scrape_win++;
        hadd(&lat_scrape, us);
    }
}

/* A request to make: who announces what. */
typedef struct { int kind, event, nh; uint64_t peer; uint64_t tor[MAX_SCRAPE]; } req_t;

/* restart queue: peers that stopped, to be re-announced with event=started */
#define RQ 65536
static uint64_t rq[RQ];
static unsigned rq_head, rq_tail;
static void rq_push(uint64_t p) { if (rq_tail - rq_head < RQ) rq[rq_tail++ % RQ] = p; }

static int populate_mode;
static uint64_t pop_next; /* next peer to populate */

#define PEER_MASK ((1ULL << 40) - 1)

/* Choose the next request of a run (not populate): a random peer's announce with an event
   drawn from the mix, or a scrape of 1..--scrape-hashes random torrents. */
static void choose_random(req_t *r) {
    r->nh = 0;
    uint64_t npeers = O.peers ? O.peers : 1;
    int x = (int)rnd_below(100);
    if (x < O.mix_scrape) {
        r->kind = K_SCRAPE;
        r->peer = rnd_below(npeers);
        r->nh = O.scrape_exact ? O.scrape_hashes : 1 + (int)rnd_below(O.scrape_hashes);
        for (int i = 0; i < r->nh; i++) r->tor[i] = rnd_below(O.torrents);
        return;
    }
    x -= O.mix_scrape;
    r->kind = K_ANNOUNCE;
    r->peer = rnd_below(npeers);
    if (x < O.mix_started) r->event = EV_STARTED;
    else if (x < O.mix_started + O.mix_completed) r->event = EV_COMPLETED;
    else if (x < O.mix_started + O.mix_completed + O.mix_stopped) r->event = EV_STOPPED;
    else r->event = EV_NONE;
}

/* A peer that stopped comes back with event=started, so the swarm keeps its size. */
static int choose_restart(req_t *r) {
    if (rq_tail == rq_head) return 0;
    r->kind = K_ANNOUNCE;
    r->peer = rq[rq_head % RQ] & PEER_MASK;
    r->event = EV_STARTED;
    r->nh = 0;
    return 1;
}

static void choose(req_t *r) {
    if (choose_restart(r)) rq_head++;
    else choose_random(r);
}

/* ------------------------------------------------------------------ UDP */

typedef struct {
    uint64_t sent_ns, peer;
    uint16_t gen, dead_gen;
    uint8_t busy, kind, event, nh, attempts, has_dead;
} uslot_t;

typedef struct { uint16_t slot, stage; } pend_t;

typedef struct {
    int fd, ok, npend, inflight, nfree;
    uint8_t connid[8];
    uint32_t connect_tx;
    uint16_t *freelist;
    pend_t *pend;
} usock_t;

#define UBUF 1536
#define RXN 64
#define RXBUF 2048
static usock_t *us;
static uslot_t *uslots;
/* Requests are written to a staging area and sent from there, not kept per slot: an open-loop
   table of 100,000+ slots would otherwise hold 1.5 KB each for bytes needed only until sendmmsg. */
#define NSTAGE 2048
static uint8_t *stage;
static uint16_t stagelen[NSTAGE];
static int stage_used;
static int upw;                /* slots per socket */
static uint64_t u_inflight;
static uint8_t rxbuf[RXN][RXBUF];
static int epfd;

#define TAG_UDP 1ULL
#define TAG_HTTP 2ULL
#define TAG_FS 3ULL
#define TAG_FSC 4ULL
#define TAG(t, i) (((t) << 32) | (uint64_t)(i))

static void udp_open(void) {
    struct sockaddr_in srv = server_addr(O.udp_port);
    us = calloc(O.sockets, sizeof *us);
    upw = O.window / O.sockets;
    if (upw < 1) upw = 1;
    uslots = calloc((size_t)O.sockets * upw, sizeof *uslots);
    stage = malloc((size_t)NSTAGE * UBUF);
    if (!us || !uslots || !stage) die("out of memory");
    for (int i = 0; i < O.sockets; i++) {
        usock_t *s = &us[i];
        s->freelist = malloc(upw * sizeof(uint16_t));
        s->pend = malloc(upw * sizeof(pend_t));
        if (!s->freelist || !s->pend) die("out of memory");
        for (int j = 0; j < upw; j++) s->freelist[j] = (uint16_t)(upw - 1 - j);
        s->nfree = upw;
        s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->fd < 0) die("socket(udp) failed");
        if (O.rx_stamp && setsockopt(s->fd, SOL_SOCKET, SO_TIMESTAMPNS, &O.rx_stamp, sizeof O.rx_stamp) < 0)
            die("SO_TIMESTAMPNS failed");
        /* FORCE where allowed: a host whose rmem_max is Debian's 208 KiB would otherwise cut
           the buffer to that, and the replies of a 10 ms stall would not fit */
        int sz = 1 << 20;
        if (setsockopt(s->fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) < 0)
            setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
        struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(src_addr(i))};
        if (bind(s->fd, (struct sockaddr *)&src, sizeof src) < 0) die("bind(udp) to a 127.x address failed");
        if (connect(s->fd, (struct sockaddr *)&srv, sizeof srv) < 0) die("connect(udp) failed");
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG(TAG_UDP, i)};
        epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev);
    }
}

/* a BEP 15 error packet (action 3) whose message is "overloaded": a shed request */
static int is_overloaded(const uint8_t *b, int len) {
    static const char msg[] = "overloaded";
    int n = len - 8;
    while (n > 0 && b[8 + n - 1] == 0) n--; /* a C string's NUL, if sent */
    return n == (int)sizeof msg - 1 && !memcmp(b + 8, msg, n);
}

/* BEP 15 connect on every socket: up to 5 rounds of 1 s. */
static void udp_connect_all(void) {
    int missing = O.sockets;
    for (int round = 0; round < 5 && missing > 0 && !stop_flag; round++) {
        for (int i = 0; i < O.sockets; i++) {
            if (us[i].ok) continue;
            uint8_t b[16];
            put64(b, 0x41727101980ULL);
            put32(b + 8, 0);
            us[i].connect_tx = 0xC0000000u | ((uint32_t)round << 16) | (uint32_t)i;
            put32(b + 12, us[i].connect_tx);
            if (send(us[i].fd, b, 16, 0) != 16) terr[T_SEND]++;
        }
        uint64_t until = now_ns() + 1000000000ULL;
        while (missing > 0 && now_ns() < until && !stop_flag) {
            struct epoll_event evs[64];
            int n = epoll_wait(epfd, evs, 64, 50);
            for (int e = 0; e < n; e++) {
                int i = (int)(evs[e].data.u64 & 0xffffffff);
                uint8_t b[64];
                for (int tries = 0; tries < 16; tries++) {
                    ssize_t len = recv(us[i].fd, b, sizeof b, MSG_DONTWAIT);
                    if (len < 0) break;
                    if (len < 16) { verr[len < 8 ? V_UDP_SHORT : V_UDP_CONNECT]++; continue; }
                    if (get32(b) == 3) {
                        if (is_overloaded(b, (int)len)) n_shed[K_CONNECT]++;
                        else verr[V_UDP_ERROR_PACKET]++;
                        continue;
                    }
                    if (get32(b) != 0) { verr[V_UDP_ACTION]++; continue; }
                    if (get32(b + 4) != us[i].connect_tx) {
                        if ((get32(b + 4) & 0xC000ffffu) == (0xC0000000u | (uint32_t)i)) terr[T_LATE]++;
                        else verr[V_UDP_TXID]++;
                        continue;
                    }
                    if (!us[i].ok) {
                        memcpy(us[i].connid, b + 8, 8);
                        us[i].ok = 1;
                        n_connect_ok++;
                        missing--;
                    }
                }
            }
        }
    }
    terr[T_UDP_NO_CONNECTION_ID] += (uint64_t)missing;
}

static int build_udp(int si, int j, const req_t *r, uint8_t *b) {
    usock_t *s = &us[si];
    uslot_t *sl = &uslots[(size_t)si * upw + j];
    sl->gen++;
    uint32_t tx = ((uint32_t)sl->gen << 16) | (uint32_t)j;
    memcpy(b, s->connid, 8);
    put32(b + 12, tx);
    sl->peer = r->peer;
    sl->kind = (uint8_t)r->kind;
    sl->event = (uint8_t)r->event;
    sl->nh = (uint8_t)r->nh;
    if (r->kind == K_SCRAPE) {
        put32(b + 8, 2);
        for (int i = 0; i < r->nh; i++) memcpy(b + 16 + 20 * i, hashes + r->tor[i] * 20, 20);
        return 16 + 20 * r->nh;
    }
    uint64_t p = r->peer;
    int seeder = peer_seeder(p) || r->event == EV_COMPLETED;
    put32(b + 8, 1);
    memcpy(b + 16, hashes + peer_torrent(p) * 20, 20);
    peer_id(p, b + 36);
    put64(b + 56, seeder ? 1000000 : 0);  /* downloaded */
    put64(b + 64, seeder ? 0 : 1000000);  /* left */
    put64(b + 72, 0);                     /* uploaded */
    put32(b + 80, (uint32_t)r->event);
    put32(b + 84, 0);                     /* ip: ignored */
    put32(b + 88, (uint32_t)p);           /* key */
    put32(b + 92, populate_mode ? 0 : (uint32_t)O.numwant);
    put16(b + 96, peer_port(p));
    return 98;
}

static void udp_flush(void);

/* Fill the window (up to budget new requests), then one sendmmsg per socket (and one more
   round whenever the staging area is full). */
static uint64_t udp_generate(uint64_t budget, uint64_t now) {
    uint64_t made = 0;
    int misses = 0;
    while (made < budget && misses < 4 * O.sockets + 8) {
        if (stage_used == NSTAGE) udp_flush();
        req_t r;
        int si, attempts = 0;
        if (populate_mode) {
            int retry = rq_tail != rq_head;
            if (retry) {
                r.peer = rq[rq_head % RQ] & PEER_MASK;
                attempts = (int)(rq[rq_head % RQ] >> 40);
            } else {
                if (pop_next >= O.peers) break;
                r.peer = pop_next;
            }
            r.kind = K_ANNOUNCE;
            r.event = EV_STARTED;
            r.nh = 0;
            si = peer_sock(r.peer);
            if (us[si].ok && us[si].nfree == 0) break; /* keep order; that socket drains soon */
            if (retry) rq_head++; else pop_next++;
            if (!us[si].ok) { terr[T_UDP_NO_CONNECTION_ID]++; continue; } /* no id: peer lost */
        } else {
            int restart = choose_restart(&r);
            if (restart) {
                si = peer_sock(r.peer);
                if (!us[si].ok) { rq_head++; continue; } /* that address has no id: drop it */
                if (us[si].nfree == 0) restart = 0;       /* busy: a random request this time */
                else rq_head++;
            }
            if (!restart) {
                choose_random(&r);
                si = r.kind == K_SCRAPE ? (int)rnd_below(O.sockets) : peer_sock(r.peer);
                if (!us[si].ok || us[si].nfree == 0) { misses++; continue; }
            }
        }
        usock_t *s = &us[si];
        int j = s->freelist[--s->nfree];
        uslot_t *sl = &uslots[(size_t)si * upw + j];
        int k = stage_used++;
        stagelen[k] = (uint16_t)build_udp(si, j, &r, stage + (size_t)k * UBUF);
        sl->busy = 1;
        sl->attempts = (uint8_t)attempts;
        s->pend[s->npend++] = (pend_t){(uint16_t)j, (uint16_t)k};
        made++;
    }
    udp_flush();
    (void)now;
    return made;
}

static void udp_flush(void) {
    for (int si = 0; si < O.sockets && stage_used; si++) {
        usock_t *s = &us[si];
        if (!s->npend) continue;
        struct mmsghdr mm[s->npend];
        struct iovec iov[s->npend];
        for (int i = 0; i < s->npend; i++) {
            iov[i].iov_base = stage + (size_t)s->pend[i].stage * UBUF;
            iov[i].iov_len = stagelen[s->pend[i].stage];
            memset(&mm[i], 0, sizeof mm[i]);
            mm[i].msg_hdr.msg_iov = &iov[i];
            mm[i].msg_hdr.msg_iovlen = 1;
        }
        int sent = 0;
        /* with kernel receive stamps a reply can be stamped before sendmmsg returns */
        uint64_t t = O.rx_stamp ? now_ns() : 0;
        for (int tries = 0; tries < 4 && sent < s->npend; tries++) {
            int n = sendmmsg(s->fd, mm + sent, s->npend - sent, 0);
            if (n <= 0) break;
            sent += n;
        }
        if (!O.rx_stamp) t = now_ns();
        for (int i = 0; i < s->npend; i++) {
            int j = s->pend[i].slot;
            uslot_t *sl = &uslots[(size_t)si * upw + j];
            if (i < sent) {
                sl->sent_ns = t;
                s->inflight++;
                u_inflight++;
                n_sent++;
                if (sl->kind == K_ANNOUNCE) n_events[sl->event]++;
                else { n_scrape_hashes += sl->nh; n_scrape_sent++; }
            } else { /* could not send: free the slot */
                terr[T_SEND]++;
                sl->busy = 0;
                s->freelist[s->nfree++] = (uint16_t)j;
            }
        }
        s->npend = 0;
    }
    stage_used = 0;
}

static void udp_free_slot(int si, int j) {
    uslot_t *sl = &uslots[(size_t)si * upw + j];
    sl->busy = 0;
    us[si].freelist[us[si].nfree++] = (uint16_t)j;
    us[si].inflight--;
    u_inflight--;
}

static int udp_check_announce(const uint8_t *b, int len, const uslot_t *sl) {
    if (len == 8) return V_UDP_REFUSED;
    if (len < 20 || (len - 20) % 6) return V_UDP_LENGTH;
    uint32_t interval = get32(b + 8), leechers = get32(b + 12), seeders = get32(b + 16);
    int n = (len - 20) / 6;
    int numwant = populate_mode ? 0 : O.numwant;
    if (sl->event == EV_STOPPED) return len == 20 ? -1 : V_UDP_LENGTH;
    if (interval == 0) return V_UDP_INTERVAL;
    if (n > numwant) return V_UDP_LENGTH;
    if ((uint64_t)leechers + seeders < 1 || (uint64_t)n > (uint64_t)leechers + seeders) return V_UDP_COUNTS;
    for (int i = 0; i < n; i++)
        if (b[20 + 6 * i] != 127) return V_UDP_PEER;
    return -1;
}

static void udp_lose(int si, int j, int t);

static void udp_reply(int si, const uint8_t *b, int len, uint64_t now) {
    if (len < 8) { verr[V_UDP_SHORT]++; return; }
    uint32_t action = get32(b), tx = get32(b + 4);
    uint32_t j = tx & 0xffff;
    uint16_t gen = (uint16_t)(tx >> 16);
    if ((tx & 0xC0000000u) == 0xC0000000u && action == 0) { terr[T_LATE]++; return; } /* a connect's */
    if (j >= (uint32_t)upw) { verr[V_UDP_TXID]++; return; }
    uslot_t *sl = &uslots[(size_t)si * upw + j];
    if (!sl->busy || sl->gen != gen) {
        if (sl->has_dead && sl->dead_gen == gen) terr[T_LATE]++;
        else verr[V_UDP_TXID]++;
        return;
    }
    /* answered, but after the timeout: lost, as if the sweep had come first */
    if (!populate_mode && now > sl->sent_ns + (uint64_t)(O.timeout * 1e9)) {
        udp_lose(si, (int)j, T_LATE);
        return;
    }
    int e = -1;
    if (action == 3 && is_overloaded(b, len)) {
        n_shed[sl->kind]++;
        udp_free_slot(si, (int)j);
        return;
    }
    if (action == 3) e = V_UDP_ERROR_PACKET;
    else if (action != (sl->kind == K_SCRAPE ? 2u : 1u)) e = V_UDP_ACTION;
    else if (sl->kind == K_SCRAPE) e = len == 8 + 12 * sl->nh ? -1 : V_UDP_LENGTH;
    else e = udp_check_announce(b, len, sl);
    if (e >= 0) verr[e]++;
    else {
        count_ok(sl->kind, sl->sent_ns, now);
        if (!populate_mode && sl->kind == K_ANNOUNCE && sl->event == EV_STOPPED) rq_push(sl->peer);
    }
    udp_free_slot(si, (int)j);
}

/* With --rx-stamp a reply's time is the kernel's receive timestamp (SO_TIMESTAMPNS,
   CLOCK_REALTIME, taken when the server's datagram entered the loopback), not the moment this
   process got to read it: when another busy process shares this CPU (bench/fsreaders.py), the
   latency is then still the server's and not our own scheduling delay. */
static uint64_t rx_time(struct msghdr *h, uint64_t mono_now, int64_t real_minus_mono) {
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
        struct timespec ts;
        memcpy(&ts, CMSG_DATA(c), sizeof ts);
        int64_t t = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec - real_minus_mono;
        return t > 0 && (uint64_t)t < mono_now ? (uint64_t)t : mono_now;
    }
    return mono_now;
}

static void udp_readable(int si) {
    struct mmsghdr mm[RXN];
    struct iovec iov[RXN];
    static uint8_t ctl[RXN][CMSG_SPACE(sizeof(struct timespec)) + 64];
    for (int rounds = 0; rounds < 8; rounds++) {
        for (int i = 0; i < RXN; i++) {
            iov[i].iov_base = rxbuf[i];
            iov[i].iov_len = RXBUF;
            memset(&mm[i], 0, sizeof mm[i]);
            mm[i].msg_hdr.msg_iov = &iov[i];
            mm[i].msg_hdr.msg_iovlen = 1;
            if (O.rx_stamp) {
                mm[i].msg_hdr.msg_control = ctl[i];
                mm[i].msg_hdr.msg_controllen = sizeof ctl[i];
            }
        }
        int n = recvmmsg(us[si].fd, mm, RXN, MSG_DONTWAIT, NULL);
        if (n <= 0) return;
        uint64_t t = now_ns();
        int64_t off = 0;
        if (O.rx_stamp) {
            struct timespec r;
            clock_gettime(CLOCK_REALTIME, &r);
            off = (int64_t)r.tv_sec * 1000000000LL + r.tv_nsec - (int64_t)t;
        }
        for (int i = 0; i < n; i++)
            udp_reply(si, rxbuf[i], (int)mm[i].msg_len, O.rx_stamp ? rx_time(&mm[i].msg_hdr, t, off) : t);
        if (n < RXN) return;
    }
}

static void udp_lose(int si, int j, int t) {
    uslot_t *sl = &uslots[(size_t)si * upw + j];
    terr[t]++;
    n_lost[sl->kind == K_SCRAPE]++;
    sl->has_dead = 1;
    sl->dead_gen = sl->gen;
    if (populate_mode && t == T_TIMEOUT && sl->attempts + 1 < 4) rq_push(sl->peer | ((uint64_t)(sl->attempts + 1) << 40));
    udp_free_slot(si, j);
}

static void udp_expire(uint64_t now, int at_end) {
    uint64_t limit = (uint64_t)(O.timeout * 1e9);
    for (int si = 0; si < O.sockets; si++) {
        if (!us[si].inflight) continue;
        udp_readable(si); /* what arrived while we waited for the CPU first (above) */
        for (int j = 0; j < upw; j++) {
            uslot_t *sl = &uslots[(size_t)si * upw + j];
            if (!sl->busy || (!at_end && sl->sent_ns + limit > now)) continue;
            udp_lose(si, j, at_end ? T_UNANSWERED_AT_END : T_TIMEOUT);
        }
    }
}

/* replies the kernel dropped at our own sockets (their receive buffers were full) */
static uint64_t udp_socket_drops(void) {
    uint64_t drops = 0;
    for (int si = 0; si < O.sockets && us; si++) {
        uint32_t mem[SK_MEMINFO_VARS] = {0};
        socklen_t len = sizeof mem;
        if (getsockopt(us[si].fd, SOL_SOCKET, SO_MEMINFO, mem, &len) == 0 && len > SK_MEMINFO_DROPS * sizeof mem[0])
            drops += mem[SK_MEMINFO_DROPS];
    }
    return drops;
}

/* ------------------------------------------------------------------ HTTP */

#define HBUF 16384
enum { H_FREE, H_CONNECTING, H_READING };
typedef struct {
    int fd, state, len, reqlen, reqoff, kind, event, nh;
    uint64_t peer, start_ns;
    char req[2048];
    char buf[HBUF];
} hconn_t;
static hconn_t *hc;
static int h_active;
static struct sockaddr_in tcp_srv;

static char *pct(char *o, const uint8_t *b, int n) {
    static const char hx[] = "0123456789ABCDEF";
    for (int i = 0; i < n; i++) {
        *o++ = '%';
        *o++ = hx[b[i] >> 4];
        *o++ = hx[b[i] & 15];
    }
    return o;
}

static int build_http(hconn_t *c, const req_t *r) {
    char *o = c->req;
    if (r->kind == K_SCRAPE) {
        o += sprintf(o, "GET /scrape?");
        for (int i = 0; i < r->nh; i++) {
            o += sprintf(o, "%sinfo_hash=", i ? "&" : "");
            o = pct(o, hashes + r->tor[i] * 20, 20);
        }
    } else {
        uint64_t p = r->peer;
        uint8_t pid[20];
        int seeder = peer_seeder(p) || r->event == EV_COMPLETED;
        peer_id(p, pid);
        o += sprintf(o, "GET /announce?info_hash=");
        o = pct(o, hashes + peer_torrent(p) * 20, 20);
        o += sprintf(o, "&peer_id=");
        o = pct(o, pid, 20);
        o += sprintf(o, "&port=%u&uploaded=0&downloaded=%d&left=%d&numwant=%d&compact=1&key=%u",
                     (unsigned)peer_port(p), seeder ? 1000000 : 0, seeder ? 0 : 1000000,
                     O.numwant, (unsigned)p);
        if (r->event != EV_NONE) o += sprintf(o, "&event=%s", evname[r->event]);
    }
    o += sprintf(o, " HTTP/1.0\r\nHost: %s:%d\r\nUser-Agent: loadgen\r\n\r\n", O.host, O.tcp_port);
    return (int)(o - c->req);
}

static const char *bstr(const char *p, const char *e, const char **s, long *n) {
    long v = 0;
    const char *d = p;
    while (p < e && *p >= '0' && *p <= '9') {
        v = v * 10 + (*p - '0');
        if (v > (1L << 30)) return NULL;
        p++;
    }
    if (p == d || p >= e || *p != ':') return NULL;
    p++;
    if (e - p < v) return NULL;
    if (s) *s = p;
    if (n) *n = v;
    return p + v;
}
static const char *bint(const char *p, const char *e, long long *v) {
    if (p >= e || *p != 'i') return NULL;
    p++;
    int neg = 0;
    if (p < e && *p == '-') { neg = 1; p++; }
    const char *d = p;
    long long x = 0;
    while (p < e && *p >= '0' && *p <= '9' && p - d < 18) x = x * 10 + (*p++ - '0');
    if (p == d || p >= e || *p != 'e') return NULL;
    if (v) *v = neg ? -x : x;
    return p + 1;
}
static const char *bskip(const char *p, const char *e, int depth) {
    if (!p || p >= e || depth > 16) return NULL;
    if (*p == 'i') return bint(p, e, NULL);
    if (*p == 'l' || *p == 'd') {
        int dict = *p == 'd';
        p++;
        while (p && p < e && *p != 'e') {
            if (dict) p = bstr(p, e, NULL, NULL);
            p = bskip(p, e, depth + 1);
        }
        return (p && p < e) ? p + 1 : NULL;
    }
    return bstr(p, e, NULL, NULL);
}
static int keyis(const char *k, long n, const char *lit) { return (long)strlen(lit) == n && !memcmp(k, lit, n); }

/* the body of a scrape: d5:filesd<20-byte key>d...e...ee */
static int check_scrape_body(const char *p, const char *e, int nh) {
    if (p >= e || *p != 'd') return V_HTTP_BENCODE;
    if (bskip(p, e, 0) != e) return V_HTTP_BENCODE;
    p++;
    int have_files = 0;
    while (p < e && *p != 'e') {
        const char *k;
        long kn;
        p = bstr(p, e, &k, &kn);
        if (!p) return V_HTTP_BENCODE;
        if (keyis(k, kn, "failure reason")) return V_HTTP_FAILURE;
        if (!keyis(k, kn, "files")) { p = bskip(p, e, 1); continue; }
        have_files = 1;
        if (p >= e || *p != 'd') return V_HTTP_KEYS;
        p++;
        int entries = 0;
        while (p < e && *p != 'e') {
            const char *h;
            long hn;
            p = bstr(p, e, &h, &hn);
            if (!p || hn != 20 || p >= e || *p != 'd') return V_HTTP_KEYS;
            p++;
            int got = 0;
            while (p < e && *p != 'e') {
                const char *f;
                long fn;
                long long v = 0;
                p = bstr(p, e, &f, &fn);
                if (!p) return V_HTTP_BENCODE;
                if (keyis(f, fn, "complete") || keyis(f, fn, "downloaded") || keyis(f, fn, "incomplete")) {
                    p = bint(p, e, &v);
                    if (!p || v < 0) return V_HTTP_KEYS;
                    got++;
                } else p = bskip(p, e, 3);
                if (!p) return V_HTTP_BENCODE;
            }
            if (got != 3) return V_HTTP_KEYS;
            p++;
            entries++;
        }
        if (entries > nh) return V_HTTP_COUNTS;
        p++;
    }
    return have_files ? -1 : V_HTTP_KEYS;
}

static int check_announce_body(const char *p, const char *e, int event) {
    if (p >= e || *p != 'd') return V_HTTP_BENCODE;
    if (bskip(p, e, 0) != e) return V_HTTP_BENCODE;
    p++;
    long long complete = -1, incomplete = -1, interval = -1;
    const char *peers = NULL;
    long npeers = -1;
    while (p < e && *p != 'e') {
        const char *k;
        long kn;
        p = bstr(p, e, &k, &kn);
        if (!p) return V_HTTP_BENCODE;
        if (keyis(k, kn, "failure reason")) return V_HTTP_FAILURE;
        if (keyis(k, kn, "complete")) p = bint(p, e, &complete);
        else if (keyis(k, kn, "incomplete")) p = bint(p, e, &incomplete);
        else if (keyis(k, kn, "interval")) p = bint(p, e, &interval);
        else if (keyis(k, kn, "peers")) p = bstr(p, e, &peers, &npeers);
        else p = bskip(p, e, 1);
        if (!p) return V_HTTP_KEYS;
    }
    if (complete < 0 || incomplete < 0 || interval <= 0 || !peers) return V_HTTP_KEYS;
    if (npeers % 6) return V_HTTP_KEYS;
    long n = npeers / 6;
    if (event == EV_STOPPED) return n == 0 ? -1 : V_HTTP_COUNTS;
    if (n > O.numwant || complete + incomplete < 1 || n > complete + incomplete) return V_HTTP_COUNTS;
    for (long i = 0; i < n; i++)
        if ((uint8_t)peers[6 * i] != 127) return V_HTTP_PEER;
    return -1;
}

/* Header parse: returns header length (> 0), 0 when incomplete, -1 on a framing error.
   *status gets the code, *cl the Content-Length or -1. */
static int parse_head(const char *b, int len, int *status, long long *cl) {
    const char *end = NULL;
    for (int i = 0; i + 3 < len; i++)
        if (b[i] == '\r' && b[i + 1] == '\n' && b[i + 2] == '\r' && b[i + 3] == '\n') { end = b + i + 4; break; }
    if (!end) return 0;
    *status = -1;
    *cl = -1;
    if (len >= 12 && !memcmp(b, "HTTP/1.", 7) && b[8] == ' ' && b[9] >= '0' && b[9] <= '9')
        *status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
    const char *p = b;
    while (p < end) {
        const char *nl = memchr(p, '\n', end - p);
        if (!nl) break;
        const char *line = nl + 1;
        if (end - line > 15 && !strncasecmp(line, "Content-Length:", 15)) {
            const char *q = line + 15;
            while (q < end && (*q == ' ' || *q == '\t')) q++;
            long long v = 0;
            const char *d = q;
            while (q < end && *q >= '0' && *q <= '9' && q - d < 15) v = v * 10 + (*q++ - '0');
            if (q == d || (*q != '\r' && *q != '\n')) return -1;
            *cl = v;
        }
        p = line;
    }
    return (int)(end - b);
}

/* Is there a Retry-After header in the head (b, len: up to the blank line)? */
static int has_retry_after(const char *b, int len) {
    for (int i = 0; i + 14 < len; i++)
        if (b[i] == '\n' && !strncasecmp(b + i + 1, "Retry-After:", 12)) return 1;
    return 0;
}

static void http_start(int idx, uint64_t now);

static void http_finish(hconn_t *c, int eof, uint64_t now) {
    int status;
    long long cl;
    int e = -1;
    if (c->len == 0) e = V_HTTP_EMPTY;
    else {
        int hl = parse_head(c->buf, c->len, &status, &cl);
        if (hl <= 0) e = c->len >= HBUF ? V_HTTP_TOO_LONG : V_HTTP_FRAMING;
        else if (status == 503) {
            n_http_shed++;
            n_http_retry_after += (uint64_t)has_retry_after(c->buf, hl);
            e = -2;
        } else if (status != 200) e = V_HTTP_STATUS;
        else if (cl < 0 || cl != c->len - hl) e = c->len >= HBUF ? V_HTTP_TOO_LONG : V_HTTP_LENGTH;
        else if (c->kind == K_SCRAPE) e = check_scrape_body(c->buf + hl, c->buf + c->len, c->nh);
        else e = check_announce_body(c->buf + hl, c->buf + c->len, c->event);
    }
    (void)eof;
    if (e >= 0) verr[e]++;
    else if (e == -1) {
        count_ok(c->kind, c->start_ns, now);
        if (c->kind == K_ANNOUNCE && c->event == EV_STOPPED) rq_push(c->peer);
    }
    close(c->fd);
    c->fd = -1;
    c->state = H_FREE;
    h_active--;
}

static void http_abort(hconn_t *c, int kind) {
    terr[kind]++;
    close(c->fd);
    c->fd = -1;
    c->state = H_FREE;
    h_active--;
}

static void http_start(int idx, uint64_t now) {
    hconn_t *c = &hc[idx];
    req_t r;
    choose(&r);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { terr[T_SOCKET]++; return; }
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(src_addr(peer_sock(r.peer)))};
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) { close(fd); terr[T_SOCKET]++; return; }
    c->fd = fd;
    c->kind = r.kind;
    c->event = r.event;
    c->nh = r.nh;
    c->peer = r.peer;
    c->len = 0;
    c->reqoff = 0;
    c->reqlen = build_http(c, &r);
    c->start_ns = now;
    c->state = H_CONNECTING;
    h_active++;
    n_sent++;
    if (r.kind == K_ANNOUNCE) n_events[r.event]++;
    else { n_scrape_hashes += r.nh; n_scrape_sent++; }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, .data.u64 = TAG(TAG_HTTP, idx)};
    if (connect(fd, (struct sockaddr *)&tcp_srv, sizeof tcp_srv) < 0 && errno != EINPROGRESS) {
        http_abort(c, T_CONNECT);
        return;
    }
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void http_event(int idx, uint32_t events, uint64_t now) {
    hconn_t *c = &hc[idx];
    if (c->state == H_FREE) return;
    if (c->state == H_CONNECTING) {
        int err = 0;
        socklen_t sl = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl);
        if (err) { http_abort(c, err == ECONNRESET ? T_RESET : T_CONNECT); return; }
        if (!(events & (EPOLLOUT | EPOLLIN | EPOLLHUP | EPOLLERR))) return;
        while (c->reqoff < c->reqlen) {
            ssize_t n = send(c->fd, c->req + c->reqoff, c->reqlen - c->reqoff, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN) return;
                http_abort(c, errno == ECONNRESET || errno == EPIPE ? T_RESET : T_SEND);
                return;
            }
            c->reqoff += (int)n;
        }
        c->state = H_READING;
    }
    /* reading (edge-triggered: read until EAGAIN) */
    for (int rounds = 0; rounds < 64; rounds++) {
        if (c->len >= HBUF) { http_finish(c, 0, now); return; }
        ssize_t n = recv(c->fd, c->buf + c->len, HBUF - c->len, 0);
        if (n == 0) { http_finish(c, 1, now); return; }
        if (n < 0) {
            if (errno == EAGAIN) break;
            if (c->len > 0) { http_finish(c, 1, now); return; }
            http_abort(c, T_RESET);
            return;
        }
        c->len += (int)n; /* HTTP/1.0: the reply ends when the server closes */
    }
}

static void http_expire(uint64_t now, int at_end) {
    uint64_t limit = (uint64_t)(O.timeout * 1e9);
    for (int i = 0; i < O.http_conns; i++) {
        hconn_t *c = &hc[i];
        if (c->state == H_FREE || (!at_end && c->start_ns + limit > now)) continue;
        http_abort(c, at_end ? T_UNANSWERED_AT_END : T_TIMEOUT);
    }
}

/* ------------------------------------------------------------------ full-scrape slow readers */

enum { F_IDLE, F_CONNECTING, F_READING };
typedef struct {
    int fd, state, headlen, hdr_done;
    uint64_t start_ns, next_ns;
    long long cl, body;            /* cl -1: no Content-Length, the body ends with the connection */
    char head[1024];
    bstate_t b;
} fsr_t;
static fsr_t *fs;
static char *fs_chunkbuf;

static uint64_t *fs_idle_until; /* a reader starts a new full scrape at most once a second */

static void fs_close(fsr_t *f) {
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    f->state = F_IDLE;
}

static void fs_start(int i, uint64_t now) {
    fsr_t *f = &fs[i];
    memset(f, 0, sizeof *f);
    f->fd = -1;
    b_init(&f->b);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    fs_idle_until[i] = now + 1000000000ULL;
    if (fd < 0) { terr[T_SOCKET]++; return; }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &O.fs_rcvbuf, sizeof O.fs_rcvbuf);
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(src_addr(O.sockets + i))};
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) { close(fd); terr[T_SOCKET]++; return; }
    f->fd = fd;
    f->state = F_CONNECTING;
    f->start_ns = now;
    f->cl = -1;
    fs_started++;
    if (connect(fd, (struct sockaddr *)&tcp_srv, sizeof tcp_srv) < 0 && errno != EINPROGRESS) {
        terr[T_FS_CONNECT]++;
        fs_close(f);
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLET, .data.u64 = TAG(TAG_FS, i)};
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void fs_event(int i, uint64_t now) {
    fsr_t *f = &fs[i];
    if (f->state != F_CONNECTING) return;
    int err = 0;
    socklen_t sl = sizeof err;
    getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &err, &sl);
    static const char req[] = "GET /scrape HTTP/1.0\r\nUser-Agent: loadgen slow reader\r\n\r\n";
    if (err || send(f->fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) {
        terr[T_FS_CONNECT]++;
        fs_close(f);
        return;
    }
    f->state = F_READING;
    f->next_ns = now + (uint64_t)O.fs_interval_ms * 1000000ULL;
}

static void fs_done(fsr_t *f, uint64_t now) {
    int e = -1;
    if (!f->hdr_done) e = f->headlen ? V_FS_STATUS : V_FS_EMPTY;
    else if (f->cl >= 0 && f->cl != f->body) e = V_FS_LENGTH;
    else if (f->b.err || f->b.st != B_END || f->b.entries > (long long)O.torrents) e = V_FS_BODY;
    if (e >= 0) verr[e]++;
    else {
        fs_completed++;
        hadd(&fs_time, (now - f->start_ns) / 1000);
    }
    fs_close(f);
}

/* one slow read: at most fs_chunk bytes */
static void fs_read(fsr_t *f, uint64_t now) {
    ssize_t n = recv(f->fd, fs_chunkbuf, O.fs_chunk, MSG_DONTWAIT);
    f->next_ns = now + (uint64_t)O.fs_interval_ms * 1000000ULL;
    if (n < 0) {
        if (errno == EAGAIN) return;
        terr[T_RESET]++;
        fs_close(f);
        return;
    }
    if (n == 0) { fs_done(f, now); return; }
    fs_bytes += (uint64_t)n;
    const char *p = fs_chunkbuf, *e = fs_chunkbuf + n;
    if (!f->hdr_done) {
        int take = (int)(e - p);
        if (take > (int)sizeof f->head - f->headlen) take = (int)sizeof f->head - f->headlen;
        memcpy(f->head + f->headlen, p, take);
        f->headlen += take;
        int status;
        long long cl;
        int hl = parse_head(f->head, f->headlen, &status, &cl);
        if (hl < 0 || (hl == 0 && f->headlen >= (int)sizeof f->head)) { verr[V_FS_STATUS]++; fs_close(f); return; }
        if (hl == 0) return;
        /* no Content-Length is fine: an HTTP/1.0 answer may end with the connection */
        if (status != 200) { verr[V_FS_STATUS]++; fs_close(f); return; }
        f->hdr_done = 1;
        f->cl = cl;
        p += hl - (f->headlen - take); /* body bytes start after the header */
    }
    f->body += e - p;
    b_feed(&f->b, (const uint8_t *)p, (size_t)(e - p));
}

/* ------------------------------------------------------------------ full-scrape flood */

/* Fast full-scrape clients (--fullscrape-rate / --fullscrape-conns): each connection sends
   `GET /scrape HTTP/1.0` and reads everything to the close, checking a 200's body whole. Open
   loop with a rate: one new connection every 1/R s whatever is still open, at most C at once (a
   start due while C are open is skipped and counted). Without a rate: C connections back to back
   (closed loop, for the server's cost of one full scrape). Level-triggered, so a connection
   delivering many megabytes is read a bounded amount per event and the others still get served. */
enum { C_FREE, C_CONNECTING, C_READING };
typedef struct {
    int fd, state, headlen, hdr_done, status, retry_after, check;
    uint64_t start_ns;
    long long cl, body;
    char head[1024];
    bstate_t b;
} fsc_t;
static fsc_t *fsc;
static int fsc_active;
static uint64_t fsc_due, fsc_started, fsc_ok, fsc_503, fsc_503_retry_after, fsc_status_other,
    fsc_bad_body, fsc_refused, fsc_reset, fsc_timeout, fsc_skipped, fsc_at_end, fsc_bytes;
static hist_t fsc_time, fsc_time_503;
static uint8_t fsc_buf[65536];
static uint8_t *fsc_sink; /* MSG_TRUNC does not copy; a buffer of the length passed all the same */
#define FSC_SINK (1 << 20)

static void fsc_close(fsc_t *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->state = C_FREE;
    fsc_active--;
}

static void fsc_start(int i, uint64_t now) {
    fsc_t *c = &fsc[i];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { terr[T_SOCKET]++; return; }
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    /* source addresses after the UDP sockets' and the slow readers' */
    struct sockaddr_in src = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(src_addr(O.sockets + O.fs_readers + i))};
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) { close(fd); terr[T_SOCKET]++; return; }
    memset(c, 0, sizeof *c);
    b_init(&c->b);
    c->fd = fd;
    c->cl = -1;
    c->state = C_CONNECTING;
    c->start_ns = now;
    c->check = fsc_started % (uint64_t)O.fsc_check == 0;
    fsc_active++;
    fsc_started++;
    if (connect(fd, (struct sockaddr *)&tcp_srv, sizeof tcp_srv) < 0 && errno != EINPROGRESS) {
        if (errno == ECONNREFUSED) fsc_refused++; else fsc_reset++;
        fsc_close(c);
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = TAG(TAG_FSC, i)};
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void fsc_finish(fsc_t *c, uint64_t now) {
    uint64_t us = (now - c->start_ns) / 1000;
    if (!c->hdr_done) fsc_status_other++; /* closed before a whole header */
    else if (c->status == 503) {
        fsc_503++;
        fsc_503_retry_after += (uint64_t)c->retry_after;
        hadd(&fsc_time_503, us);
    } else if (c->status != 200) fsc_status_other++;
    else if ((c->cl >= 0 && c->cl != c->body) ||
             (c->check && (c->b.err || c->b.st != B_END || c->b.entries > (long long)O.torrents))) {
        fsc_bad_body++;
        verr[c->cl >= 0 && c->cl != c->body ? V_FS_LENGTH : V_FS_BODY]++;
    } else {
        fsc_ok++;
        hadd(&fsc_time, us);
    }
    fsc_close(c);
}

static void fsc_event(int i, uint64_t now) {
    fsc_t *c = &fsc[i];
    if (c->state == C_FREE) return;
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t sl = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl);
        static const char req[] = "GET /scrape HTTP/1.0\r\nUser-Agent: loadgen full scrape\r\n\r\n";
        if (err) {
            if (err == ECONNREFUSED) fsc_refused++; else fsc_reset++;
            fsc_close(c);
            return;
        }
        if (send(c->fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) {
            fsc_reset++;
            fsc_close(c);
            return;
        }
        c->state = C_READING;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = TAG(TAG_FSC, i)};
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        return;
    }
    for (int rounds = 0; rounds < 4; rounds++) {
        /* a body not checked is discarded in the kernel (MSG_TRUNC): a flood reads hundreds of
           megabytes a second, and copying them would take the generators' CPU from the others */
        int drop = c->hdr_done && !c->check;
        ssize_t n = drop ? recv(c->fd, fsc_sink, FSC_SINK, MSG_DONTWAIT | MSG_TRUNC)
                         : recv(c->fd, fsc_buf, sizeof fsc_buf, MSG_DONTWAIT);
        if (n == 0) { fsc_finish(c, now); return; }
        if (n < 0) {
            if (errno == EAGAIN) return;
            /* a reset after a whole answer (the server closed with unread bytes) is still one */
            if (c->hdr_done && c->cl >= 0 && c->body == c->cl) fsc_finish(c, now);
            else { fsc_reset++; fsc_close(c); }
            return;
        }
        fsc_bytes += (uint64_t)n;
        const char *p = (const char *)fsc_buf, *e = p + n;
        if (!c->hdr_done) {
            int take = (int)(e - p);
            if (take > (int)sizeof c->head - c->headlen) take = (int)sizeof c->head - c->headlen;
            memcpy(c->head + c->headlen, p, take);
            c->headlen += take;
            long long cl;
            int hl = parse_head(c->head, c->headlen, &c->status, &cl);
            if (hl < 0 || (hl == 0 && c->headlen >= (int)sizeof c->head)) {
                fsc_status_other++;
                fsc_close(c);
                return;
            }
            if (hl == 0) continue;
            c->hdr_done = 1;
            c->cl = cl;
            c->retry_after = has_retry_after(c->head, hl);
            p += hl - (c->headlen - take);
        }
        c->body += e - p;
        if (c->status == 200 && c->check && !drop) b_feed(&c->b, (const uint8_t *)p, (size_t)(e - p));
    }
}

/* Start what is due: open loop, one per 1/rate since t_start; closed loop, fill every free one. */
static void fsc_generate(uint64_t now) {
    if (O.fsc_rate > 0) {
        uint64_t due = (uint64_t)(O.fsc_rate * (double)(now - t_start) / 1e9) + 1;
        for (; fsc_due < due; fsc_due++) {
            int i = 0;
            while (i < O.fsc_conns && fsc[i].state != C_FREE) i++;
            if (i == O.fsc_conns) { fsc_skipped++; continue; }
            fsc_start(i, now);
        }
    } else {
        for (int i = 0; i < O.fsc_conns; i++)
            if (fsc[i].state == C_FREE) fsc_start(i, now);
    }
}

static void fsc_expire(uint64_t now, int at_end) {
    uint64_t limit = (uint64_t)(O.fsc_timeout * 1e9);
    for (int i = 0; i < O.fsc_conns; i++) {
        fsc_t *c = &fsc[i];
        if (c->state == C_FREE || (!at_end && c->start_ns + limit > now)) continue;
        if (at_end) fsc_at_end++; else fsc_timeout++;
        fsc_close(c);
    }
}

/* ------------------------------------------------------------------ output */

/* the nonzero buckets as [microseconds, count] too, so that runs can be pooled (overload.py) */
static void print_hist(const char *name, const hist_t *h, int comma) {
    printf("    \"%s\": {\"n\": %" PRIu64 ", \"mean\": %.1f, \"p50\": %" PRIu64 ", \"p90\": %" PRIu64
           ", \"p99\": %" PRIu64 ", \"p999\": %" PRIu64 ", \"max\": %" PRIu64 ", \"buckets\": [",
           name, h->n, h->n ? h->sum / (double)h->n : 0.0, hpct(h, .5), hpct(h, .9), hpct(h, .99),
           hpct(h, .999), h->max);
    for (int i = 0, first = 1; i < HNB; i++)
        if (h->b[i]) {
            printf("%s[%" PRIu64 ", %" PRIu64 "]", first ? "" : ", ", hval(i), h->b[i]);
            first = 0;
        }
    printf("]}%s\n", comma ? "," : "");
}

static void print_json(void) {
    double window = (double)((t_deadline < t_end ? t_deadline : t_end) - t_start) / 1e9;
    double total = (double)(t_end - t_start) / 1e9;
    uint64_t vsum = 0, tsum = 0;
    for (int i = 0; i < NV; i++) vsum += verr[i];
    for (int i = 0; i < NT; i++) tsum += terr[i];
    printf("{\n  \"mode\": \"%s\",\n  \"proto\": \"%s\",\n", O.mode, populate_mode ? "udp" : O.proto);
    printf("  \"torrents\": %" PRIu64 ", \"peers\": %" PRIu64 ", \"sockets\": %d, \"window\": %d, "
           "\"http_conns\": %d, \"rate\": %.0f, \"numwant\": %d,\n",
           O.torrents, O.peers, O.sockets, upw * O.sockets, O.http_conns, O.rate, O.numwant);
    printf("  \"window_seconds\": %.6f,\n  \"elapsed_seconds\": %.6f,\n", window, total);
    printf("  \"counts\": {\"sent\": %" PRIu64 ", \"connect_ok\": %" PRIu64 ", \"announce_ok\": %" PRIu64
           ", \"scrape_ok\": %" PRIu64 ", \"announce_ok_in_window\": %" PRIu64
           ", \"scrape_ok_in_window\": %" PRIu64 ", \"scrape_hashes\": %" PRIu64 ", \"populated\": %" PRIu64 "},\n",
           n_sent, n_connect_ok, n_announce_ok, n_scrape_ok, n_announce_win, n_scrape_win,
           n_scrape_hashes, populate_mode ? n_announce_ok : 0);
    printf("  \"events_sent\": {");
    for (int i = 0; i < 4; i++) printf("%s\"%s\": %" PRIu64, i ? ", " : "", evname[i], n_events[i]);
    printf("},\n");
    printf("  \"announces_per_second\": %.1f,\n  \"requests_per_second\": %.1f,\n",
           window > 0 ? (double)n_announce_win / window : 0.0,
           window > 0 ? (double)(n_announce_win + n_scrape_win) / window : 0.0);
    printf("  \"validation_errors\": %" PRIu64 ",\n  \"transport_errors\": %" PRIu64 ",\n", vsum, tsum);
    printf("  \"errors\": {\"validation\": {");
    int first = 1;
    for (int i = 0; i < NV; i++)
        if (verr[i]) { printf("%s\"%s\": %" PRIu64, first ? "" : ", ", vname[i], verr[i]); first = 0; }
    printf("}, \"transport\": {");
    first = 1;
    for (int i = 0; i < NT; i++)
        if (terr[i]) { printf("%s\"%s\": %" PRIu64, first ? "" : ", ", tname[i], terr[i]); first = 0; }
    printf("}},\n");
    printf("  \"latency_us\": {\n");
    print_hist("announce", &lat_announce, 1);
    print_hist("scrape", &lat_scrape, 0);
    printf("  },\n");
    printf("  \"fullscrape\": {\"readers\": %d, \"started\": %" PRIu64 ", \"completed\": %" PRIu64
           ", \"bytes\": %" PRIu64 ", \"seconds_p50\": %.3f, \"seconds_max\": %.3f},\n",
           O.fs_readers, fs_started, fs_completed, fs_bytes, (double)hpct(&fs_time, .5) / 1e6,
           (double)fs_time.max / 1e6);
    uint64_t ann_sent = n_events[0] + n_events[1] + n_events[2] + n_events[3];
    printf("  \"sent\": {\"announce\": %" PRIu64 ", \"scrape\": %" PRIu64 ", \"per_second\": %.1f},\n",
           ann_sent, n_scrape_sent, window > 0 ? (double)n_sent / window : 0.0);
    printf("  \"open_loop\": {\"enabled\": %d, \"skipped\": %" PRIu64 "},\n", O.open_loop, n_skipped);
    printf("  \"udp_socket_drops\": %" PRIu64 ",\n  \"scheduling\": \"%s\",\n", udp_socket_drops(), scheduling);
    printf("  \"lost\": {\"announce\": %" PRIu64 ", \"scrape\": %" PRIu64 "},\n", n_lost[0], n_lost[1]);
    printf("  \"shed\": {\"udp_announce\": %" PRIu64 ", \"udp_scrape\": %" PRIu64 ", \"udp_connect\": %" PRIu64
           ", \"http\": %" PRIu64 ", \"http_retry_after\": %" PRIu64 "},\n",
           n_shed[K_ANNOUNCE], n_shed[K_SCRAPE], n_shed[K_CONNECT], n_http_shed, n_http_retry_after);
    printf("  \"fullscrape_flood\": {\"rate\": %.2f, \"conns\": %d, \"started\": %" PRIu64 ", \"ok\": %" PRIu64
           ", \"status_503\": %" PRIu64 ", \"retry_after\": %" PRIu64 ", \"status_other\": %" PRIu64
           ", \"bad_body\": %" PRIu64 ", \"refused\": %" PRIu64 ", \"reset\": %" PRIu64 ", \"timeout\": %" PRIu64
           ", \"skipped\": %" PRIu64 ", \"unfinished_at_end\": %" PRIu64 ", \"bytes\": %" PRIu64
           ", \"seconds_p50\": %.4f, \"seconds_p99\": %.4f, \"seconds_max\": %.4f, \"seconds_503_p50\": %.4f}\n}\n",
           O.fsc_rate, O.fsc_conns, fsc_started, fsc_ok, fsc_503, fsc_503_retry_after, fsc_status_other,
           fsc_bad_body, fsc_refused, fsc_reset, fsc_timeout, fsc_skipped, fsc_at_end, fsc_bytes,
           (double)hpct(&fsc_time, .5) / 1e6, (double)hpct(&fsc_time, .99) / 1e6, (double)fsc_time.max / 1e6,
           (double)hpct(&fsc_time_503, .5) / 1e6);
    fflush(stdout);
}

/* ------------------------------------------------------------------ main loops */

static int mode_hashes(void) {
    make_hashes();
    FILE *f = O.out ? fopen(O.out, "w") : stdout;
    if (!f) die("cannot open --out");
    for (uint64_t i = 0; i < O.torrents; i++) {
        for (int j = 0; j < 20; j++) fprintf(f, "%02x", hashes[i * 20 + j]);
        fputc('\n', f);
    }
    if (f != stdout) fclose(f);
    return 0;
}

static int run_loop(void) {
    int udp = populate_mode || !strcmp(O.proto, "udp");
    int http = !populate_mode && !strcmp(O.proto, "http");
    int none = !populate_mode && !strcmp(O.proto, "none");
    if (!udp && !http && !none) die("--proto must be udp, http or none");
    if (none && !O.fs_readers && !O.fsc_conns) die("--proto none: nothing to do without full scrapes");
    if (O.open_loop && !udp) die("--open-loop is for UDP requests (full scrapes have --fullscrape-rate)");
    if (udp && !O.udp_port) die("--udp-port is required");
    if ((http || O.fs_readers || O.fsc_conns) && !O.tcp_port) die("--tcp-port is required");
    if (O.peers == 0) die("--peers must be at least 1");
    make_hashes();
    rng ^= O.seed * 0x9E3779B97F4A7C15ULL + (uint64_t)getpid();
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1 failed");
    tcp_srv = server_addr(O.tcp_port ? O.tcp_port : O.udp_port);
    if (udp) {
        udp_open();
        udp_connect_all();
        int ok = 0;
        for (int i = 0; i < O.sockets; i++) ok += us[i].ok;
        if (!ok) {
            t_start = t_deadline = t_end = now_ns();
            print_json();
            return 2;
        }
    }
    if (http) {
        hc = calloc(O.http_conns, sizeof *hc);
        if (!hc) die("out of memory");
        for (int i = 0; i < O.http_conns; i++) hc[i].fd = -1;
    }
    if (O.fs_readers) {
        fs = calloc(O.fs_readers, sizeof *fs);
        fs_chunkbuf = malloc(O.fs_chunk);
        fs_idle_until = calloc(O.fs_readers, sizeof *fs_idle_until);
        if (!fs || !fs_chunkbuf || !fs_idle_until) die("out of memory");
        for (int i = 0; i < O.fs_readers; i++) {
            fs[i].fd = -1;
            fs_idle_until[i] = now_ns() + (uint64_t)i * 250000000ULL; /* staggered starts */
        }
    }
    if (O.fsc_conns) {
        fsc = calloc(O.fsc_conns, sizeof *fsc);
        fsc_sink = malloc(FSC_SINK);
        if (!fsc || !fsc_sink) die("out of memory");
        for (int i = 0; i < O.fsc_conns; i++) fsc[i].fd = -1;
    }
    /* --delay: connected first, load later (clients keep a connection id for two minutes) */
    for (uint64_t until = now_ns() + (uint64_t)(O.delay * 1e9); !stop_flag && now_ns() < until;) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    t_start = now_ns();
    double dur = populate_mode ? O.max_seconds : O.duration;
    t_deadline = t_start + (uint64_t)(dur * 1e9);
    double drain = O.timeout < 2.0 ? O.timeout : 2.0;
    uint64_t t_hard = t_deadline + (uint64_t)(drain * 1e9);
    uint64_t last_expire = t_start;
    struct epoll_event evs[256];
    for (;;) {
        uint64_t now = now_ns();
        int generating = now < t_deadline && !stop_flag;
        if (populate_mode && pop_next >= O.peers && rq_tail == rq_head) generating = 0;
        if (!generating && u_inflight == 0 && h_active == 0 && fsc_active == 0) break;
        if (now >= t_hard || (stop_flag && now >= t_deadline)) break;
        if (stop_flag && t_deadline > now) { t_deadline = now; t_hard = now + (uint64_t)(drain * 1e9); }
        /* budget: paced or as many as the window takes */
        uint64_t budget = UINT64_MAX;
        if (O.rate > 0) {
            uint64_t allowed = (uint64_t)(O.rate * (double)(now - t_start) / 1e9) + 1;
            budget = allowed > n_sent + n_skipped ? allowed - n_sent - n_skipped : 0;
        }
        if (generating && udp && budget) {
            uint64_t made = udp_generate(budget, now);
            /* open loop: what found no slot is not sent later but lost, so no catch-up burst */
            if (O.open_loop && made < budget) n_skipped += budget - made;
            budget -= made;
        }
        if (generating && O.fsc_conns) fsc_generate(now);
        if (generating && http) {
            for (int i = 0; i < O.http_conns && budget; i++)
                if (hc[i].state == H_FREE) { http_start(i, now); budget--; }
        }
        /* full-scrape readers */
        int wait_ms = 100;
        if (O.fs_readers) {
            for (int i = 0; i < O.fs_readers; i++) {
                fsr_t *f = &fs[i];
                if (f->state == F_IDLE && generating && now >= fs_idle_until[i]) fs_start(i, now);
                if (f->state == F_READING && now >= f->next_ns) fs_read(f, now);
                if (f->state == F_READING) {
                    uint64_t w = f->next_ns > now ? (f->next_ns - now) / 1000000 : 0;
                    if ((int)w < wait_ms) wait_ms = (int)w;
                }
            }
        }
        if (generating && O.rate > 0) {
            if (!O.open_loop) { /* open loop: see below */
                double next = (double)(n_sent + 1) / O.rate * 1e9 + (double)t_start;
                int w = next > (double)now ? (int)((next - (double)now) / 1e6) : 0;
                if (w < wait_ms) wait_ms = w;
            }
        } else if (generating && udp && u_inflight < (uint64_t)upw * O.sockets / 2) {
            wait_ms = 0;
        }
        if (generating && http && h_active < O.http_conns && budget) wait_ms = 0;
        if (now - last_expire > 50000000ULL) {
            if (udp) udp_expire(now, 0);
            if (http) http_expire(now, 0);
            if (O.fsc_conns) fsc_expire(now, 0);
            last_expire = now;
        }
        int n;
        if (O.open_loop || O.fsc_rate > 0) {
            /* Open loop sleeps to the next due start (in steps of at least 0.1 ms, which then go
               out together) instead of spinning: the scenario runs several generators on one CPU,
               and a spinning one would make the others' sends late and bursty. */
            uint64_t wait_ns = (uint64_t)wait_ms * 1000000ULL, next;
            if (generating && O.open_loop) {
                next = t_start + (uint64_t)((double)(n_sent + n_skipped) / O.rate * 1e9);
                if (next <= now) next = now;
                if (next - now < wait_ns) wait_ns = next - now;
            }
            if (generating && O.fsc_rate > 0) {
                next = t_start + (uint64_t)((double)fsc_due / O.fsc_rate * 1e9);
                if (next <= now) next = now;
                if (next - now < wait_ns) wait_ns = next - now;
            }
            if (wait_ns < 100000) wait_ns = 100000;
            struct timespec ts = {.tv_sec = (time_t)(wait_ns / 1000000000ULL), .tv_nsec = (long)(wait_ns % 1000000000ULL)};
            n = epoll_pwait2(epfd, evs, 256, &ts, NULL);
        } else n = epoll_wait(epfd, evs, 256, wait_ms);
        uint64_t t = now_ns();
        for (int e = 0; e < n; e++) {
            uint64_t tag = evs[e].data.u64 >> 32;
            int idx = (int)(evs[e].data.u64 & 0xffffffff);
            if (tag == TAG_UDP) udp_readable(idx);
            else if (tag == TAG_HTTP) http_event(idx, evs[e].events, t);
            else if (tag == TAG_FS) fs_event(idx, t);
            else if (tag == TAG_FSC) fsc_event(idx, t);
        }
    }
    t_end = now_ns();
    if (udp) udp_expire(t_end, 1);
    if (http) http_expire(t_end, 1);
    if (O.fsc_conns) fsc_expire(t_end, 1);
    for (int i = 0; i < O.fs_readers; i++) fs_close(&fs[i]);
    print_json();
    return 0;
}

int main(int argc, char **argv) {
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (!strcmp(O.mode, "hashes")) return mode_hashes();
    if (!strcmp(O.mode, "populate")) { populate_mode = 1; return run_loop(); }
    if (!strcmp(O.mode, "run")) {
        if (O.fifo) {
            struct sched_param sp = {.sched_priority = O.fifo};
            if (sched_setscheduler(0, SCHED_FIFO, &sp) == 0)
                snprintf(scheduling, sizeof scheduling, "fifo %d", O.fifo);
            else
                snprintf(scheduling, sizeof scheduling, "other (fifo refused: %s)", strerror(errno));
        }
        return run_loop();
    }
    usage();
    return 1;
}
