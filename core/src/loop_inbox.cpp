#include "asyncore/loop_inbox.hpp"

#include <cerrno>
#include <cstdint>
#include <exception>
#include <system_error>
#include <utility>

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
    for (node* n = head_.exchange(nullptr); n;) delete std::exchange(n, n->next);
}

void loop_inbox::call_from_thread(std::function<void()> fn) {
    node* n = new node{std::move(fn), head_.load(std::memory_order_relaxed)};
    // Release: the function's captures are visible to the loop that takes the node.
    while (!head_.compare_exchange_weak(n->next, n, std::memory_order_release, std::memory_order_relaxed)) {
    }
    // The stack was empty: the loop may be asleep, and this batch needs one wake-up. A poster that finds it
    // non-empty knows the wake-up of the first is still to be consumed, or the loop is about to take the stack.
    if (n->next == nullptr) {
        const std::uint64_t one = 1;
        // Only EAGAIN (the counter full, impossible at one write per batch) could fail here.
        [[maybe_unused]] const auto written = ::write(event_fd_, &one, sizeof one);
    }
}

void loop_inbox::run_pending() {
    node* n = head_.exchange(nullptr, std::memory_order_acquire);
    node* oldest = nullptr; // the batch reversed: in the order it was posted
    while (n) {
        node* next = n->next;
        n->next = oldest;
        oldest = n;
        n = next;
    }
    // One function's exception must not cost the others their turn: each runs, and the first exception is
    // rethrown afterwards (the waker's handle_error logs it).
    std::exception_ptr first;
    while (oldest) {
        node* next = oldest->next;
        try {
            oldest->fn();
        } catch (...) {
            if (!first) first = std::current_exception();
        }
        delete oldest;
        oldest = next;
    }
    if (first) std::rethrow_exception(first);
}

} // namespace asyncore
