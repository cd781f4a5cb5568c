#include "asyncore/signals.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <system_error>

#include "asyncore/file_dispatcher.hpp"
#include "asyncore/loop.hpp"

namespace asyncore {

namespace {

// One self-pipe per watcher, so that each watcher hears only its own signals (a SIGHUP watcher must not wake the
// SIGTERM one) and every watcher of a signal hears it (one per loop, when several loops run). The handler may
// only read plain memory and write(2): it walks a fixed table of slots, each a pipe and the set of signals it
// wants. A slot's pipe is made once and kept, and a slot is reused after its watcher closes, so the handler
// never writes to a descriptor that has been closed (and perhaps reused for something else).
struct slot {
    std::atomic<std::uint64_t> signals{0}; // bit n: signal n; 0 while free
    int read_fd = -1;                      // set once, before the slot is first used
    std::atomic<int> write_fd{-1};
    bool in_use = false;                   // registration only (under registry_mutex)
};
std::array<slot, 64> slots;
std::mutex registry_mutex;

extern "C" void on_signal_arrived(int sig) {
    const int saved = errno;
    const char byte = static_cast<char>(sig);
    for (auto& s : slots) {
        if (!(s.signals.load(std::memory_order_acquire) & (std::uint64_t{1} << sig))) continue;
        // Non-blocking: if the pipe is full, a wake-up is already pending.
        [[maybe_unused]] auto ignored = ::write(s.write_fd.load(std::memory_order_relaxed), &byte, 1);
    }
    errno = saved;
}

std::uint64_t mask_of(std::initializer_list<int> signals) {
    std::uint64_t mask = 0;
    for (int sig : signals) {
        if (sig <= 0 || sig >= 64) throw std::system_error(EINVAL, std::system_category(), "signal number");
        mask |= std::uint64_t{1} << sig;
    }
    return mask;
}

// A free slot, its pipe emptied of an earlier watcher's wake-ups; the signals are armed by arm().
slot& take_slot() {
    std::lock_guard lock(registry_mutex);
    for (auto& s : slots) {
        if (s.in_use) continue;
        if (s.read_fd < 0) {
            int fds[2];
            if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
                throw std::system_error(errno, std::system_category(), "pipe2");
            s.read_fd = fds[0];
            s.write_fd.store(fds[1], std::memory_order_relaxed);
        }
        char drain[64];
        while (::read(s.read_fd, drain, sizeof drain) > 0) {
        }
        s.in_use = true;
        return s;
    }
    throw std::system_error(EMFILE, std::system_category(), "asyncore: more than 64 signal watchers");
}

void release_slot(slot& s) {
    std::lock_guard lock(registry_mutex);
    s.signals.store(0, std::memory_order_release);
    s.in_use = false;
}

void install(std::initializer_list<int> signals) {
    struct sigaction sa{};
    sa.sa_handler = on_signal_arrived;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (int sig : signals)
        if (::sigaction(sig, &sa, nullptr) != 0) throw std::system_error(errno, std::system_category(), "sigaction");
}

// Reads a slot's pipe (a dup of it: file_dispatcher owns its own descriptor); gives the slot back when closed.
class slot_watcher : public file_dispatcher {
public:
    slot_watcher(slot& s, std::uint64_t mask, socket_map* map) : file_dispatcher(s.read_fd, map), slot_(&s) {
        s.signals.store(mask, std::memory_order_release);
    }
    ~slot_watcher() override { give_back(); }
    bool writable() override { return false; }
    bool outlives_shutdown() const noexcept override { return true; }
    void close() override {
        give_back();
        file_dispatcher::close();
    }

protected:
    // Every pending wake-up at once: two signals in one pass are one event, as the handler cannot count.
    void drain() {
        char buf[64];
        while (recv(buf, sizeof buf) == sizeof buf) {
        }
    }

private:
    void give_back() {
        if (slot_) release_slot(*std::exchange(slot_, nullptr));
    }
    slot* slot_;
};

class signal_watcher final : public slot_watcher {
public:
    using slot_watcher::slot_watcher;
    void handle_read() override { throw exit_now(); }
};

class signal_callback final : public slot_watcher {
public:
    signal_callback(slot& s, std::uint64_t mask, socket_map* map, std::function<void()> fn)
        : slot_watcher(s, mask, map), fn_(std::move(fn)) {}
    void handle_read() override {
        drain();
        fn_();
    }

private:
    std::function<void()> fn_;
};

} // namespace

void exit_on_signals(std::initializer_list<int> signals, socket_map* map) {
    const auto mask = mask_of(signals);
    slot& s = take_slot();
    try {
        make<signal_watcher>(s, mask, map);
    } catch (...) {
        release_slot(s);
        throw;
    }
    install(signals);
}

ref<dispatcher> on_signals(std::initializer_list<int> signals, std::function<void()> on_signal, socket_map* map) {
    const auto mask = mask_of(signals);
    slot& s = take_slot();
    ref<dispatcher> watcher;
    try {
        watcher = make<signal_callback>(s, mask, map, std::move(on_signal));
    } catch (...) {
        release_slot(s);
        throw;
    }
    install(signals);
    return watcher;
}

} // namespace asyncore
