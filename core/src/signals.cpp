#include "asyncore/signals.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "asyncore/file_dispatcher.hpp"
#include "asyncore/loop.hpp"

namespace asyncore {

namespace {

int wake_fd = -1; // write end of the self-pipe, shared by every watcher
int watch_fd = -1;

extern "C" void on_exit_signal(int) {
    const int saved = errno;
    // Non-blocking: if the pipe is full, a wake-up is already pending.
    [[maybe_unused]] auto ignored = ::write(wake_fd, "x", 1);
    errno = saved;
}

class signal_watcher final : public file_dispatcher {
public:
    using file_dispatcher::file_dispatcher;
    void handle_read() override { throw exit_now(); }
    bool writable() override { return false; }
    bool outlives_shutdown() const noexcept override { return true; }
};

class signal_callback final : public file_dispatcher {
public:
    signal_callback(int fd, socket_map* map, std::function<void()> fn) : file_dispatcher(fd, map), fn_(std::move(fn)) {}
    void handle_read() override {
        // Every pending wake-up at once: two signals in one pass are one event, as the handler cannot count.
        char buf[64];
        while (recv(buf, sizeof buf) == sizeof buf) {
        }
        fn_();
    }
    bool writable() override { return false; }
    bool outlives_shutdown() const noexcept override { return true; }

private:
    std::function<void()> fn_;
};

void open_pipe() {
    if (wake_fd >= 0) return;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw std::system_error(errno, std::system_category(), "pipe2");
    watch_fd = fds[0];
    wake_fd = fds[1];
}

void install(std::initializer_list<int> signals) {
    struct sigaction sa{};
    sa.sa_handler = on_exit_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (int sig : signals)
        if (::sigaction(sig, &sa, nullptr) != 0) throw std::system_error(errno, std::system_category(), "sigaction");
}

} // namespace

void exit_on_signals(std::initializer_list<int> signals, socket_map* map) {
    open_pipe();
    make<signal_watcher>(watch_fd, map);
    install(signals);
}

ref<dispatcher> on_signals(std::initializer_list<int> signals, std::function<void()> on_signal, socket_map* map) {
    open_pipe();
    auto watcher = make<signal_callback>(watch_fd, map, std::move(on_signal));
    install(signals);
    return watcher;
}

} // namespace asyncore
