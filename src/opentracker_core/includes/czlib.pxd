# zlib's C API, for gzip answers streamed from the loop.

cdef extern from "<zlib.h>" nogil:
    const char *ZLIB_VERSION
    const char *zlibVersion()
    ctypedef unsigned char Bytef
    ctypedef unsigned int uInt
    ctypedef unsigned long uLong
    ctypedef void *(*alloc_func)(void *opaque, uInt items, uInt size)
    ctypedef void (*free_func)(void *opaque, void *address)
    ctypedef struct z_stream:
        Bytef *next_in
        uInt avail_in
        uLong total_in
        Bytef *next_out
        uInt avail_out
        uLong total_out
        alloc_func zalloc
        free_func zfree
        void *opaque
    enum:
        Z_OK
        Z_STREAM_END
        Z_BUF_ERROR
        Z_NO_FLUSH
        Z_FINISH
        Z_DEFLATED
        Z_DEFAULT_STRATEGY
        Z_BEST_SPEED
        Z_NULL
    int deflateInit2(z_stream *strm, int level, int method, int windowBits, int memLevel, int strategy)
    int deflate(z_stream *strm, int flush)
    int deflateEnd(z_stream *strm)
    uLong deflateBound(z_stream *strm, uLong sourceLen)
