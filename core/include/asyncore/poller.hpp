#pragma once
// The readiness backend interface: one small class per backend, one file each (core/src/pollers/NAME.cpp),
// chosen by name at run time. Interest and events use the poll(2) bits — POLLIN, POLLPRI, POLLOUT in,
// plus POLLERR, POLLHUP, POLLNVAL out — which epoll shares bit for bit on Linux.
//
// The loop calls add/modify/remove only when a channel's interest actually changes, so a backend that keeps
// its interest in the kernel (epoll) costs O(active channels) per pass, not O(registered).
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace asyncore {

class socket_map;

struct fired_event {
    int fd;
    unsigned events;
};

class poller {
public:
    virtual ~poller() = default;
    virtual std::string_view name() const noexcept = 0;
    // interest is non-zero. Throws std::system_error, or std::length_error when the backend cannot hold the fd
    // (select past FD_SETSIZE); the channel then gets handle_error.
    virtual void add(int fd, unsigned interest) = 0;
    virtual void modify(int fd, unsigned interest) = 0;
    // Called before the fd is closed.
    virtual void remove(int fd) noexcept = 0;
    // Blocks up to timeout_ms (-1: no limit). An EINTR returns no events: the loop's pass ends early and the
    // next one retries with the remaining timers.
    virtual std::span<const fired_event> wait(int timeout_ms) = 0;
    // Told which map it serves, before any add; a poller that looks at the channels themselves keeps it.
    virtual void attach(socket_map&) {}
};

using poller_factory = std::unique_ptr<poller> (*)();

struct backend_info {
    std::string_view name;
    poller_factory create;
    // For a backend the running kernel may refuse (io_uring): why it cannot run here, or "" when it can. Asked
    // each time the backends are listed or one is made, so it caches its answer. nullptr: always available.
    std::string (*unavailable)() = nullptr;
};

// The built-in backends (select, poll, epoll, and io_uring when built) and any registered since, in
// registration order — only those that can run on this kernel.
std::vector<std::string> backend_names();
// "epoll" on Linux.
std::string_view default_backend() noexcept;
// Lets a transport outside core (the Asio one) add itself; the name must be new.
void register_backend(backend_info info);
// Throws std::invalid_argument naming the backends that exist when `name` is not one of them, or saying why
// when it is one this kernel refuses ("asyncore: io_uring unavailable: Operation not permitted").
std::unique_ptr<poller> make_poller(std::string_view name);

} // namespace asyncore
