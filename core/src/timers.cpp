#include "asyncore/timers.hpp"

#include "asyncore/loop.hpp"

namespace asyncore {

void timer_handle::cancel() noexcept {
    if (!node_ || node_->cancelled || node_->fired) return;
    node_->cancelled = true;
    node_->fn = nullptr; // release captures now, not when the heap entry surfaces
    if (node_->queue) --node_->queue->pending_;
}

timer_queue::~timer_queue() {
    // Handles may outlive the queue; they must not reach back into it.
    while (!heap_.empty()) {
        heap_.top().node->queue = nullptr;
        heap_.pop();
    }
}

timer_handle timer_queue::schedule(clock::time_point deadline, std::function<void()> fn) {
    auto node = std::make_shared<detail::timer_node>();
    node->fn = std::move(fn);
    node->queue = this;
    heap_.push(entry{deadline, next_seq_++, node});
    ++pending_;
    return timer_handle(std::move(node));
}

void timer_queue::drop_cancelled_top() {
    while (!heap_.empty() && heap_.top().node->cancelled) heap_.pop();
}

bool timer_queue::next_deadline(clock::time_point& out) {
    drop_cancelled_top();
    if (heap_.empty()) return false;
    out = heap_.top().deadline;
    return true;
}

void timer_queue::run_due(clock::time_point now, const std::function<void(std::exception_ptr)>& on_error) {
    // Timers made by the ones running now get a seq past this bound and wait for the next pass, so a timer that
    // re-arms itself with delay 0 cannot starve I/O.
    const std::uint64_t bound = next_seq_;
    for (;;) {
        drop_cancelled_top();
        if (heap_.empty()) return;
        const entry& top = heap_.top();
        if (top.deadline > now || top.seq >= bound) return;
        auto node = top.node;
        heap_.pop();
        node->fired = true;
        node->queue = nullptr;
        --pending_;
        auto fn = std::move(node->fn);
        try {
            fn();
        } catch (const exit_now&) {
            throw;
        } catch (...) {
            on_error(std::current_exception());
        }
    }
}

} // namespace asyncore
