#include "asio_poller.hpp"

#include <poll.h>

#include <boost/asio/post.hpp>

#include <asyncore/dispatcher.hpp>
#include <asyncore/socket_map.hpp>

namespace asynchat::asio_transport {

using boost::asio::posix::descriptor_base;

asio_poller::asio_poller(design d)
    : design_(d), own_io_(std::make_unique<boost::asio::io_context>(1)), io_(own_io_.get()) {}

asio_poller::asio_poller(boost::asio::io_context& io, std::function<void()> on_events, design d)
    : design_(d), io_(&io), on_events_(std::move(on_events)) {}

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
    e.transport_reads = false;
    e.had_input = false;
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
    e.read_buffer.reset();
    e.transport_reads = false;
    e.had_input = false;
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
    // A channel starts reading through Asio once it says so (an async_chat once connected) and once it has had
    // input — so a connection that never speaks holds no read buffer — and only between two reads, so that a wait
    // and a read are never both in flight.
    if (design_ == design::completion && !e.transport_reads && e.had_input && !(e.armed & POLLIN)) {
        const asyncore::dispatcher* channel = map_ ? map_->get(fd) : nullptr;
        e.transport_reads = channel && channel->wants_transport_reads();
    }
    if (e.transport_reads && (e.interest & POLLIN) && !(e.armed & POLLIN)) {
        if (!e.read_buffer) e.read_buffer = std::make_unique<char[]>(read_buffer_size);
        e.armed |= POLLIN;
        e.descriptor->async_read_some(
            boost::asio::buffer(e.read_buffer.get(), read_buffer_size),
            [this, alive = alive_, fd, generation = e.generation](const boost::system::error_code& ec,
                                                                  std::size_t n) {
                if (*alive) on_read(fd, generation, ec, n);
            });
    }
    for (const auto& w : waits) {
        // A queued wait_error would stop Asio from reading speculatively; async_chat has no use for OOB data.
        if (e.transport_reads && w.bit != POLLOUT) continue;
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
    if (!ec || ec == boost::asio::error::operation_not_supported) {
        e.fired |= bit & e.interest;
        if (bit == POLLIN) e.had_input = true;
    }
    else
        e.fired |= POLLERR;
    mark_ready(fd);
}

void asio_poller::mark_ready(int fd) {
    entry& e = entries_[static_cast<std::size_t>(fd)];
    if (!e.listed) {
        e.listed = true;
        ready_.push_back(fd);
    }
    if (!driving_ && on_events_) on_events_();
}

void asio_poller::on_read(int fd, std::uint64_t generation, const boost::system::error_code& ec, std::size_t n) {
    if (static_cast<std::size_t>(fd) >= entries_.size()) return;
    {
        entry& e = entries_[static_cast<std::size_t>(fd)];
        if (e.generation != generation) return;
        e.armed &= ~POLLIN;
    }
    if (ec == boost::asio::error::operation_aborted) return;
    // The handlers may close this channel (which frees its entry's buffer) or open others (which can move
    // entries_), so the buffer is held here and the entry looked up again afterwards.
    auto buffer = std::move(entries_[static_cast<std::size_t>(fd)].read_buffer);
    if (!ec && n > 0)
        map_->deliver_received(fd, std::string_view(buffer.get(), n));
    else if (ec == boost::asio::error::eof || (!ec && n == 0))
        map_->deliver_eof(fd);
    else
        map_->deliver_error(fd, ec.value());
    entry& e = entries_[static_cast<std::size_t>(fd)];
    if (e.generation != generation) return;
    e.read_buffer = std::move(buffer);
    // The next read is started after the pass, with the interest the handlers left.
    mark_ready(fd);
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
