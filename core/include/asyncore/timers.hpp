#pragma once
// Timers on the loop: call_later(delay, fn) runs fn once from the loop, after the I/O of the pass in which its
// deadline falls due. Timers due in the same pass run in deadline order, ties in the order they were made.
// The queue is a binary heap: O(log n) to add, O(1) to cancel (the entry is skipped when it surfaces).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <vector>

namespace asyncore {

using clock = std::chrono::steady_clock;

class timer_queue;

namespace detail {
struct timer_node {
    std::function<void()> fn;
    bool cancelled = false;
    bool fired = false;
    timer_queue* queue = nullptr;
};
} // namespace detail

class timer_handle {
public:
    timer_handle() = default;
    // Idempotent; cancelling a timer that already ran does nothing.
    void cancel() noexcept;
    bool pending() const noexcept { return node_ && !node_->cancelled && !node_->fired; }

private:
    friend class timer_queue;
    explicit timer_handle(std::shared_ptr<detail::timer_node> n) : node_(std::move(n)) {}
    std::shared_ptr<detail::timer_node> node_;
};

class timer_queue {
public:
    timer_queue() = default;
    timer_queue(const timer_queue&) = delete;
    timer_queue& operator=(const timer_queue&) = delete;
    ~timer_queue();

    timer_handle schedule(clock::time_point deadline, std::function<void()> fn);
    // Timers neither run nor cancelled.
    std::size_t pending() const noexcept { return pending_; }
    // The earliest deadline of a pending timer, if any.
    bool next_deadline(clock::time_point& out);
    // Runs every timer due at `now`; a timer made while they run waits for the next pass even if already due.
    // An exception thrown by a timer is reported through on_error and the others still run; asyncore::exit_now
    // propagates.
    void run_due(clock::time_point now, const std::function<void(std::exception_ptr)>& on_error);

private:
    friend class timer_handle;
    struct entry {
        clock::time_point deadline;
        std::uint64_t seq;
        std::shared_ptr<detail::timer_node> node;
        bool operator>(const entry& o) const noexcept {
            return deadline != o.deadline ? deadline > o.deadline : seq > o.seq;
        }
    };
    void drop_cancelled_top();
    std::priority_queue<entry, std::vector<entry>, std::greater<>> heap_;
    std::uint64_t next_seq_ = 0;
    std::size_t pending_ = 0;
};

} // namespace asyncore
