#include "asio_poller.hpp"

#include <poll.h>

#include <cassert>

namespace asynchat::asio_transport {

using boost::asio::posix::descriptor_base;

asio_poller::asio_poller(design d)
    : design_(d),
      // Only loop() on this thread ever touches this io_context (it is private to the poller), so Asio may drop
      // its locks: the scheduler's and each descriptor's mutex, taken several times per operation.
      own_io_(std::make_unique<boost::asio::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE)), io_(own_io_.get()) {}

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
    assert(interest != 0 && !e.descriptor && "the loop adds an fd, with some interest, only while it is not registered");
    // Non-owning: the channel's socket owns the fd; remove() releases it before the channel closes it.
    e.descriptor = std::make_unique<boost::asio::posix::stream_descriptor>(*io_, fd);
    e.generation = next_generation_++;
    e.interest = interest;
    e.armed = 0;
    e.fired = 0;
    e.transport_reads = false;
    e.had_input = false;
    e.reader = 0;
    e.read_pass = 0;
    arm(fd);
}

void asio_poller::modify(int fd, unsigned interest) {
    entry& e = entries_[static_cast<std::size_t>(fd)];
    assert(interest != 0 && e.descriptor && "modify: a registered fd, to some interest (else remove)");
    e.interest = interest;
    // A wait no longer wanted is left to complete; its event is dropped then (cancelling would cancel all).
    // A read no longer wanted is left to complete too: its bytes go to the map, which keeps them for the channel
    // until it is readable again.
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
    e.read_capacity = 0;
    e.transport_reads = false;
    e.had_input = false;
    e.reader = 0;
    e.generation = 0;
    e.interest = e.armed = e.fired = 0;
}

void asio_poller::reset_descriptor(int fd) {
    // A fresh stream_descriptor for the same fd: the only way to take back one queued wait (cancel() aborts them
    // all). Its completions find a new generation and are ignored; arm() then starts what is still wanted.
    entry& e = entries_[static_cast<std::size_t>(fd)];
    boost::system::error_code ignored;
    e.descriptor->cancel(ignored);
    e.descriptor->release();
    e.descriptor = std::make_unique<boost::asio::posix::stream_descriptor>(*io_, fd);
    e.generation = next_generation_++;
    e.armed = 0;
}

void asio_poller::arm(int fd) {
    entry& e = entries_[static_cast<std::size_t>(fd)];
    static constexpr struct {
        unsigned bit;
        descriptor_base::wait_type type;
    } waits[] = {{POLLIN, descriptor_base::wait_read},
                 {POLLOUT, descriptor_base::wait_write},
                 {POLLPRI, descriptor_base::wait_error}};
    // Completion design: a channel that can take its input from the transport (an async_chat once connected)
    // never gets a wait_error. One queued wait_error would make Asio give up reading speculatively and re-register
    // the descriptor (EPOLL_CTL_MOD) for every read it starts — Boost 1.74's epoll_reactor::start_op, "read_op with
    // the except_op queue not empty" — which is what an epoll_ctl per message came from. async_chat has no use for
    // out-of-band data. A wait_error started before the channel connected is taken back with the descriptor.
    bool reads_through_asio = e.transport_reads;
    if (design_ == design::completion && !reads_through_asio) {
        if (const std::uint64_t reader = sink_ ? sink_->transport_reader(fd) : 0) {
            if (e.armed & POLLPRI) reset_descriptor(fd);
            reads_through_asio = true;
            e.reader = reader;
            // Asio reads for it once it has had input — so a connection that never speaks holds no read buffer —
            // and only between two waits, so that a wait and a read are never both in flight.
            if (e.had_input && !(e.armed & POLLIN)) e.transport_reads = true;
        }
    }
    if (e.transport_reads && (e.interest & POLLIN) && !(e.armed & POLLIN)) start_read(fd);
    for (const auto& w : waits) {
        if (reads_through_asio && w.bit == POLLPRI) continue;
        if (e.transport_reads && w.bit == POLLIN) continue;
        if (!(e.interest & w.bit) || (e.armed & w.bit)) continue;
        e.armed |= w.bit;
        e.descriptor->async_wait(w.type, [this, alive = alive_, fd, generation = e.generation,
                                          bit = w.bit](const boost::system::error_code& ec) {
            if (*alive) on_wait(fd, generation, bit, ec);
        });
    }
}

void asio_poller::start_read(int fd) {
    entry& e = entries_[static_cast<std::size_t>(fd)];
    if (!e.read_buffer) {
        e.read_capacity = initial_read_size;
        e.read_buffer = std::make_unique_for_overwrite<char[]>(e.read_capacity);
    }
    e.armed |= POLLIN;
    e.descriptor->async_read_some(
        boost::asio::buffer(e.read_buffer.get(), e.read_capacity),
        [this, alive = alive_, fd, generation = e.generation](const boost::system::error_code& ec, std::size_t n) {
            if (*alive) on_read(fd, generation, ec, n);
        });
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

void asio_poller::note_activity() {
    activity_ = true;
    if (!driving_ && on_events_) on_events_();
}

void asio_poller::on_read(int fd, std::uint64_t generation, const boost::system::error_code& ec, std::size_t n) {
    if (static_cast<std::size_t>(fd) >= entries_.size()) return;
    entry& e = entries_[static_cast<std::size_t>(fd)];
    if (e.generation != generation) return;
    assert(e.transport_reads && e.reader != 0 && (e.armed & POLLIN) && "a read completes only where one was started");
    e.armed &= ~POLLIN;
    if (ec == boost::asio::error::operation_aborted) return;
    const bool eof = ec == boost::asio::error::eof || (!ec && n == 0);
    if (ec && !eof) {
        // An error is reported whatever the interest, as epoll reports EPOLLERR.
        rearm_.push_back(fd); // first: handle_error may throw exit_now (arm_waiting skips an fd since removed)
        sink_->read_failed(fd, e.reader, ec.value());
        note_activity();
        return;
    }
    // Whether the channel still reads (it may have stopped after this read began, say for output backpressure) is
    // the map's to judge: what it does not take now, it keeps for the channel.
    deliver(fd, generation, n, eof);
}

void asio_poller::deliver(int fd, std::uint64_t generation, std::size_t n, bool eof) {
    // The handlers may close this channel (which frees its entry's buffer) or open others (which can move
    // entries_), so the buffer is held here and the entry looked up again afterwards.
    entry& before = entries_[static_cast<std::size_t>(fd)];
    std::unique_ptr<char[]> buffer = std::move(before.read_buffer);
    const std::uint64_t reader = before.reader;
    // The next read starts here, inside the completion handler, so that the descriptor never goes without a read
    // queued and Asio never re-registers it: usually Asio's speculative read finds nothing and the read waits in
    // the reactor for the next edge. The registered interest is the one from before the handler ran, so the map
    // is asked whether the channel still reads (a handler that paused it must not get another read in this
    // pass): bytes_received's answer. After the EOF, after a read that was the second this pass (a peer that keeps
    // the socket full must not hold the loop in one pass), or for a channel that stopped reading, the read is
    // started after the pass instead, with the interest the handlers left.
    const bool may_read_on = !eof && before.read_pass != pass_ && (before.interest & POLLIN);
    bool reads_on = false;
    try {
        if (eof)
            sink_->peer_closed(fd, reader);
        else
            reads_on = sink_->bytes_received(fd, reader, std::span<const char>(buffer.get(), n), may_read_on);
    } catch (...) {
        // exit_now from a handler leaves the loop: the next wait starts what the channel still wants.
        entry& e = entries_[static_cast<std::size_t>(fd)];
        if (e.generation == generation) {
            if (!e.read_buffer) e.read_buffer = std::move(buffer);
            rearm_.push_back(fd);
        }
        throw;
    }
    note_activity();
    entry& e = entries_[static_cast<std::size_t>(fd)];
    if (e.generation != generation) return;
    // (A loop run inside the handler may have started a read into a buffer of its own: that one stays.)
    if (!e.read_buffer) {
        if (n == e.read_capacity && e.read_capacity < read_buffer_size) {
            // A full buffer: more is likely waiting. From now on this channel reads in full-size pieces.
            e.read_capacity = read_buffer_size;
            buffer = std::make_unique_for_overwrite<char[]>(e.read_capacity);
        }
        e.read_buffer = std::move(buffer);
    }
    if (reads_on && e.read_pass != pass_ && (e.interest & POLLIN) && !(e.armed & POLLIN)) {
        e.read_pass = pass_;
        start_read(fd);
    }
    else
        rearm_.push_back(fd);
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

void asio_poller::arm_waiting() {
    for (int fd : rearm_)
        if (entries_[static_cast<std::size_t>(fd)].descriptor) arm(fd);
    rearm_.clear();
}

void asio_poller::rearm() {
    ++pass_;
    arm_waiting();
}

std::span<const asyncore::fired_event> asio_poller::take_events() { return collect(); }

std::span<const asyncore::fired_event> asio_poller::wait(int timeout_ms) {
    ++pass_;
    activity_ = false;
    // Renewed here, outside io.run(): posted to run inside it instead, the waits would cost the reactor one more
    // epoll_wait per pass (it runs once, without blocking, before the posted handler). Reads of the completion
    // design are mostly renewed from their own completion handlers (deliver()), so this is the readiness waits.
    arm_waiting();
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
        while (ready_.empty() && !activity_) {
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
