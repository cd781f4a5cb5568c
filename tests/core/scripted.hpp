#pragma once
// A dispatcher whose handlers are set per test, counting every call it gets: the lifetime and interest suites
// script behaviour into it instead of writing a class per case.
#include <sys/socket.h>

#include <functional>
#include <string>
#include <utility>

#include <asyncore/asyncore.hpp>

namespace test_support {

struct scripted : asyncore::dispatcher {
    using hook = std::function<void(scripted&)>;
    hook on_read, on_write, on_close, on_error, on_connect, on_expt;
    std::function<bool()> want_read = [] { return true; }, want_write = [] { return false; };
    int reads = 0, writes = 0, closes = 0, errors = 0, connects = 0, expts = 0;
    std::string last_error;
    int* destroyed = nullptr; // incremented by the destructor, so a test can see the map let go

    using asyncore::dispatcher::dispatcher;
    ~scripted() override {
        if (destroyed) ++*destroyed;
    }
    bool readable() override { return want_read(); }
    bool writable() override { return want_write(); }
    void handle_read() override {
        ++reads;
        if (on_read) on_read(*this);
    }
    void handle_write() override {
        ++writes;
        if (on_write) on_write(*this);
    }
    void handle_expt() override {
        ++expts;
        if (on_expt) on_expt(*this);
    }
    void handle_connect() override {
        ++connects;
        if (on_connect) on_connect(*this);
    }
    void handle_close() override {
        ++closes;
        if (on_close) on_close(*this); else close();
    }
    void handle_error() override {
        ++errors;
        last_error = asyncore::compact_exception();
        if (on_error) on_error(*this); else close();
    }
};

// A connected AF_UNIX stream pair: first goes to a channel, second stays with the test as the peer.
inline std::pair<asyncore::socket, asyncore::socket> socket_pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
        throw std::system_error(errno, std::system_category(), "socketpair");
    return {asyncore::socket::adopt(fds[0]), asyncore::socket::adopt(fds[1])};
}

} // namespace test_support
