/*
 * fsreaders.c: the full-scrape readers of bench/fsreaders.py (issue 15), "many indexers".
 *
 *   fsreaders --port PORT --expect T [--readers N] [--slow M] [--duration S] [--count C]
 *             [--gzip] [--slow-chunk B] [--slow-interval-ms MS] [--timeout S] [--drain S]
 *             [--retry-ms MS] [--spread S]
 *
 * One process, one thread, one epoll loop; meant to be pinned to its own CPU. Traffic goes to
 * 127.0.0.1 only, each reader from its own source address in 127.2.0.0/16.
 *
 * Readers. N fast readers read everything as it comes; M slow readers read --slow-chunk bytes
 * every --slow-interval-ms with a receive buffer of the same size, so the server, not the
 * kernel, has to hold what they have not read yet. Each reader sends
 * `GET /scrape HTTP/1.1` (with `Accept-Encoding: gzip` under --gzip) and, when an answer is
 * complete and valid, the next request at once: on the same connection when the answer
 * allows it (HTTP/1.1, framed, no `Connection: close`), else on a new one. A request that
 * finds its reused connection closed before any byte is sent again on a new connection (a
 * server may close an idle connection at any time), which is not an error. After a failed
 * full scrape the reader waits --retry-ms before the next, so a server that refuses fast is
 * not turned into a connect loop.
 *
 * Answers. Framing by Transfer-Encoding: chunked (decoded), Content-Length, or the end of
 * the connection, as the server chooses; counted per kind. `Content-Encoding: gzip` is
 * inflated (zlib) and only accepted when asked for. The decoded body must be one bencoded
 * dict `d5:filesd ... ee` whose files dict holds exactly --expect entries (0: any number),
 * each a 20-byte key with a dict of the integers complete, downloaded and incomplete; the
 * parse is streaming, so truncation anywhere is caught.
 *
 * Starts are spread evenly over --spread seconds (fast and slow readers each).
 *
 * Bounded: no new full scrape starts after --duration seconds or once --count have started;
 * those in flight get --drain more seconds; a full scrape that gets no byte for --timeout
 * seconds is aborted.
 *
 * Output: one JSON object on stdout, with the CLOCK_MONOTONIC time (ms) of every completed
 * full scrape (fast and slow apart), so the caller can count those inside its own window.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "fscheck.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static struct {
    int port, readers, slow, gzip, slow_chunk, slow_interval_ms, retry_ms;
    long long expect, count;
    double duration, timeout, drain, spread;
} O = {.slow_chunk = 16384, .slow_interval_ms = 10, .retry_ms = 100, .expect = 0, .count = 0,
       .duration = 10, .timeout = 10, .drain = 30};

static void die(const char *msg) {
    fprintf(stderr, "fsreaders: %s\n", msg);
    exit(1);
}

static void usage(void) {
    fprintf(stderr, "usage: fsreaders --port PORT --expect T [--readers N] [--slow M] [--duration S]\n"
                    "  [--count C] [--gzip] [--slow-chunk B] [--slow-interval-ms MS] [--timeout S]\n"
                    "  [--drain S] [--retry-ms MS] [--spread S]\n");
    exit(1);
}

static void parse_args(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        if (!strcmp(k, "--gzip")) { O.gzip = 1; continue; }
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (!strcmp(k, "--port")) O.port = atoi(v);
        else if (!strcmp(k, "--readers")) O.readers = atoi(v);
        else if (!strcmp(k, "--slow")) O.slow = atoi(v);
        else if (!strcmp(k, "--expect")) O.expect = atoll(v);
        else if (!strcmp(k, "--count")) O.count = atoll(v);
        else if (!strcmp(k, "--duration")) O.duration = atof(v);
        else if (!strcmp(k, "--timeout")) O.timeout = atof(v);
        else if (!strcmp(k, "--drain")) O.drain = atof(v);
        else if (!strcmp(k, "--spread")) O.spread = atof(v);
        else if (!strcmp(k, "--slow-chunk")) O.slow_chunk = atoi(v);
        else if (!strcmp(k, "--slow-interval-ms")) O.slow_interval_ms = atoi(v);
        else if (!strcmp(k, "--retry-ms")) O.retry_ms = atoi(v);
        else usage();
    }
    if (O.port < 1 || O.port > 65535) die("--port is required (1..65535)");
    if (O.readers < 0 || O.slow < 0 || O.readers + O.slow < 1 || O.readers + O.slow > 60000)
        die("--readers + --slow must be 1..60000");
    if (O.expect < 0 || O.count < 0) die("--expect and --count must not be negative");
    if (O.duration <= 0 || O.duration > 3600) die("--duration out of range");
    if (O.timeout <= 0 || O.timeout > 600 || O.drain < 0 || O.drain > 600 || O.spread < 0 || O.spread > 600)
        die("--timeout/--drain/--spread out of range");
    if (O.slow_chunk < 1 || O.slow_chunk > 256 * 1024) die("--slow-chunk out of range (1..262144)");
    if (O.slow_interval_ms < 1 || O.slow_interval_ms > 10000) die("--slow-interval-ms out of range");
    if (O.retry_ms < 0 || O.retry_ms > 60000) die("--retry-ms out of range");
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ counters */

enum { V_EMPTY, V_STATUS, V_HEADER, V_FRAMING, V_TRUNCATED, V_TOO_LONG, V_ENCODING, V_GZIP,
       V_BENCODE, V_SHAPE, V_COUNT, NV };
static const char *vname[NV] = {"empty", "status", "header", "framing", "truncated", "too_long",
                                "encoding", "gzip", "bencode", "shape", "count"};
enum { T_CONNECT, T_RESET, T_TIMEOUT, T_UNFINISHED, T_SOCKET, NT };
static const char *tname[NT] = {"connect", "reset", "timeout", "unfinished_at_end", "socket"};
static uint64_t verr[NV], terr[NT];
static uint64_t n_started, n_done_fast, n_done_slow, n_reconnect, n_reused;
static uint64_t n_chunked, n_length, n_close, n_gzipped, wire_bytes, body_bytes;
static long long entries_min = -1, entries_max = -1;
static int status_seen[8]; /* first statuses other than 200, for the report */
static int n_status_seen;

#define HNB 4096 /* per-scrape time histogram: 10 ms buckets up to 40 s, and a max */
typedef struct { uint64_t n, b[HNB], max_ms; } hist_t;
static hist_t h_fast, h_slow;
static void hadd(hist_t *h, uint64_t ms) {
    h->n++;
    h->b[ms / 10 < HNB ? ms / 10 : HNB - 1]++;
    if (ms > h->max_ms) h->max_ms = ms;
}
static uint64_t hpct(const hist_t *h, double q) {
    uint64_t want = (uint64_t)(q * (double)h->n + 0.999999), c = 0;
    if (!h->n) return 0;
    for (int i = 0; i < HNB; i++)
        if ((c += h->b[i]) >= want) return (uint64_t)i * 10 + 5 < h->max_ms ? (uint64_t)i * 10 + 5 : h->max_ms;
    return h->max_ms;
}

typedef struct { uint64_t *ms; size_t n, cap; } times_t; /* CLOCK_MONOTONIC ms of completions */
static times_t done_fast, done_slow;
static void times_add(times_t *t, uint64_t ms) {
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 4096;
        t->ms = realloc(t->ms, t->cap * sizeof *t->ms);
        if (!t->ms) die("out of memory");
    }
    t->ms[t->n++] = ms;
}

/* ------------------------------------------------------------------ bencode, streaming */

/* the checker's faults as this program's counters */
static int b_err_kind(const bstate_t *b) { return b->err == FSC_SHAPE ? V_SHAPE : V_BENCODE; }

/* ------------------------------------------------------------------ readers */

enum { R_IDLE, R_CONNECTING, R_READING };
enum { C_SIZE, C_EXT, C_SIZE_LF, C_DATA, C_DATA_CR, C_DATA_LF, C_TRAILER, C_TRAILER_LF, C_DONE };

typedef struct {
    int fd, state, slow, idx;
    int reused, got_any, reconnects;
    uint64_t start_ns, next_ns, last_io_ns, idle_until;
    /* answer */
    char head[4096];
    int headlen, hdr_done, status, chunked, gz, keepalive;
    long long cl, raw;
    /* chunked decoder */
    int cst;
    long long csize;
    int cdigits, tr_len;
    /* gzip */
    z_stream z;
    int z_init, z_end;
    bstate_t b;
    long long decoded;
} reader_t;

static reader_t *rd;
static int epfd;
static struct sockaddr_in srv;
static uint8_t *rxbuf, *zbuf;
#define RXBUF (256 * 1024)
#define ZBUF (256 * 1024)
static char req[512];
static int reqlen;

static uint32_t src_addr(int i) { /* 127.2.x.y, y in 2..251 */
    return (127u << 24) | (2u << 16) | ((uint32_t)(i / 250) << 8) | (uint32_t)(i % 250 + 2);
}

static void r_close(reader_t *r) {
    if (r->fd >= 0) close(r->fd);
    r->fd = -1;
    r->state = R_IDLE;
}

static void r_reset_answer(reader_t *r) {
    if (r->z_init) inflateEnd(&r->z);
    r->z_init = r->z_end = 0;
    r->headlen = r->hdr_done = r->status = r->chunked = r->gz = r->keepalive = 0;
    r->cl = -1;
    r->raw = r->decoded = 0;
    r->cst = C_SIZE;
    r->csize = 0;
    r->cdigits = r->tr_len = 0;
    r->got_any = 0;
    b_init(&r->b);
}

static int r_send(reader_t *r) {
    ssize_t n = send(r->fd, req, reqlen, MSG_NOSIGNAL);
    return n == reqlen ? 0 : -1;
}

static void r_connect(reader_t *r, uint64_t now) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { terr[T_SOCKET]++; r->idle_until = now + 1000000000ULL; return; }
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (r->slow) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &O.slow_chunk, sizeof O.slow_chunk);
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(src_addr(r->idx))};
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
        close(fd);
        terr[T_SOCKET]++;
        r->idle_until = now + 1000000000ULL;
        return;
    }
    r->fd = fd;
    r->state = R_CONNECTING;
    r->reused = 0;
    r->last_io_ns = now;
    if (connect(fd, (struct sockaddr *)&srv, sizeof srv) < 0 && errno != EINPROGRESS) {
        terr[T_CONNECT]++;
        r_close(r);
        r->idle_until = now + (uint64_t)O.retry_ms * 1000000ULL;
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)r->idx};
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* a new full scrape: on the kept connection when there is one */
static void r_start(reader_t *r, uint64_t now) {
    r_reset_answer(r);
    r->start_ns = now;
    n_started++;
    if (r->fd >= 0) {
        r->reused = 1;
        n_reused++;
        r->state = R_READING;
        r->last_io_ns = now;
        r->next_ns = now;
        if (r_send(r) == 0) return;
        r_close(r); /* the server had closed it: a new connection, not an error */
        n_reconnect++;
    }
    r_connect(r, now);
}

static void r_fail(reader_t *r, int verr_kind, int terr_kind, uint64_t now) {
    if (verr_kind >= 0) verr[verr_kind]++;
    if (terr_kind >= 0) terr[terr_kind]++;
    if (r->z_init) { inflateEnd(&r->z); r->z_init = 0; }
    r_close(r);
    r->idle_until = now + (uint64_t)O.retry_ms * 1000000ULL;
}

static void r_done(reader_t *r, uint64_t now) {
    int e = -1;
    if (r->gz && !r->z_end) e = V_GZIP;
    else if (r->b.err) e = b_err_kind(&r->b);
    else if (r->b.st != B_END) e = V_TRUNCATED;
    else if (O.expect && r->b.entries != O.expect) e = V_COUNT;
    if (e >= 0) { r_fail(r, e, -1, now); return; }
    uint64_t ms = (now - r->start_ns) / 1000000ULL;
    if (r->slow) { n_done_slow++; hadd(&h_slow, ms); }
    else { n_done_fast++; hadd(&h_fast, ms); }
    times_add(r->slow ? &done_slow : &done_fast, now / 1000000U);
    if (entries_min < 0 || r->b.entries < entries_min) entries_min = r->b.entries;
    if (r->b.entries > entries_max) entries_max = r->b.entries;
    if (r->gz) inflateEnd(&r->z);
    r->z_init = 0;
    body_bytes += (uint64_t)r->decoded;
    if (!r->keepalive) r_close(r);
    else r->state = R_IDLE; /* fd kept: r_start reuses it */
    r->idle_until = now;
}

static void body_decoded(reader_t *r, const uint8_t *p, size_t n) {
    r->decoded += (long long)n;
    b_feed(&r->b, p, n);
}

/* body bytes after transfer decoding: through inflate when gzipped */
static int body_bytes_in(reader_t *r, const uint8_t *p, size_t n) {
    if (!r->gz) { body_decoded(r, p, n); return 0; }
    if (r->z_end) return n ? V_GZIP : 0; /* bytes after the gzip trailer */
    r->z.next_in = (Bytef *)p;
    r->z.avail_in = (uInt)n;
    while (r->z.avail_in > 0 || r->z.avail_out == 0) {
        r->z.next_out = zbuf;
        r->z.avail_out = ZBUF;
        int rc = inflate(&r->z, Z_NO_FLUSH);
        body_decoded(r, zbuf, ZBUF - r->z.avail_out);
        if (rc == Z_STREAM_END) {
            r->z_end = 1;
            return r->z.avail_in ? V_GZIP : 0;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) return V_GZIP;
        if (rc == Z_BUF_ERROR && r->z.avail_in == 0) break;
    }
    return 0;
}

/* Transfer decoding of n wire bytes of body. Returns an error kind, or -1, and sets
   *complete when the answer's last byte was seen. */
static int body_wire(reader_t *r, const uint8_t *p, size_t n, int *complete) {
    const uint8_t *e = p + n;
    *complete = 0;
    if (!r->chunked) {
        if (r->cl >= 0 && r->raw + (long long)n > r->cl) return V_TOO_LONG;
        r->raw += (long long)n;
        int rc = body_bytes_in(r, p, n);
        if (rc) return rc;
        if (r->cl >= 0 && r->raw == r->cl) *complete = 1;
        return -1;
    }
    r->raw += (long long)n;
    while (p < e) {
        int c = *p;
        switch (r->cst) {
        case C_SIZE: {
            int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (v >= 0) {
                if (++r->cdigits > 15) return V_FRAMING;
                r->csize = r->csize * 16 + v;
            } else if (!r->cdigits) return V_FRAMING;
            else if (c == ';' || c == ' ' || c == '\t') r->cst = C_EXT;
            else if (c == '\r') r->cst = C_SIZE_LF;
            else return V_FRAMING;
            p++;
            break;
        }
        case C_EXT:
            if (c == '\r') r->cst = C_SIZE_LF;
            else if (c == '\n') return V_FRAMING;
            p++;
            break;
        case C_SIZE_LF:
            if (c != '\n') return V_FRAMING;
            p++;
            r->cst = r->csize ? C_DATA : C_TRAILER;
            r->tr_len = 0;
            break;
        case C_DATA: {
            size_t take = (size_t)r->csize < (size_t)(e - p) ? (size_t)r->csize : (size_t)(e - p);
            int rc = body_bytes_in(r, p, take);
            if (rc) return rc;
            p += take;
            r->csize -= (long long)take;
            if (!r->csize) r->cst = C_DATA_CR;
            break;
        }
        case C_DATA_CR:
            if (c != '\r') return V_FRAMING;
            p++;
            r->cst = C_DATA_LF;
            break;
        case C_DATA_LF:
            if (c != '\n') return V_FRAMING;
            p++;
            r->cst = C_SIZE;
            r->csize = 0;
            r->cdigits = 0;
            break;
        case C_TRAILER: /* trailer fields, then an empty line */
            if (c == '\r') r->cst = C_TRAILER_LF;
            else if (++r->tr_len > 8192) return V_FRAMING;
            p++;
            break;
        case C_TRAILER_LF:
            if (c != '\n') return V_FRAMING;
            p++;
            if (r->tr_len == 0) { r->cst = C_DONE; *complete = 1; }
            else { r->tr_len = 0; r->cst = C_TRAILER; }
            break;
        case C_DONE:
            return V_TOO_LONG;
        }
    }
    return -1;
}

static int header_has_token(const char *v, const char *ve, const char *tok) {
    size_t tl = strlen(tok);
    for (const char *q = v; q + tl <= ve; q++)
        if (!strncasecmp(q, tok, tl) && (q == v || q[-1] == ' ' || q[-1] == ',' || q[-1] == '\t') &&
            (q + tl == ve || q[tl] == ' ' || q[tl] == ',' || q[tl] == '\t' || q[tl] == ';'))
            return 1;
    return 0;
}

/* Parse the header once complete. Returns its length, 0 if incomplete, or -error kind. */
static int parse_head(reader_t *r) {
    const char *b = r->head, *end = NULL;
    for (int i = 0; i + 3 < r->headlen; i++)
        if (b[i] == '\r' && b[i + 1] == '\n' && b[i + 2] == '\r' && b[i + 3] == '\n') { end = b + i + 4; break; }
    if (!end) return r->headlen >= (int)sizeof r->head ? -V_HEADER : 0;
    if (r->headlen < 12 || memcmp(b, "HTTP/1.", 7) || b[8] != ' ') return -V_HEADER;
    for (int i = 9; i < 12; i++)
        if (b[i] < '0' || b[i] > '9') return -V_HEADER;
    int http11 = b[7] == '1';
    r->status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
    int conn_close = 0, conn_keep = 0, te = 0;
    const char *p = memchr(b, '\n', end - b) + 1;
    while (p < end - 2) {
        const char *nl = memchr(p, '\n', end - p);
        const char *colon = memchr(p, ':', nl - p);
        if (!colon || nl[-1] != '\r') return -V_HEADER;
        const char *v = colon + 1, *ve = nl - 1;
        while (v < ve && (*v == ' ' || *v == '\t')) v++;
        size_t kl = colon - p;
        if (kl == 14 && !strncasecmp(p, "Content-Length", 14)) {
            long long n = 0;
            const char *d = v;
            while (v < ve && *v >= '0' && *v <= '9' && v - d < 15) n = n * 10 + (*v++ - '0');
            if (v == d || v != ve || (r->cl >= 0 && r->cl != n)) return -V_HEADER;
            r->cl = n;
        } else if (kl == 17 && !strncasecmp(p, "Transfer-Encoding", 17)) {
            if (!header_has_token(v, ve, "chunked")) return -V_FRAMING; /* nothing else is sent to us */
            te = 1;
        } else if (kl == 16 && !strncasecmp(p, "Content-Encoding", 16)) {
            if (!header_has_token(v, ve, "gzip") || !O.gzip) return -V_ENCODING;
            r->gz = 1;
        } else if (kl == 10 && !strncasecmp(p, "Connection", 10)) {
            conn_close |= header_has_token(v, ve, "close");
            conn_keep |= header_has_token(v, ve, "keep-alive");
        }
        p = nl + 1;
    }
    /* RFC 9112 6.1/6.3: chunked on HTTP/1.0 or beside Content-Length is a framing error */
    if (te && (!http11 || r->cl >= 0)) return -V_FRAMING;
    r->chunked = te;
    int framed = te || r->cl >= 0;
    r->keepalive = framed && !conn_close && (http11 || conn_keep);
    if (r->status == 200) {
        if (te) n_chunked++;
        else if (r->cl >= 0) n_length++;
        else n_close++;
        if (r->gz) n_gzipped++;
    }
    return (int)(end - b);
}

static void r_readable(reader_t *r, uint64_t now) {
    int rounds = r->slow ? 1 : 4; /* fairness between fast readers */
    for (int k = 0; k < rounds && r->state == R_READING; k++) {
        size_t want = r->slow ? (size_t)O.slow_chunk : RXBUF;
        ssize_t n = recv(r->fd, rxbuf, want, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            if (r->reused && !r->got_any) goto reconnect;
            r_fail(r, -1, T_RESET, now);
            return;
        }
        r->last_io_ns = now;
        if (n == 0) {
            if (r->reused && !r->got_any) goto reconnect;
            if (!r->got_any) { r_fail(r, V_EMPTY, -1, now); return; }
            if (!r->hdr_done) { r_fail(r, V_HEADER, -1, now); return; }
            if (r->chunked || r->cl >= 0) { r_fail(r, V_TRUNCATED, -1, now); return; }
            r->keepalive = 0;
            r_done(r, now); /* the body ended with the connection */
            return;
        }
        r->got_any = 1;
        wire_bytes += (uint64_t)n;
        const uint8_t *p = rxbuf, *e = rxbuf + n;
        if (!r->hdr_done) {
            int take = (int)(e - p);
            if (take > (int)sizeof r->head - r->headlen) take = (int)sizeof r->head - r->headlen;
            memcpy(r->head + r->headlen, p, take);
            r->headlen += take;
            int hl = parse_head(r);
            if (hl < 0) { r_fail(r, -hl, -1, now); return; }
            if (hl == 0) continue;
            if (r->status != 200) {
                if (n_status_seen < 8) status_seen[n_status_seen++] = r->status;
                r_fail(r, V_STATUS, -1, now);
                return;
            }
            r->hdr_done = 1;
            if (r->gz) {
                memset(&r->z, 0, sizeof r->z);
                if (inflateInit2(&r->z, 16 + MAX_WBITS) != Z_OK) die("inflateInit2 failed");
                r->z_init = 1;
            }
            p += hl - (r->headlen - take);
            if (r->cl == 0 && !r->chunked) { r_done(r, now); return; }
        }
        int complete = 0;
        int err = body_wire(r, p, (size_t)(e - p), &complete);
        if (err >= 0) { r_fail(r, err, -1, now); return; }
        if (r->b.err) { r_fail(r, b_err_kind(&r->b), -1, now); return; }
        if (complete) { r_done(r, now); return; }
    }
    return;
reconnect:
    n_reconnect++;
    n_reused--;
    r_close(r);
    r_connect(r, now);
}

static void r_event(reader_t *r, uint32_t events, uint64_t now) {
    if (r->state == R_CONNECTING) {
        int err = 0;
        socklen_t sl = sizeof err;
        getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &sl);
        if (err || r_send(r) != 0) { r_fail(r, -1, T_CONNECT, now); return; }
        r->state = R_READING;
        r->last_io_ns = now;
        r->next_ns = now;
        /* slow readers are paced by the clock alone: out of epoll, whose HUP/ERR would spin */
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)r->idx};
        epoll_ctl(epfd, r->slow ? EPOLL_CTL_DEL : EPOLL_CTL_MOD, r->fd, &ev);
        return;
    }
    if (r->state == R_READING && !r->slow && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) r_readable(r, now);
}

/* ------------------------------------------------------------------ main */

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) { (void)sig; stop_flag = 1; }

static void print_json(uint64_t t_start, uint64_t t_deadline, uint64_t t_end) {
    uint64_t vsum = 0, tsum = 0;
    for (int i = 0; i < NV; i++) vsum += verr[i];
    for (int i = 0; i < NT; i++) tsum += terr[i];
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    printf("{\n  \"readers\": %d, \"slow\": %d, \"gzip\": %s, \"expect\": %lld,\n", O.readers, O.slow,
           O.gzip ? "true" : "false", O.expect);
    printf("  \"t_start_ms\": %" PRIu64 ", \"t_deadline_ms\": %" PRIu64 ", \"t_end_ms\": %" PRIu64 ",\n",
           t_start / 1000000U, t_deadline / 1000000U, t_end / 1000000U);
    printf("  \"cpu_seconds\": %.3f,\n", cpu);
    printf("  \"started\": %" PRIu64 ", \"completed\": %" PRIu64 ", \"completed_slow\": %" PRIu64
           ", \"reused\": %" PRIu64 ", \"reconnects\": %" PRIu64 ",\n",
           n_started, n_done_fast, n_done_slow, n_reused, n_reconnect);
    printf("  \"framing\": {\"chunked\": %" PRIu64 ", \"content_length\": %" PRIu64 ", \"close\": %" PRIu64
           "}, \"gzipped\": %" PRIu64 ",\n", n_chunked, n_length, n_close, n_gzipped);
    printf("  \"wire_bytes\": %" PRIu64 ", \"body_bytes\": %" PRIu64 ", \"entries_min\": %lld, "
           "\"entries_max\": %lld,\n", wire_bytes, body_bytes, entries_min, entries_max);
    printf("  \"seconds\": {\"p50\": %.3f, \"p90\": %.3f, \"max\": %.3f, \"slow_p50\": %.3f, \"slow_max\": %.3f},\n",
           hpct(&h_fast, .5) / 1e3, hpct(&h_fast, .9) / 1e3, h_fast.max_ms / 1e3, hpct(&h_slow, .5) / 1e3,
           h_slow.max_ms / 1e3);
    printf("  \"validation_errors\": %" PRIu64 ", \"transport_errors\": %" PRIu64 ",\n", vsum, tsum);
    printf("  \"errors\": {\"validation\": {");
    int first = 1;
    for (int i = 0; i < NV; i++)
        if (verr[i]) { printf("%s\"%s\": %" PRIu64, first ? "" : ", ", vname[i], verr[i]); first = 0; }
    printf("}, \"transport\": {");
    first = 1;
    for (int i = 0; i < NT; i++)
        if (terr[i]) { printf("%s\"%s\": %" PRIu64, first ? "" : ", ", tname[i], terr[i]); first = 0; }
    printf("}, \"statuses\": [");
    for (int i = 0; i < n_status_seen; i++) printf("%s%d", i ? ", " : "", status_seen[i]);
    printf("]},\n");
    for (int k = 0; k < 2; k++) {
        const times_t *t = k ? &done_slow : &done_fast;
        printf("  \"%s\": [", k ? "completed_slow_ms" : "completed_ms");
        for (size_t i = 0; i < t->n; i++) printf("%s%" PRIu64, i ? (i % 16 ? ", " : ",\n    ") : "", t->ms[i]);
        printf("]%s\n", k ? "" : ",");
    }
    printf("}\n");
    fflush(stdout);
}

int main(int argc, char **argv) {
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    srv = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(O.port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    reqlen = snprintf(req, sizeof req, "GET /scrape HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: fsreaders\r\n%s\r\n",
                      O.port, O.gzip ? "Accept-Encoding: gzip\r\n" : "");
    int n = O.readers + O.slow;
    rd = calloc(n, sizeof *rd);
    rxbuf = malloc(RXBUF);
    zbuf = malloc(ZBUF);
    if (!rd || !rxbuf || !zbuf) die("out of memory");
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1 failed");
    uint64_t t_start = now_ns();
    for (int i = 0; i < n; i++) {
        rd[i].fd = -1;
        rd[i].idx = i;
        rd[i].slow = i >= O.readers;
        /* spread over --spread: readers that start together tend to finish together */
        int j = rd[i].slow ? i - O.readers : i, m = rd[i].slow ? O.slow : O.readers;
        rd[i].idle_until = t_start + (uint64_t)(O.spread * 1e9 * j / m);
    }
    uint64_t t_deadline = t_start + (uint64_t)(O.duration * 1e9);
    uint64_t t_hard = t_deadline + (uint64_t)(O.drain * 1e9);
    uint64_t tmo = (uint64_t)(O.timeout * 1e9), last_sweep = t_start;
    struct epoll_event evs[512];
    for (;;) {
        uint64_t now = now_ns();
        int generating = now < t_deadline && !stop_flag && (!O.count || n_started < (uint64_t)O.count);
        if (now >= t_hard || stop_flag) break;
        int busy = 0, wait_ms = 100;
        for (int i = 0; i < n; i++) {
            reader_t *r = &rd[i];
            if (r->state == R_IDLE) {
                if (generating && now >= r->idle_until) r_start(r, now);
                else if (generating) {
                    uint64_t w = (r->idle_until - now) / 1000000ULL;
                    if ((int)w < wait_ms) wait_ms = (int)w;
                } else if (r->fd >= 0) r_close(r); /* a kept connection nobody will use */
            }
            if (r->state == R_READING && r->slow && now >= r->next_ns) {
                r->next_ns = now + (uint64_t)O.slow_interval_ms * 1000000ULL;
                r_readable(r, now);
            }
            if (r->state == R_READING && r->slow) {
                uint64_t w = r->next_ns > now ? (r->next_ns - now) / 1000000ULL : 0;
                if ((int)w < wait_ms) wait_ms = (int)w;
            }
            busy += r->state != R_IDLE;
        }
        if (!generating && !busy) break;
        if (now - last_sweep > 100000000ULL) {
            for (int i = 0; i < n; i++)
                if (rd[i].state != R_IDLE && rd[i].last_io_ns + tmo < now) r_fail(&rd[i], -1, T_TIMEOUT, now);
            last_sweep = now;
        }
        int ne = epoll_wait(epfd, evs, 512, wait_ms);
        uint64_t t = now_ns();
        for (int e = 0; e < ne; e++) r_event(&rd[evs[e].data.u32], evs[e].events, t);
    }
    uint64_t t_end = now_ns();
    for (int i = 0; i < n; i++)
        if (rd[i].state != R_IDLE) { terr[T_UNFINISHED]++; r_close(&rd[i]); }
        else if (rd[i].fd >= 0) r_close(&rd[i]);
    print_json(t_start, t_deadline, t_end);
    return 0;
}
