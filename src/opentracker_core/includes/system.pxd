# nogil externs for the loop: epoll, sockets, batched datagrams, time.
# Cython ships no socket or epoll declarations (docs/architecture.md, "One
# extension module").

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t


cdef extern from "<errno.h>" nogil:
    int errno
    enum:
        EAGAIN
        EWOULDBLOCK
        EINTR
        EBADF
        ENOENT
        EMFILE
        ENFILE
        ENOBUFS
        ENOMEM
        ECONNABORTED


cdef extern from "<unistd.h>" nogil:
    ssize_t read(int fd, void *buf, size_t count)
    ssize_t write(int fd, const void *buf, size_t count)
    int close(int fd)


cdef extern from "<time.h>" nogil:
    ctypedef long time_t
    struct timespec:
        time_t tv_sec
        long tv_nsec
    enum:
        CLOCK_REALTIME
        CLOCK_REALTIME_COARSE
        CLOCK_MONOTONIC
        CLOCK_MONOTONIC_COARSE
        CLOCK_PROCESS_CPUTIME_ID
        CLOCK_THREAD_CPUTIME_ID
    int clock_gettime(int clk, timespec *ts)


cdef extern from "<sys/epoll.h>" nogil:
    union epoll_data:
        void *ptr
        int fd
        uint32_t u32
        uint64_t u64
    struct epoll_event:
        uint32_t events
        epoll_data data
    enum:
        EPOLLIN
        EPOLLOUT
        EPOLLERR
        EPOLLHUP
        EPOLLRDHUP
        EPOLL_CTL_ADD
        EPOLL_CTL_MOD
        EPOLL_CTL_DEL
        EPOLL_CLOEXEC
    int epoll_create1(int flags)
    int epoll_ctl(int epfd, int op, int fd, epoll_event *event)
    int epoll_wait(int epfd, epoll_event *events, int maxevents, int timeout)


cdef extern from "<sys/uio.h>" nogil:
    struct iovec:
        void *iov_base
        size_t iov_len


cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    ctypedef unsigned short sa_family_t
    struct sockaddr:
        sa_family_t sa_family
    struct sockaddr_storage:
        sa_family_t ss_family
    struct msghdr:
        void *msg_name
        socklen_t msg_namelen
        iovec *msg_iov
        size_t msg_iovlen
        void *msg_control
        size_t msg_controllen
        int msg_flags
    struct mmsghdr:
        msghdr msg_hdr
        unsigned int msg_len
    enum:
        AF_INET
        AF_INET6
        SOCK_NONBLOCK
        SOCK_CLOEXEC
        MSG_DONTWAIT
        MSG_NOSIGNAL
        MSG_TRUNC
        SHUT_WR
        SHUT_RDWR
        SOL_SOCKET
        SO_RCVBUF
        SO_SNDBUF
    int accept4(int fd, sockaddr *addr, socklen_t *addrlen, int flags)
    ssize_t recv(int fd, void *buf, size_t n, int flags)
    ssize_t send(int fd, const void *buf, size_t n, int flags)
    ssize_t sendto(int fd, const void *buf, size_t n, int flags, const sockaddr *addr, socklen_t addrlen)
    ssize_t recvfrom(int fd, void *buf, size_t n, int flags, sockaddr *addr, socklen_t *addrlen)
    int recvmmsg(int fd, mmsghdr *msgvec, unsigned int vlen, int flags, timespec *timeout)
    int sendmmsg(int fd, mmsghdr *msgvec, unsigned int vlen, int flags)
    ssize_t sendmsg(int fd, const msghdr *msg, int flags)
    int shutdown(int fd, int how)
    int setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen)


cdef extern from "<netinet/in.h>" nogil:
    struct in_addr:
        uint32_t s_addr
    struct sockaddr_in:
        sa_family_t sin_family
        uint16_t sin_port
        in_addr sin_addr
    struct in6_addr:
        unsigned char s6_addr[16]
    struct sockaddr_in6:
        sa_family_t sin6_family
        uint16_t sin6_port
        uint32_t sin6_flowinfo
        in6_addr sin6_addr
        uint32_t sin6_scope_id


cdef extern from "<arpa/inet.h>" nogil:
    int inet_pton(int af, const char *src, void *dst)
    const char *inet_ntop(int af, const void *src, char *dst, socklen_t size)


cdef extern from "<syslog.h>" nogil:
    enum:
        LOG_INFO
        LOG_USER
        LOG_NDELAY
        LOG_PID
    void openlog(const char *ident, int option, int facility)
    void syslog(int priority, const char *fmt, ...)


cdef extern from "<time.h>" nogil:
    struct tm:
        int tm_sec
    tm *localtime_r(const time_t *timep, tm *result)
    size_t strftime(char *s, size_t maxsize, const char *fmt, const tm *t)


cdef extern from "<sys/socket.h>" nogil:
    struct cmsghdr:
        size_t cmsg_len
        int cmsg_level
        int cmsg_type
    cmsghdr *CMSG_FIRSTHDR(msghdr *msg)
    cmsghdr *CMSG_NXTHDR(msghdr *msg, cmsghdr *cmsg)
    unsigned char *CMSG_DATA(cmsghdr *cmsg)
    size_t CMSG_LEN(size_t length)
    size_t CMSG_SPACE(size_t length)
    int getsockname(int fd, sockaddr *addr, socklen_t *addrlen)
    enum:
        # each datagram's arrival time (CLOCK_REALTIME) as a struct timespec
        SO_TIMESTAMPNS
        SCM_TIMESTAMPNS


cdef extern from "<netinet/in.h>" nogil:
    enum:
        IPPROTO_IP
        IPPROTO_IPV6
        IP_PKTINFO
        IPV6_PKTINFO
        IPV6_RECVPKTINFO
    struct in_pktinfo:
        int ipi_ifindex
        in_addr ipi_spec_dst
        in_addr ipi_addr
    struct in6_pktinfo:
        in6_addr ipi6_addr
        unsigned int ipi6_ifindex

