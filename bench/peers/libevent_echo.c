/* The line echo with libevent's bufferevents, as its manual teaches them: a listener, a bufferevent per
 * connection, and a read callback that moves every complete line from the input buffer to the output buffer
 * (evbuffer_remove_buffer moves chains without copying where it can).
 *
 *   peer_libevent_echo [--host 127.0.0.1] [--port 0]
 *
 * Prints "listening on HOST:PORT" first; exits 0 on SIGINT/SIGTERM. Built only when libevent-dev is installed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

enum { max_line = 1 << 20, max_chunks = 64 };

static void on_read(struct bufferevent* bev, void* arg) {
    (void)arg;
    struct evbuffer* in = bufferevent_get_input(bev);
    /* The bytes up to the last '\n' go back; a partial line waits for the rest. */
    struct evbuffer_iovec v[max_chunks];
    int n = evbuffer_peek(in, -1, NULL, v, max_chunks);
    if (n > max_chunks) n = max_chunks;
    size_t seen = 0, lines = 0;
    for (int i = 0; i < n; ++i) {
        const char* last = memrchr(v[i].iov_base, '\n', v[i].iov_len);
        if (last) lines = seen + (size_t)(last - (const char*)v[i].iov_base) + 1;
        seen += v[i].iov_len;
    }
    if (lines)
        evbuffer_remove_buffer(in, bufferevent_get_output(bev), lines);
    else if (evbuffer_get_length(in) > max_line) /* a line past the bound: drop the client, not the server */
        bufferevent_free(bev);
}

static void on_event(struct bufferevent* bev, short what, void* arg) {
    (void)arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) bufferevent_free(bev);
}

static void on_accept(struct evconnlistener* listener, evutil_socket_t fd, struct sockaddr* addr, int len,
                      void* arg) {
    (void)listener, (void)addr, (void)len;
    struct bufferevent* bev = bufferevent_socket_new(arg, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) return;
    bufferevent_setcb(bev, on_read, NULL, on_event, NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void on_signal(evutil_socket_t sig, short what, void* base) {
    (void)sig, (void)what;
    event_base_loopbreak(base);
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
            fprintf(stderr, "libevent_echo: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    struct event_base* base = event_base_new();
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    if (!base || inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "libevent_echo: cannot start on %s\n", host);
        return 1;
    }
    struct evconnlistener* listener =
        evconnlistener_new_bind(base, on_accept, base, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
                                (struct sockaddr*)&addr, sizeof addr);
    if (!listener) {
        perror("libevent_echo: listen");
        return 1;
    }
    socklen_t alen = sizeof addr;
    getsockname(evconnlistener_get_fd(listener), (struct sockaddr*)&addr, &alen);
    printf("listening on %s:%d\n", host, ntohs(addr.sin_port));
    fflush(stdout);
    struct event* term = evsignal_new(base, SIGTERM, on_signal, base);
    struct event* intr = evsignal_new(base, SIGINT, on_signal, base);
    event_add(term, NULL);
    event_add(intr, NULL);
    event_base_dispatch(base);
    event_free(term);
    event_free(intr);
    evconnlistener_free(listener);
    event_base_free(base);
    return 0;
}
