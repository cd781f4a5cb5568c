#pragma once
// asyncore::listener — the listening dispatcher of a server: Python's accept path (handle_accept accepts,
// handle_accepted gets the socket) made safe for a server that runs out of file descriptors.
//
// What a plain dispatcher does when accept(2) fails with EMFILE or ENFILE (as Python's asyncore does): the error
// reaches handle_error, whose default closes the listener — the server silently stops accepting for good. A
// handle_error that keeps the listener open is no better: the connection is still waiting in the backlog, so a
// level-triggered poller reports the listener readable again at once, and the loop spins at 100% CPU until a
// descriptor frees up, starving every other channel.
//
// listener does two things instead:
//   * Headroom. Linux hands out the lowest free descriptor, so an accepted socket numbered within
//     descriptor_headroom of RLIMIT_NOFILE means at most that many are left. Such a connection is closed at once,
//     unserved: the process keeps a few descriptors for the work of the connections it already has (the files an
//     HTTP server opens, a log file, a sanitizer's own pipes), which a server that accepts up to the last
//     descriptor cannot do.
//   * A reserve descriptor (/dev/null, opened up front), for when accept fails with EMFILE/ENFILE all the same
//     (something else used the headroom, or the system table is full): the listener closes the reserve, accepts
//     the waiting connection into the freed slot, closes that connection at once (the client sees its connection
//     closed instead of hanging in the backlog until it times out) and reopens the reserve. Should the reserve
//     itself be lost, it stops asking for accept events for `backoff` and then tries again.
// Either way each refused connection costs one accept and one close: there is nothing to spin on.
// handle_descriptors_exhausted runs once at the start of each burst (default: one line through log_info, type
// "error"); the burst ends with the next connection accepted and served.
//
// Each read event accepts up to accept_batch connections (Python accepts one): a burst of connects is taken in
// a few passes, and the bound keeps one busy listener from starving the channels it feeds.
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "dispatcher.hpp"
#include "timers.hpp"

namespace asyncore {

class listener : public dispatcher {
public:
    // Not yet listening: create_socket, bind and listen as with any dispatcher.
    explicit listener(socket_map* map = nullptr);
    // A TCP socket with SO_REUSEADDR bound to `where` and listening.
    explicit listener(const address& where, int backlog = 1024, socket_map* map = nullptr);
    ~listener() override;

    void handle_accept() override;
    bool readable() override;
    void close() override;

    // Runs once when accept first fails with EMFILE/ENFILE (err) after a success. Default: log_info, "error".
    virtual void handle_descriptors_exhausted(int err);

    // Connections closed unserved for want of a descriptor, since the listener was made.
    std::uint64_t refused_for_descriptors() const noexcept { return refused_; }
    // True from the first EMFILE/ENFILE of a burst until the next accept succeeds.
    bool descriptors_exhausted() const noexcept { return exhausted_; }

    std::size_t accept_batch = 64;
    std::chrono::milliseconds backoff{100};
    // Descriptors kept free below RLIMIT_NOFILE (0: accept up to the last one). Set it before the first accept.
    unsigned descriptor_headroom = 16;

private:
    // True when fd is within descriptor_headroom of the descriptor limit.
    bool in_headroom(int fd) noexcept;
    // Takes one waiting connection off the backlog and closes it; false when even that was impossible.
    bool refuse_one();
    void pause();

    int reserve_fd_ = -1;
    int ceiling_ = -1;     // the first descriptor number in the headroom; -1: not read yet
    bool exhausted_ = false;
    bool paused_ = false;
    std::uint64_t refused_ = 0;
    timer_handle resume_;
};

} // namespace asyncore
