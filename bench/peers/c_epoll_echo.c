/* The reference line echo, as close to the physical limit as a plain single-threaded server gets: level-triggered
 * epoll, and per ready fd one read, one scan for the last '\n', one write of the complete lines. What a short write
 * leaves is kept and the fd waits for EPOLLOUT, with reading paused, so memory stays bounded by the line size.
 *
 *   peer_c_epoll_echo [--host 127.0.0.1] [--port 0]
 *
 * Prints "listening on HOST:PORT" first; exits 0 on SIGINT/SIGTERM. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { chunk = 65536, max_line = 1 << 20 };

struct conn {
    int fd;
    char* buf;       /* bytes kept: [0, len); the unsent complete lines are [off, ready); NULL until needed */
    size_t cap, len, off, ready;
    int out; /* waiting for EPOLLOUT (reading paused) */
    struct conn *prev, *next; /* the open connections, freed at exit (touched only on accept and close) */
};

static struct conn* open_conns;

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static void drop(int ep, struct conn* c) {
    if (c->prev) c->prev->next = c->next;
    else open_conns = c->next;
    if (c->next) c->next->prev = c->prev;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->buf);
    free(c);
}

static void watch(int ep, struct conn* c, unsigned events) {
    if (c->out == (events == EPOLLOUT)) return;
    c->out = events == EPOLLOUT;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes [off, ready); on completion keeps only the partial line. Returns -1 when the connection is dead. */
static int flush(int ep, struct conn* c) {
    ssize_t w = send(c->fd, c->buf + c->off, c->ready - c->off, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN && errno != EINTR) return -1;
    if (w > 0) c->off += (size_t)w;
    if (c->off < c->ready) {
        watch(ep, c, EPOLLOUT);
        return 0;
    }
    memmove(c->buf, c->buf + c->ready, c->len - c->ready);
    c->len -= c->ready;
    c->off = c->ready = 0;
    return 1;
}

/* Room for `more` bytes after the kept ones; 0 when the bound is passed or memory is out. */
static int reserve(struct conn* c, size_t more) {
    if (c->cap - c->len >= more) return 1;
    size_t cap = c->cap ? c->cap : chunk;
    while (cap - c->len < more) cap *= 2;
    if (cap > max_line + chunk) return 0;
    char* b = realloc(c->buf, cap);
    if (!b) return 0;
    c->buf = b;
    c->cap = cap;
    return 1;
}

static char shared[chunk];

static void on_readable(int ep, struct conn* c) {
    if (c->len == 0) {
        /* The usual case: nothing kept from before, so read into one buffer shared by all connections, send the
         * complete lines from there, and copy only what is left (a partial line, unsent bytes). */
        ssize_t n = recv(c->fd, shared, chunk, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            drop(ep, c);
            return;
        }
        if (n < 0) return;
        char* last = memrchr(shared, '\n', (size_t)n);
        size_t ready = last ? (size_t)(last - shared) + 1 : 0;
        ssize_t w = 0;
        if (ready) {
            w = send(c->fd, shared, ready, MSG_NOSIGNAL);
            if (w < 0 && errno != EAGAIN && errno != EINTR) {
                drop(ep, c);
                return;
            }
            if (w < 0) w = 0;
        }
        size_t keep = (size_t)n - (size_t)w;
        if (keep == 0) return;
        if (!reserve(c, keep)) {
            drop(ep, c);
            return;
        }
        memcpy(c->buf, shared + w, keep);
        c->len = keep;
        c->off = 0;
        c->ready = ready - (size_t)w;
        if (c->ready) watch(ep, c, EPOLLOUT);
        return;
    }
    /* A partial line is kept: read after it. */
    if (!reserve(c, chunk)) { /* a line past the bound: drop the client, not the server */
        drop(ep, c);
        return;
    }
    ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        drop(ep, c);
        return;
    }
    if (n < 0) return;
    size_t old = c->len;
    c->len += (size_t)n;
    char* last = memrchr(c->buf + old, '\n', (size_t)n);
    if (!last) return;
    c->ready = (size_t)(last - c->buf) + 1;
    if (flush(ep, c) < 0) drop(ep, c);
}

static void on_writable(int ep, struct conn* c) {
    int r = flush(ep, c);
    if (r < 0)
        drop(ep, c);
    else if (r > 0)
        watch(ep, c, EPOLLIN);
}

int main(int argc, char** argv) {
    const char* host = "127.0.0.1";
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--host"))
            host = argv[i + 1];
        else if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "c_epoll_echo: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    /* No SA_RESTART: the signal must interrupt epoll_wait so that the loop sees `stop`. */
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1 || bind(lfd, (struct sockaddr*)&addr, sizeof addr) < 0 ||
        listen(lfd, 1024) < 0) {
        perror("c_epoll_echo: listen");
        return 1;
    }
    socklen_t alen = sizeof addr;
    getsockname(lfd, (struct sockaddr*)&addr, &alen);
    printf("listening on %s:%d\n", host, ntohs(addr.sin_port));
    fflush(stdout);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event events[512];
    while (!stop) {
        int n = epoll_wait(ep, events, 512, -1);
        for (int i = 0; i < n; ++i) {
            struct conn* c = events[i].data.ptr;
            if (!c) {
                int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) continue;
                c = calloc(1, sizeof *c);
                if (!c) abort();
                c->fd = fd;
                c->next = open_conns;
                if (open_conns) open_conns->prev = c;
                open_conns = c;
                struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
            } else if (events[i].events & EPOLLOUT) {
                on_writable(ep, c);
            } else {
                on_readable(ep, c);
            }
        }
    }
    /* A clean exit (a leak checker sees every connection still open freed). */
    while (open_conns) drop(ep, open_conns);
    close(ep);
    close(lfd);
    return 0;
}
