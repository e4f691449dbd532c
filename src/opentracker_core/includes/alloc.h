/* The core's allocator: CPython's raw allocator (safe without the GIL, seen
   by tracemalloc) plus a count of live blocks, so a leak test can check that
   every block the core took was given back. The counts are relaxed atomic
   increments (a size_t: 32 bits on a 32-bit router, so no libatomic), since
   workers on several threads allocate at once. */
#ifndef OT_ALLOC_H
#define OT_ALLOC_H
#include <Python.h>
#include <sys/mman.h>

static size_t ot_blocks_allocated, ot_blocks_freed;

static inline void ot_count_block(size_t *count) {
    __atomic_fetch_add(count, 1, __ATOMIC_RELAXED);
}

static inline void *ot_malloc(size_t n) {
    void *p = PyMem_RawMalloc(n);
    if (p) ot_count_block(&ot_blocks_allocated);
    return p;
}

static inline void *ot_realloc(void *old, size_t n) {
    void *p = PyMem_RawRealloc(old, n);
    if (p && !old) ot_count_block(&ot_blocks_allocated);
    return p;
}

static inline void ot_free(void *p) {
    if (p) {
        ot_count_block(&ot_blocks_freed);
        PyMem_RawFree(p);
    }
}

/* Blocks of streamed answers come straight from mmap: unmapping one gives its
   pages back to the kernel at once, whatever else the heap holds, so a
   finished full scrape leaves no resident memory behind (a heap would keep
   it until everything above it was freed too). */
static inline void *ot_pages_alloc(size_t n) {
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    ot_count_block(&ot_blocks_allocated);
    return p;
}

static inline void ot_pages_free(void *p, size_t n) {
    if (p) {
        ot_count_block(&ot_blocks_freed);
        munmap(p, n);
    }
}

/* Allocations counted in a size_t (the caller's *held): a compressor's
   state then counts in the memory budget exactly. The size is kept in front
   of each block (16 bytes, keeping alignment). zlib's and libzstd's hooks
   (zstdcodec.h) are thin adapters to these. */
static void *ot_counted_alloc(size_t *held, size_t n) {
    size_t *p = (size_t *)ot_malloc(n + 16);
    if (!p) return NULL;
    p[0] = n + 16;
    *held += n + 16;
    return (char *)p + 16;
}

static void ot_counted_free(size_t *held, void *ptr) {
    size_t *p;
    if (!ptr) return;
    p = (size_t *)((char *)ptr - 16);
    *held -= p[0];
    ot_free(p);
}

/* zlib's allocator hooks; opaque is the size_t that counts. */
static void *ot_zalloc(void *opaque, unsigned items, unsigned size) {
    return ot_counted_alloc((size_t *)opaque, (size_t)items * size);
}

static void ot_zfree(void *opaque, void *ptr) { ot_counted_free((size_t *)opaque, ptr); }
#endif
