from libc.stdint cimport uint16_t, uint32_t, uint64_t

cdef extern from "otbytes.h" nogil:
    uint16_t ot_load_be16(const unsigned char *p)
    uint32_t ot_load_be32(const unsigned char *p)
    uint64_t ot_load_be64(const unsigned char *p)
    void ot_store_be16(unsigned char *p, uint16_t v)
    void ot_store_be32(unsigned char *p, uint32_t v)
    void ot_store_be64(unsigned char *p, uint64_t v)
    int ot_keycmp(const unsigned char *a, const unsigned char *b, size_t n)

cdef extern from "siphash.h" nogil:
    uint64_t ot_siphash24(const unsigned char *key, const unsigned char *data, size_t length)
    uint64_t ot_sip_load_le64(const unsigned char *p)

cdef extern from "otlock.h" nogil:
    ctypedef struct ot_lock:
        int v
    int ot_lock_take(ot_lock *l)
    void ot_lock_give(ot_lock *l)
    uint32_t ot_relaxed_load32(const uint32_t *p)
    void ot_relaxed_store32(uint32_t *p, uint32_t v)

cdef extern from "alloc.h" nogil:
    void *ot_malloc(size_t n)
    void *ot_realloc(void *old, size_t n)
    void ot_free(void *p)
    void *ot_pages_alloc(size_t n)
    void ot_pages_free(void *p, size_t n)
    void *ot_zalloc(void *opaque, unsigned items, unsigned size)
    void ot_zfree(void *opaque, void *ptr)
    size_t ot_blocks_allocated
    size_t ot_blocks_freed

cdef extern from "zstdcodec.h" nogil:
    bint ot_zstd_available()
    void *ot_zstd_begin(size_t *held)
    size_t ot_zstd_state_max()
    int ot_zstd_run(void *ctx, const unsigned char **src, size_t *n, bint finish, unsigned char **dst,
                    size_t *room)
    void ot_zstd_end(void *ctx)
    const char *ot_zstd_version()

cdef extern from "otthread.h" nogil:
    ctypedef void *(*ot_thread_fn)(void *) noexcept nogil
    int ot_thread_start(ot_thread_fn fn, void *arg, const char *name, uint64_t *id)
    int ot_thread_join(uint64_t id)
    int ot_acquire_load(const int *p)
    void ot_release_store(int *p, int v)
    int ot_release_add(int *p, int v)
    void ot_futex_wait(int *p, int v)
    void ot_futex_wake_all(int *p)
    void ot_sleep_us(long us)
    int ot_eventfd()
    void ot_eventfd_kick(int fd)

cdef extern from "scrapefilter.h" nogil:
    int ot_scrape_filter_set(int fd, int on)
    uint32_t ot_socket_drops(int fd)
