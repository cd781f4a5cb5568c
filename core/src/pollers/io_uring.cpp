// io_uring(7) through liburing: the readiness backend. Each registered fd has one poll request in the kernel;
// a pass queues that pass's requests and waits for completions in one io_uring_enter.
//
// Level-triggered, like the epoll backend, because the loop relies on it: a handler need not drain its socket,
// and a channel whose data is still unread must be told so again on the next pass. Multishot poll
// (IORING_POLL_ADD_MULTI) cannot give that: it posts a completion when the fd's wait queue is woken, so data
// left unread is never reported again (seen on Linux 6.18: tests/core/test_poller.cpp's
// unread_input_is_reported_again fails on it), and the kernel refuses IORING_POLL_ADD_LEVEL together with
// multishot (EINVAL). So each poll is one-shot and re-armed by the next wait, after the handlers have run: a
// poll armed on an fd that is still ready completes at once, inside that same io_uring_enter, which is exactly
// the level-triggered report. The cost is one SQE per delivered event — no extra system call.
//
// The kernel holds a reference to the file of every request in flight, so remove() submits its cancellation at
// once: the channel closes the fd right after, and the socket must really close then (its peer sees EOF), not
// at the next pass.
#include <liburing.h>
#include <poll.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "asyncore/poller.hpp"

namespace asyncore::pollers {
namespace {

// Room for one pass's requests: a re-arm per event, plus the interest changes. More than fits is submitted
// early (one more io_uring_enter), never lost.
constexpr unsigned sq_entries = 1024;
// Completions: one per armed fd at most, plus the few control requests that fail. A fuller CQ does not lose
// anything either (IORING_FEAT_NODROP: the kernel keeps the overflow and wait() flushes it).
constexpr unsigned cq_entries = 4 * sq_entries;

// user_data of control requests (poll update, poll remove), whose own completions carry nothing we need.
constexpr std::uint64_t control_tag = ~std::uint64_t{0};

std::uint64_t tag(int fd, std::uint32_t generation) {
    return (std::uint64_t{generation} << 32) | static_cast<std::uint32_t>(fd);
}

// Why this kernel cannot run the backend, or "" when it can. Asked once per process.
std::string probe() {
    io_uring ring;
    io_uring_params params{};
    if (int rc = io_uring_queue_init_params(2, &ring, &params); rc < 0) return std::strerror(-rc);
    std::string reason;
    // EXT_ARG: the wait's timeout travels with io_uring_enter itself (Linux 5.11); without it every timed wait
    // would cost a timeout request. NODROP: a full completion queue loses nothing (Linux 5.5).
    if (!(params.features & IORING_FEAT_EXT_ARG))
        reason = "kernel lacks IORING_FEAT_EXT_ARG (Linux 5.11 or later needed)";
    else if (!(params.features & IORING_FEAT_NODROP))
        reason = "kernel lacks IORING_FEAT_NODROP (Linux 5.5 or later needed)";
    io_uring_queue_exit(&ring);
    return reason;
}

class io_uring_poller final : public poller {
public:
    io_uring_poller() {
        io_uring_params params{};
        params.flags = IORING_SETUP_CQSIZE;
        params.cq_entries = cq_entries;
        if (int rc = io_uring_queue_init_params(sq_entries, &ring_, &params); rc < 0)
            throw std::system_error(-rc, std::system_category(), "io_uring_queue_init");
    }
    ~io_uring_poller() override { io_uring_queue_exit(&ring_); }
    std::string_view name() const noexcept override { return "io_uring"; }

    void add(int fd, unsigned interest) override {
        if (static_cast<std::size_t>(fd) >= entries_.size()) entries_.resize(static_cast<std::size_t>(fd) + 1);
        entry& e = entries_[static_cast<std::size_t>(fd)];
        e.interest = interest;
        // A new tag: completions still to come for an earlier registration of this fd number are ignored.
        if (++next_generation_ == 0) ++next_generation_;
        e.generation = next_generation_;
        e.fired = 0;
        arm(fd, e);
    }

    void modify(int fd, unsigned interest) override {
        entry& e = entries_[static_cast<std::size_t>(fd)];
        e.interest = interest;
        e.fired &= interest | POLLERR | POLLHUP | POLLNVAL;
        // Not armed: its last poll completed this pass, and the next wait re-arms it with this interest.
        if (!e.armed) return;
        // If the poll completes before the update reaches it, the update fails (its completion is ignored) and
        // the completion's bits are filtered by the interest then.
        // The poll keeps its tag (new user_data 0: the kernel refuses any other without UPDATE_USER_DATA), and
        // the kernel polls the fd again with the new mask, so an fd already ready for it completes at once.
        io_uring_sqe* sqe = get_sqe();
        io_uring_prep_poll_update(sqe, tag(fd, e.generation), 0, poll_mask(interest), IORING_POLL_UPDATE_EVENTS);
        control(sqe);
    }

    void remove(int fd) noexcept override {
        if (fd < 0 || static_cast<std::size_t>(fd) >= entries_.size()) return;
        entry& e = entries_[static_cast<std::size_t>(fd)];
        const bool armed = e.armed;
        const std::uint64_t t = tag(fd, e.generation);
        e = entry{};
        if (!armed) return;
        io_uring_sqe* sqe = try_get_sqe();
        if (!sqe) return; // the SQ cannot be flushed: the poll completes on its own and is ignored then
        io_uring_prep_poll_remove(sqe, t);
        control(sqe);
        io_uring_submit(&ring_);
    }

    std::span<const fired_event> wait(int timeout_ms) override {
        rearm_delivered();
        // Completions reaped since the last wait (while flushing a full SQ) are this pass's events already.
        if (!completed_.empty()) timeout_ms = 0;
        __kernel_timespec ts{};
        if (timeout_ms > 0) {
            ts.tv_sec = timeout_ms / 1000;
            ts.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1000000;
        }
        io_uring_cqe* cqe = nullptr;
        // Submits this pass's requests and waits for the first completion: one io_uring_enter.
        int rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, timeout_ms < 0 ? nullptr : &ts, nullptr);
        // ETIME: the timeout passed. EINTR: a signal. EBUSY/EAGAIN: the kernel could not take more requests until
        // completions are reaped — reaped below, submitted next pass. Whatever completed is delivered in every
        // case: a completion reaped and then held back would never be reported (its poll is not armed any more).
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN)
            throw std::system_error(-rc, std::system_category(), "io_uring_submit_and_wait_timeout");
        reap();
        fired_.clear();
        // Several completions for one fd in this pass (a poll and its update racing) are one event.
        for (int fd : completed_) {
            entry& e = entries_[static_cast<std::size_t>(fd)];
            e.listed = false;
            if (e.fired) fired_.push_back({fd, e.fired});
            e.fired = 0;
        }
        // Completions reaped outside a wait (while flushing a full SQ) wait in completed_ for the next one, and
        // are re-armed only once delivered.
        to_rearm_.swap(completed_);
        completed_.clear();
        return fired_;
    }

private:
    struct entry {
        unsigned interest = 0;        // 0: not registered
        std::uint32_t generation = 0; // the tag of this registration's requests
        bool armed = false;           // a poll request is queued or in flight
        bool listed = false;          // in completed_: its poll completed, to be delivered by the next wait
        unsigned fired = 0;           // events gathered for this pass
    };

    void arm(int fd, entry& e) {
        io_uring_sqe* sqe = get_sqe();
        io_uring_prep_poll_add(sqe, fd, poll_mask(e.interest));
        io_uring_sqe_set_data64(sqe, tag(fd, e.generation));
        e.armed = true;
    }

    // A poll woken by the fd's wait queue completes with the wake-up's key, not with a fresh look at the fd (as
    // epoll takes): a socket's "data arrived" wake-up says POLLIN|POLLPRI|POLLRDNORM|POLLRDBAND whether or not
    // urgent data came, so every such completion would claim POLLPRI and call handle_expt. A poll that finds the
    // fd ready when armed asks the fd itself, and TCP, Unix sockets and pipes never answer POLLRDBAND. So
    // POLLRDBAND is asked for too and marks the hint, whose POLLPRI is dropped; real urgent data is reported by
    // the re-armed poll of the next pass, which asks the socket (tests/core/test_api.cpp, handle_expt).
    static unsigned poll_mask(unsigned interest) {
        return interest & POLLPRI ? interest | POLLRDBAND : interest;
    }

    static void control(io_uring_sqe* sqe) {
        io_uring_sqe_set_data64(sqe, control_tag);
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    }

    io_uring_sqe* try_get_sqe() noexcept {
        if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
        // The SQ is full: hand it to the kernel now, reaping first if the kernel wants room for completions.
        for (int attempt = 0; attempt < 2; ++attempt) {
            int rc = io_uring_submit(&ring_);
            if (rc == -EBUSY || rc == -EAGAIN) reap();
            if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
        }
        return nullptr;
    }

    io_uring_sqe* get_sqe() {
        if (io_uring_sqe* sqe = try_get_sqe()) return sqe;
        throw std::system_error(EBUSY, std::system_category(), "io_uring: submission queue full");
    }

    // Polls that completed last pass are armed again now that their handlers have run: armed before, a socket
    // still readable would complete at once and report data the handler was about to read.
    void rearm_delivered() {
        for (int fd : to_rearm_) {
            entry& e = entries_[static_cast<std::size_t>(fd)];
            if (e.interest && !e.armed) arm(fd, e);
        }
        to_rearm_.clear();
    }

    // Takes every completion out of the CQ (and the kernel's overflow list) into the entries.
    void reap() {
        for (;;) {
            unsigned head;
            unsigned seen = 0;
            io_uring_cqe* cqe;
            io_uring_for_each_cqe(&ring_, head, cqe) {
                ++seen;
                on_completion(io_uring_cqe_get_data64(cqe), cqe->res);
            }
            io_uring_cq_advance(&ring_, seen);
            // Completions the CQ had no room for wait in the kernel: flush them and go round again.
            if (!io_uring_cq_has_overflow(&ring_)) return;
            io_uring_get_events(&ring_);
        }
    }

    void on_completion(std::uint64_t user_data, int res) {
        if (user_data == control_tag) return;
        const int fd = static_cast<int>(user_data & 0xffffffffu);
        const auto generation = static_cast<std::uint32_t>(user_data >> 32);
        if (static_cast<std::size_t>(fd) >= entries_.size()) return;
        entry& e = entries_[static_cast<std::size_t>(fd)];
        if (e.generation != generation || e.interest == 0) return; // removed, perhaps the fd reused, since
        e.armed = false;
        if (res >= 0) {
            auto ready = static_cast<unsigned>(res);
            if (ready & POLLRDBAND) ready &= ~POLLPRI; // a wake-up's hint, not the socket's state: see poll_mask
            e.fired |= ready & (e.interest | POLLERR | POLLHUP | POLLNVAL);
        }
        else if (res != -ECANCELED)
            e.fired |= POLLERR; // the fd cannot be polled at all: the channel hears of it as an error
        if (!e.listed) {
            e.listed = true;
            completed_.push_back(fd);
        }
    }

    io_uring ring_{};
    std::vector<entry> entries_;
    std::vector<int> completed_; // polls completed since the last wait returned
    std::vector<int> to_rearm_;  // polls whose events the last wait delivered
    std::vector<fired_event> fired_;
    std::uint32_t next_generation_ = 0;
};

} // namespace

std::string io_uring_unavailable() {
    static const std::string reason = probe();
    return reason;
}

std::unique_ptr<poller> make_io_uring() { return std::make_unique<io_uring_poller>(); }

} // namespace asyncore::pollers
