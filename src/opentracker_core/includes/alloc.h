/* The core's allocator: CPython's raw allocator (safe without the GIL, seen
   by tracemalloc) plus a count of live blocks, so a leak test can check that
   every block the core took was given back. One increment per call; the loop
   is single-threaded. */
#ifndef OT_ALLOC_H
#define OT_ALLOC_H
#include <Python.h>

static size_t ot_blocks_allocated, ot_blocks_freed;

static inline void *ot_malloc(size_t n) {
    void *p = PyMem_RawMalloc(n);
    if (p) ot_blocks_allocated++;
    return p;
}

static inline void *ot_realloc(void *old, size_t n) {
    void *p = PyMem_RawRealloc(old, n);
    if (p && !old) ot_blocks_allocated++;
    return p;
}

static inline void ot_free(void *p) {
    if (p) {
        ot_blocks_freed++;
        PyMem_RawFree(p);
    }
}
#endif
