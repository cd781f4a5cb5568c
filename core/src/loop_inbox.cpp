#include "asyncore/loop_inbox.hpp"

#include <cerrno>
#include <cstdint>
#include <exception>
#include <system_error>

#include <sys/eventfd.h>
#include <unistd.h>

#include "asyncore/file_dispatcher.hpp"

namespace asyncore {

class loop_inbox::waker final : public file_dispatcher {
public:
    waker(int fd, socket_map& map, loop_inbox& inbox) : file_dispatcher(fd, &map), inbox_(&inbox) {}
    bool readable() override { return true; }
    bool writable() override { return false; }
    void handle_read() override {
        std::uint64_t count = 0;
        // Non-blocking: EAGAIN when another pass already took the count, which is harmless.
        [[maybe_unused]] const auto n = ::read(fileno(), &count, sizeof count);
        if (inbox_) inbox_->run_pending();
    }
    void handle_close() override {} // an eventfd does not close under us
    // The deliveries of a draining server complete through it: it works until the inbox goes.
    bool outlives_shutdown() const noexcept override { return true; }
    void detach() noexcept { inbox_ = nullptr; }

private:
    loop_inbox* inbox_;
};

loop_inbox::loop_inbox(socket_map& map) {
    event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (event_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
    try {
        waker_ = make<waker>(event_fd_, map, *this);
    } catch (...) {
        ::close(event_fd_);
        throw;
    }
}

loop_inbox::~loop_inbox() {
    waker_->detach();
    waker_->close();
    waker_.reset();
    ::close(event_fd_);
}

void loop_inbox::call_from_thread(std::function<void()> fn) {
    bool wake = false;
    {
        std::lock_guard lock(mutex_);
        pending_.push_back(std::move(fn));
        wake = !std::exchange(signalled_, true);
    }
    if (wake) {
        const std::uint64_t one = 1;
        // Only EAGAIN (the counter full, impossible at one write per batch) could fail here.
        [[maybe_unused]] const auto n = ::write(event_fd_, &one, sizeof one);
    }
}

void loop_inbox::run_pending() {
    std::vector<std::function<void()>> batch;
    {
        std::lock_guard lock(mutex_);
        batch.swap(pending_);
        signalled_ = false;
    }
    // One function's exception must not cost the others their turn: each runs, and the first exception is
    // rethrown afterwards (the waker's handle_error logs it).
    std::exception_ptr first;
    for (auto& fn : batch) {
        try {
            fn();
        } catch (...) {
            if (!first) first = std::current_exception();
        }
    }
    if (first) std::rethrow_exception(first);
}

} // namespace asyncore
