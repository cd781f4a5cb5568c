#pragma once
// The backend interface: one small class per backend, one file each (core/src/pollers/NAME.cpp), chosen by name
// at run time. Interest and events use the poll(2) bits — POLLIN, POLLPRI, POLLOUT in, plus POLLERR, POLLHUP,
// POLLNVAL out — which epoll shares bit for bit on Linux.
//
// The loop calls add/modify/remove only when a channel's interest actually changes, so a backend that keeps
// its interest in the kernel (epoll) costs O(active channels) per pass, not O(registered).
//
// A completion backend (io_uring, the Asio transport) also reads for the channels that take their input from the
// transport (dispatcher::wants_transport_reads). It reports what it read through the map's completion_sink (below)
// and knows nothing else of channels: whether one is readable, what waits for it, and its handlers are the map's.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace asyncore {

class completion_sink;

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
    // next one retries with the remaining timers. A completion backend reports its reads to the sink as they
    // complete: from in here, so handlers run inside wait (or, driven from outside the loop as the Asio host does,
    // from its own handlers); the other events it returns.
    virtual std::span<const fired_event> wait(int timeout_ms) = 0;
    // Told where the map it serves takes completion reads, before any add; a completion backend keeps it.
    virtual void attach(completion_sink&) {}
};

// What a completion backend tells the map (socket_map implements it). `reader` is the map's registration of the
// channel, as transport_reader answered it: the backend asks once per registration of an fd, keeps the answer
// with it, and hands it back with every report, so a report can only reach the registration it was read for (the
// backend fences completions of registrations it has since removed, as it must for its events).
//
// The map applies one rule, whichever backend read: input — bytes or the end of input — goes to a channel only
// when its readable() says so, asked right before; what arrives otherwise waits in the map, in order, and is handed
// on once readable() says yes again (the map asks when it re-evaluates the channel's interest, which it does after
// every report). A readable() that throws is an error of the channel's, handled as any handler's (dispatcher.hpp,
// "Error rules" in docs/design.md): handle_error, handle_close for a disconnect error, or exit_now out of the
// loop; and the input waits, so a channel that survives its handle_error gets every byte, in order. Read errors
// are reported whatever readable() says, as a readiness backend reports POLLERR whatever the interest.
//
// Every call may run handlers, which may add, modify and remove fds of this backend (even this one), or run a
// nested pass: after one, look the fd's state up afresh. Bytes are the backend's own buffer, only read during the
// call: the map copies what must wait.
class completion_sink {
public:
    // The registration of the channel on fd if it takes its input from the transport now, else 0. Runs no handler.
    virtual std::uint64_t transport_reader(int fd) noexcept = 0;
    // Bytes read for the channel (handle_received). Not empty: an empty read is the end of input. With ask_more,
    // for a backend that starts the next read from this completion (Asio), it then says whether the channel takes
    // more input now: still registered, nothing waiting for it, and readable() (under the rule above; a throw says
    // no). Without, it returns false and asks nothing.
    virtual bool bytes_received(int fd, std::uint64_t reader, std::span<const char> bytes, bool ask_more) = 0;
    // The peer shut its side: the end of input (handle_close, as a recv of 0 would).
    virtual void peer_closed(int fd, std::uint64_t reader) = 0;
    // A read failed with errno err: handle_close for a disconnect, handle_error otherwise.
    virtual void read_failed(int fd, std::uint64_t reader, int err) = 0;

protected:
    ~completion_sink() = default;
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
