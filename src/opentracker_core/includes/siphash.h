/* SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
   INDOCRYPT 2012), the keyed hash behind UDP connection ids (a 64-bit MAC of
   the client address and a time window under a random per-process key, so
   ids cannot be forged without the key) and the tags of keyed live-sync
   packets (docs/cluster-keys.md). Proved with the 64 test vectors of the
   paper's reference implementation (tests/test_livesync_keyed.py). */
#ifndef OT_SIPHASH_H
#define OT_SIPHASH_H
#include <stddef.h>
#include <stdint.h>

static inline uint64_t ot_sip_rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

static inline uint64_t ot_sip_load_le64(const unsigned char *p) {
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

#define OT_SIPROUND                                                        \
    do {                                                                   \
        v0 += v1; v1 = ot_sip_rotl(v1, 13); v1 ^= v0; v0 = ot_sip_rotl(v0, 32); \
        v2 += v3; v3 = ot_sip_rotl(v3, 16); v3 ^= v2;                      \
        v0 += v3; v3 = ot_sip_rotl(v3, 21); v3 ^= v0;                      \
        v2 += v1; v1 = ot_sip_rotl(v1, 17); v1 ^= v2; v2 = ot_sip_rotl(v2, 32); \
    } while (0)

static inline uint64_t ot_siphash24(const unsigned char key[16], const unsigned char *in, size_t len) {
    uint64_t k0 = ot_sip_load_le64(key), k1 = ot_sip_load_le64(key + 8);
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
    uint64_t m, b = ((uint64_t)len) << 56;
    size_t i, tail = len & 7;
    for (i = 0; i + 8 <= len; i += 8) {
        m = ot_sip_load_le64(in + i);
        v3 ^= m; OT_SIPROUND; OT_SIPROUND; v0 ^= m;
    }
    for (i = 0; i < tail; ++i) b |= ((uint64_t)in[len - tail + i]) << (8 * i);
    v3 ^= b; OT_SIPROUND; OT_SIPROUND; v0 ^= b;
    v2 ^= 0xff; OT_SIPROUND; OT_SIPROUND; OT_SIPROUND; OT_SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}
#undef OT_SIPROUND
#endif
