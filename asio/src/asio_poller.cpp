#include "asio_poller.hpp"

#include <poll.h>

#include <boost/asio/post.hpp>

namespace asynchat::asio_transport {

using boost::asio::posix::descriptor_base;

asio_poller::asio_poller() : own_io_(std::make_unique<boost::asio::io_context>(1)), io_(own_io_.get()) {}

asio_poller::asio_poller(boost::asio::io_context& io, std::function<void()> on_events)
    : io_(&io), on_events_(std::move(on_events)) {}

asio_poller::~asio_poller() {
    // Completions still queued in the application's io_context must find nothing to touch.
    *alive_ = false;
    for (std::size_t fd = 0; fd < entries_.size(); ++fd) remove(static_cast<int>(fd));
}

void asio_poller::add(int fd, unsigned interest) {
    if (static_cast<std::size_t>(fd) >= entries_.size()) entries_.resize(static_cast<std::size_t>(fd) + 1);
    entry& e = entries_[static_cast<std::size_t>(fd)];
    // Non-owning: the channel's socket owns the fd; remove() releases it before the channel closes it.
    e.descriptor = std::make_unique<boost::asio::posix::stream_descriptor>(*io_, fd);
    e.generation = next_generation_++;
    e.interest = interest;
    e.armed = 0;
    e.fired = 0;
    arm(fd);
}

void asio_poller::modify(int fd, unsigned interest) {
    entry& e = entries_[static_cast<std::size_t>(fd)];
    e.interest = interest;
    // A wait no longer wanted is left to complete; its event is dropped then (cancelling would cancel all).
    e.fired &= interest | POLLERR;
    arm(fd);
}

void asio_poller::remove(int fd) noexcept {
    if (fd < 0 || static_cast<std::size_t>(fd) >= entries_.size()) return;
    entry& e = entries_[static_cast<std::size_t>(fd)];
    if (!e.descriptor) return;
    boost::system::error_code ignored;
    e.descriptor->cancel(ignored);
    e.descriptor->release();
    e.descriptor.reset();
    e.generation = 0;
    e.interest = e.armed = e.fired = 0;
}

void asio_poller::arm(int fd) {
    entry& e = entries_[static_cast<std::size_t>(fd)];
    static constexpr struct {
        unsigned bit;
        descriptor_base::wait_type type;
    } waits[] = {{POLLIN, descriptor_base::wait_read},
                 {POLLOUT, descriptor_base::wait_write},
                 {POLLPRI, descriptor_base::wait_error}};
    for (const auto& w : waits) {
        if (!(e.interest & w.bit) || (e.armed & w.bit)) continue;
        e.armed |= w.bit;
        e.descriptor->async_wait(w.type, [this, alive = alive_, fd, generation = e.generation,
                                          bit = w.bit](const boost::system::error_code& ec) {
            if (*alive) on_wait(fd, generation, bit, ec);
        });
    }
}

void asio_poller::on_wait(int fd, std::uint64_t generation, unsigned bit, const boost::system::error_code& ec) {
    if (static_cast<std::size_t>(fd) >= entries_.size()) return;
    entry& e = entries_[static_cast<std::size_t>(fd)];
    if (e.generation != generation) return; // removed (and perhaps the fd reused) since the wait began
    e.armed &= ~bit;
    if (ec == boost::asio::error::operation_aborted) return;
    // operation_not_supported: an fd epoll cannot watch (a regular file), which is always ready, as poll(2) says.
    if (!ec || ec == boost::asio::error::operation_not_supported)
        e.fired |= bit & e.interest;
    else
        e.fired |= POLLERR;
    if (!e.listed) {
        e.listed = true;
        ready_.push_back(fd);
    }
    if (!driving_ && on_events_) on_events_();
}

std::span<const asyncore::fired_event> asio_poller::collect() {
    fired_.clear();
    for (int fd : ready_) {
        entry& e = entries_[static_cast<std::size_t>(fd)];
        e.listed = false;
        if (e.descriptor && e.fired) fired_.push_back({fd, e.fired});
        e.fired = 0;
        // Re-armed only after the events are handled: armed now, a socket still readable would complete again
        // before its handler had a chance to read.
        rearm_.push_back(fd);
    }
    ready_.clear();
    return fired_;
}

void asio_poller::rearm() {
    for (int fd : rearm_) {
        entry& e = entries_[static_cast<std::size_t>(fd)];
        if (e.descriptor) arm(fd);
    }
    rearm_.clear();
}

std::span<const asyncore::fired_event> asio_poller::take_events() { return collect(); }

std::span<const asyncore::fired_event> asio_poller::wait(int timeout_ms) {
    rearm();
    driving_ = true;
    struct reset {
        bool& flag;
        ~reset() { flag = false; }
    } guard{driving_};
    if (io_->stopped()) io_->restart();
    if (ready_.empty() && timeout_ms != 0) {
        // run_one_for hands the timeout to the reactor's own wait; a steady_timer here would cost a
        // timerfd_settime on every pass.
        using clock = std::chrono::steady_clock;
        const auto deadline = clock::now() + std::chrono::milliseconds(timeout_ms);
        while (ready_.empty()) {
            if (timeout_ms < 0) {
                if (io_->run_one() == 0) break; // nothing at all to wait for
                continue;
            }
            const auto left = deadline - clock::now();
            if (left <= clock::duration::zero() || io_->run_one_for(left) == 0) break;
        }
    }
    // Take whatever else is ready too, so one pass serves every ready channel.
    io_->poll();
    return collect();
}

} // namespace asynchat::asio_transport
