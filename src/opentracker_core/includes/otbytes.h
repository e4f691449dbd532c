/* Big-endian loads and stores for wire fields, a byte at a time and never
   through a cast word pointer: MIPS traps on unaligned word access, and the
   packed peer records and UDP payloads put fields at any byte offset. The
   compiler turns these into single loads where the target allows. */
#ifndef OT_BYTES_H
#define OT_BYTES_H
#include <stdint.h>
#include <string.h>

static inline uint16_t ot_load_be16(const unsigned char *p) {
    return (uint16_t)(((uint16_t)p[0] << 8) | p[1]);
}
static inline uint32_t ot_load_be32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t ot_load_be64(const unsigned char *p) {
    return ((uint64_t)ot_load_be32(p) << 32) | ot_load_be32(p + 4);
}
static inline void ot_store_be16(unsigned char *p, uint16_t v) {
    p[0] = (unsigned char)(v >> 8); p[1] = (unsigned char)v;
}
static inline void ot_store_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);  p[3] = (unsigned char)v;
}
static inline void ot_store_be64(unsigned char *p, uint64_t v) {
    ot_store_be32(p, (uint32_t)(v >> 32)); ot_store_be32(p + 4, (uint32_t)v);
}

/* memcmp's order (bytes as unsigned, first difference decides) for the
   store's short keys: a 20-byte info_hash, a 6- or 18-byte peer. Inline and
   a word at a time: the libc call was a tenth of an announce's CPU at 100k
   torrents / 1M peers (bench/README.md, "Workers"). A big-endian word
   compares as its bytes do. */
static inline int ot_keycmp(const unsigned char *a, const unsigned char *b, size_t n) {
    while (n >= 8) {
        uint64_t x = ot_load_be64(a), y = ot_load_be64(b);
        if (x != y)
            return x < y ? -1 : 1;
        a += 8; b += 8; n -= 8;
    }
    if (n >= 4) {
        uint32_t x = ot_load_be32(a), y = ot_load_be32(b);
        if (x != y)
            return x < y ? -1 : 1;
        a += 4; b += 4; n -= 4;
    }
    for (; n; n--, a++, b++)
        if (*a != *b)
            return *a < *b ? -1 : 1;
    return 0;
}
#endif
