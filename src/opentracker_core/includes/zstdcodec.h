/* zstd for streamed answers, when the core is built with OT_ZSTD=1 (setup.py
   then links libzstd). Without it every function here reports "not
   available" and requests asking for zstd get gzip or the plain body.

   Settings for routers: level 1, a 16 KiB window (windowLog 14) and 4 Ki-
   entry hash table (hashLog 12). Every byte libzstd allocates goes through
   ot_malloc and is counted in the caller's size_t, like zlib's. */
#ifndef OT_ZSTDCODEC_H
#define OT_ZSTDCODEC_H
#include <stddef.h>
#include <stdint.h>
#include "alloc.h"

#ifdef OT_ZSTD
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#define OT_ZSTD_LEVEL 1
#define OT_ZSTD_WINDOW_LOG 14
#define OT_ZSTD_HASH_LOG 12

static int ot_zstd_available(void) { return 1; }

static void *ot_zstd_alloc(void *opaque, size_t n) { return ot_counted_alloc((size_t *)opaque, n); }

static void ot_zstd_free(void *opaque, void *ptr) { ot_counted_free((size_t *)opaque, ptr); }

static int ot_zstd_params(ZSTD_CCtx *c) {
    return ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, OT_ZSTD_LEVEL))
        || ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, OT_ZSTD_WINDOW_LOG))
        || ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_hashLog, OT_ZSTD_HASH_LOG));
}

static void *ot_zstd_begin(size_t *held) {
    ZSTD_customMem mem = { ot_zstd_alloc, ot_zstd_free, held };
    ZSTD_CCtx *c = ZSTD_createCCtx_advanced(mem);
    if (!c) return NULL;
    if (ot_zstd_params(c)) {
        ZSTD_freeCCtx(c);
        return NULL;
    }
    return c;
}

/* The most a stream at these settings takes: libzstd's own estimate plus
   the size prefixes of its (few) allocations. */
static size_t ot_zstd_state_max(void) {
    ZSTD_CCtx_params *p = ZSTD_createCCtxParams();
    size_t n;
    if (!p) return 0;
    ZSTD_CCtxParams_setParameter(p, ZSTD_c_compressionLevel, OT_ZSTD_LEVEL);
    ZSTD_CCtxParams_setParameter(p, ZSTD_c_windowLog, OT_ZSTD_WINDOW_LOG);
    ZSTD_CCtxParams_setParameter(p, ZSTD_c_hashLog, OT_ZSTD_HASH_LOG);
    n = ZSTD_estimateCStreamSize_usingCCtxParams(p);
    ZSTD_freeCCtxParams(p);
    return n + 4096;
}

/* Results as encoder_run's: 0 more room, 1 done, 2 error. */
static int ot_zstd_run(void *ctx, const uint8_t **src, size_t *n, int finish, uint8_t **dst, size_t *room) {
    ZSTD_inBuffer in = { *src, *n, 0 };
    ZSTD_outBuffer out = { *dst, *room, 0 };
    size_t left = ZSTD_compressStream2((ZSTD_CCtx *)ctx, &out, &in, finish ? ZSTD_e_end : ZSTD_e_continue);
    if (ZSTD_isError(left)) return 2;
    *src += in.pos;
    *n -= in.pos;
    *dst += out.pos;
    *room -= out.pos;
    if (finish) return left == 0 ? 1 : 0;
    return (*n == 0 && *room != 0) ? 1 : 0;
}

static void ot_zstd_end(void *ctx) { ZSTD_freeCCtx((ZSTD_CCtx *)ctx); }

static const char *ot_zstd_version(void) { return ZSTD_versionString(); }

#else
static int ot_zstd_available(void) { return 0; }
static void *ot_zstd_begin(size_t *held) { (void)held; return NULL; }
static size_t ot_zstd_state_max(void) { return 0; }
static int ot_zstd_run(void *ctx, const uint8_t **src, size_t *n, int finish, uint8_t **dst, size_t *room) {
    (void)ctx; (void)src; (void)n; (void)finish; (void)dst; (void)room;
    return 2;
}
static void ot_zstd_end(void *ctx) { (void)ctx; }
static const char *ot_zstd_version(void) { return ""; }
#endif
#endif
