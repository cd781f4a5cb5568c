// io_uring(7) through liburing. Every registered fd has one multishot poll in the kernel; a pass queues its
// requests and waits for completions in one io_uring_enter (io_uring_submit_and_wait_timeout).
//
// Level-triggered, like the epoll backend, because the loop relies on it: a handler need not drain its socket,
// and a channel whose data is still unread must be told so again on the next pass. A multishot poll alone cannot
// give that: it posts a completion when the fd's wait queue is woken, so data left unread is never reported again
// (seen on Linux 6.18: tests/core/test_poller.cpp's unread_input_is_reported_again fails on it), and the kernel
// refuses IORING_POLL_ADD_LEVEL together with multishot (EINVAL). So after a pass has delivered an fd's event, the
// next wait updates that fd's poll (IORING_POLL_UPDATE_EVENTS, same mask): the kernel then asks the fd afresh, and
// one that is still ready completes at once, inside that same io_uring_enter — the level-triggered report. An fd
// whose event was not delivered is not asked again, so a poll that only ever finds bits the loop does not want
// (POLLRDHUP, which io_uring always adds, once the peer has shut its side) waits for the next wake-up instead of
// completing on every pass. (One-shot polls armed again each pass would be level-triggered too, but spin on
// exactly that POLLRDHUP.) The cost is one SQE per delivered event — no extra system call.
//
// Completion mode, for channels that read through the transport (wants_transport_reads: async_chat once
// connected, as the map's completion_sink tells): a recv request into a buffer the kernel picks from a ring this
// poller provides (a "provided buffer ring", shared by every channel, so an idle connection holds none), and the
// bytes go to the sink from inside wait(), as the Asio transport's completion design does; the poll then only
// watches what else the channel wants (POLLOUT). The receive system calls disappear: the kernel reads the
// socket when data arrives. One recv at a time per channel, started again by the wait after its bytes were
// handed on (with the interest of then): a multishot recv would go on reading a channel that has stopped
// wanting input (output backpressure) for as many buffers as the ring holds before its cancellation lands,
// which tests/chat/test_backpressure.cpp catches. The one recv in flight when a channel stops reading (paused
// from outside its handlers, say by a timer's push) may still complete: its bytes go to the sink like any, and
// the map keeps them for the channel until it reads again (socket_map.cpp: one rule for every completion backend,
// tests/core/test_completion.cpp). This file knows nothing of channels beyond what the sink answers.
//
// The kernel holds a reference to the file of every request in flight, so remove() submits its cancellations at
// once: the channel closes the fd right after, and the socket must really close then (its peer sees EOF), not at
// the next pass.
#include <liburing.h>
#include <poll.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "asyncore/poller.hpp"

#include "../invariant.hpp"

namespace asyncore::pollers {
namespace {

// Room for one pass's requests: an update per delivered event, plus the interest changes. More than fits is
// submitted early (one more io_uring_enter), never lost.
constexpr unsigned sq_entries = 1024;
// A fuller CQ loses nothing (IORING_FEAT_NODROP keeps the overflow in the kernel and wait() flushes it); a
// multishot request that could not post is ended by the kernel, and armed again.
constexpr unsigned cq_entries = 4 * sq_entries;

// The provided buffers of completion mode. A recv that finds none fails with ENOBUFS and is started again next
// pass (the bytes wait in the socket), behind the reads that found one: a channel that keeps losing that race
// waits pass after pass, so the buffers must cover one pass's reads. Where the kernel consumes buffers
// incrementally (IOU_PBUF_RING_INC, Linux 6.12), each read takes only the bytes it received, one after another
// in the same buffer, so 64 buffers of 64 KiB (4 MiB) hold a pass of 1,000 64-byte reads in one buffer, or of 256
// 16 KiB ones. Elsewhere each read takes a whole 16 KiB buffer (the Asio transport's read size), 256 of them
// (4 MiB): past 256 reads in one pass, the last ones wait (at 1,000 connections x 64 B that made the slowest 1%
// of replies 100-150 ms late, against 10 ms with incremental buffers).
struct buffer_layout {
    unsigned count;
    unsigned size;
    bool incremental;
};
constexpr buffer_layout incremental_buffers{64, 65536, true};
constexpr buffer_layout whole_buffers{256, 16384, false};
constexpr unsigned short recv_group = 0;
// Not in liburing 2.3's headers (Linux 6.12's uapi): io_uring_buf_reg.flags, and the completion flag saying the
// kernel keeps the buffer for the next read.
constexpr unsigned short pbuf_ring_inc = 2;      // IOU_PBUF_RING_INC
constexpr unsigned cqe_f_buf_more = 1u << 4;     // IORING_CQE_F_BUF_MORE

// user_data: the registration's generation, what the request is, and the fd. A completion whose generation is
// not the fd's current one belongs to a registration since removed (perhaps the fd number reused): ignored —
// except a multishot poll still armed for it (below, removal).
enum class kind : unsigned { poll = 0, recv = 1, control = 2, removal = 3 };
constexpr unsigned fd_bits = 30;

std::uint64_t tag(int fd, std::uint32_t generation, kind k) {
    return (std::uint64_t{generation} << 32) | (std::uint64_t{static_cast<unsigned>(k)} << fd_bits) |
           static_cast<std::uint32_t>(fd);
}

// Why this kernel cannot run the backend, or "" when it can. Asked once per process.
std::string probe() {
    io_uring ring;
    io_uring_params params{};
    if (int rc = io_uring_queue_init_params(2, &ring, &params); rc < 0) return std::strerror(-rc);
    std::string reason;
    // EXT_ARG: the wait's timeout travels with io_uring_enter itself (Linux 5.11); without it every timed wait
    // would cost a timeout request. NODROP: a full completion queue loses nothing (Linux 5.5). CQE_SKIP: control
    // requests post nothing when they succeed (Linux 5.17, which has multishot poll and poll update too).
    if (!(params.features & IORING_FEAT_EXT_ARG) || !(params.features & IORING_FEAT_NODROP) ||
        !(params.features & IORING_FEAT_CQE_SKIP))
        reason = "kernel too old (Linux 5.17 or later needed)";
    else if (io_uring_probe* p = io_uring_get_probe_ring(&ring)) {
        if (!io_uring_opcode_supported(p, IORING_OP_POLL_ADD) || !io_uring_opcode_supported(p, IORING_OP_POLL_REMOVE))
            reason = "kernel lacks io_uring poll requests";
        io_uring_free_probe(p);
    }
    io_uring_queue_exit(&ring);
    return reason;
}

class io_uring_poller final : public poller {
public:
    io_uring_poller() {
        // Completions are handed over as task work, run in this thread. By default the kernel interrupts the
        // thread for each one, as for a signal, wherever it is (in the middle of a send()): that cost about twice
        // epoll's CPU per message (10 us against 5 at 10 connections, 14 against 7 at 1,000; docs/benchmarks.md).
        // COOP_TASKRUN (Linux 5.19) spares the interruption: the task work runs when the thread next enters the
        // kernel anyway. (DEFER_TASKRUN, 6.1, which runs it only in the wait, measured no better, ties the ring to
        // one thread, and from 6.13 runs at most some 40 items per io_uring_enter, so that a pass with thousands
        // of ready fds sees them 40 at a time.)
        static constexpr unsigned setups[] = {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, 0};
        int rc = -EINVAL;
        for (unsigned flags : setups) {
            io_uring_params params{};
            params.flags = IORING_SETUP_CQSIZE | flags;
            params.cq_entries = cq_entries;
            rc = io_uring_queue_init_params(sq_entries, &ring_, &params);
            if (rc != -EINVAL) break;
        }
        if (rc < 0) throw std::system_error(-rc, std::system_category(), "io_uring_queue_init");
    }
    ~io_uring_poller() override {
        io_uring_queue_exit(&ring_); // cancels what is in flight and unregisters the buffer ring
        if (buffers_) ::munmap(buffers_, buffers_bytes(layout_));
    }
    std::string_view name() const noexcept override { return "io_uring"; }
    void attach(completion_sink& sink) override { sink_ = &sink; }

    void add(int fd, unsigned interest) override {
        if (fd < 0 || fd >= (1 << fd_bits)) throw std::length_error("asyncore: io_uring: fd out of range");
        if (static_cast<std::size_t>(fd) >= entries_.size()) entries_.resize(static_cast<std::size_t>(fd) + 1);
        entry& e = entries_[static_cast<std::size_t>(fd)];
        ASYNCORE_ASSERT(interest != 0, "the loop registers an fd with some interest");
        ASYNCORE_ASSERT(e.interest == 0, "the loop adds an fd only while it is not registered");
        // Per fd number: completions still to come for an earlier registration of this fd are told apart.
        std::uint32_t generation = e.generation_seed + 1;
        if (generation == 0) ++generation;
        e = entry{};
        e.generation = e.generation_seed = generation;
        e.interest = interest;
        touch(fd, e);
    }

    void modify(int fd, unsigned interest) override {
        ASYNCORE_ASSERT(fd >= 0 && static_cast<std::size_t>(fd) < entries_.size(), "modify of an fd never added");
        entry& e = entries_[static_cast<std::size_t>(fd)];
        ASYNCORE_ASSERT(interest != 0 && e.interest != 0, "modify: a registered fd, to some interest (else remove)");
        e.interest = interest;
        e.fired &= interest | POLLERR | POLLHUP | POLLNVAL;
        touch(fd, e);
    }

    void remove(int fd) noexcept override {
        if (fd < 0 || static_cast<std::size_t>(fd) >= entries_.size()) return;
        entry& e = entries_[static_cast<std::size_t>(fd)];
        ASYNCORE_ASSERT(e.interest != 0, "the loop removes only a registered fd");
        if (e.interest == 0) return;
        const bool poll = e.poll_armed, recv = e.recv != recv_state::off;
        const std::uint32_t generation = e.generation;
        const std::uint32_t seed = e.generation_seed;
        e = entry{};
        e.generation_seed = seed;
        if (poll) remove_poll(fd, generation);
        if (recv) {
            if (io_uring_sqe* sqe = try_get_sqe()) {
                io_uring_prep_cancel64(sqe, tag(fd, generation, kind::recv), 0);
                control(sqe, fd, generation);
            }
        }
        // GETEVENTS as well: the cancelled requests complete (and drop their file) in this system call, whatever
        // the kernel's task-work setting.
        if (poll || recv) io_uring_submit_and_get_events(&ring_);
    }

    std::span<const fired_event> wait(int timeout_ms) override {
        // The fds whose events the last wait delivered are asked again now that their handlers have run, and the
        // interest changes since then go to the kernel.
        for (std::size_t i = 0; i < touched_.size(); ++i) sync(touched_[i]);
        touched_.clear();
        // Completions taken from the CQ outside a wait (while flushing a full SQ), or left when a handler threw
        // exit_now, are this pass's events already.
        if (!pending_.empty() || !completed_.empty()) timeout_ms = 0;
        __kernel_timespec ts{};
        if (timeout_ms > 0) {
            ts.tv_sec = timeout_ms / 1000;
            ts.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1000000;
        }
        io_uring_cqe* cqe = nullptr;
        int rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, timeout_ms < 0 ? nullptr : &ts, nullptr);
        // ETIME: the timeout passed. EINTR: a signal. EBUSY/EAGAIN: the kernel could not take more requests until
        // completions are reaped — reaped below, submitted next pass. Whatever completed is delivered in every
        // case: a completion taken from the CQ and then held back might never be reported again.
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN)
            throw std::system_error(-rc, std::system_category(), "io_uring_submit_and_wait_timeout");
        drain_cq();
        // Handlers run from here on (the sink's calls): they may add, modify and remove fds, close channels, even
        // run a nested pass, so the batch is this call's own and entries are looked up afresh each time.
        std::vector<completion> batch;
        batch.swap(pending_);
        std::size_t i = 0;
        try {
            for (; i < batch.size(); ++i) on_completion(batch[i]);
        } catch (...) {
            // A handler left the loop (exit_now): what it did not get to waits for the next wait.
            pending_.insert(pending_.begin(), batch.begin() + static_cast<std::ptrdiff_t>(i) + 1, batch.end());
            throw;
        }
        batch.clear();
        if (pending_.empty() && pending_.capacity() < batch.capacity()) pending_.swap(batch); // keep the allocation

        fired_.clear();
        // Several completions for one fd in this pass (wake-ups, the re-check) are one event.
        for (int fd : completed_) {
            entry& e = entries_[static_cast<std::size_t>(fd)];
            e.listed = false;
            if (!e.fired) continue;
            fired_.push_back({fd, e.fired});
            e.fired = 0;
            e.recheck = true;
            touch(fd, e);
        }
        completed_.clear();
        return fired_;
    }

private:
    enum class recv_state : unsigned char { off, active, cancelling };

    struct entry {
        unsigned interest = 0;             // 0: not registered
        std::uint32_t generation = 0;      // this registration's, in its requests' user_data
        std::uint32_t generation_seed = 0; // the last generation handed out for this fd number
        unsigned poll_mask = 0;            // what the armed poll asks for
        bool poll_armed = false;           // a multishot poll is in the kernel (until its last completion)
        bool recheck = false;              // its event was delivered: ask the fd again at the next wait
        bool touched = false;              // in touched_
        bool listed = false;               // in completed_
        bool transport_reads = false;      // completion mode: its input goes to the sink
        bool input_over = false;           // the recv met EOF or an error: not started again
        recv_state recv = recv_state::off;
        unsigned fired = 0;                // events gathered for this pass
        std::uint64_t reader = 0;          // completion mode: the map's registration, handed back with each report
    };

    struct completion {
        std::uint64_t user_data;
        int res;
        unsigned flags;
    };

    void touch(int fd, entry& e) {
        if (e.touched) return;
        e.touched = true;
        touched_.push_back(fd);
    }

    // Brings the kernel's requests for fd in line with what the loop wants of it.
    void sync(int fd) {
        entry& e = entries_[static_cast<std::size_t>(fd)];
        e.touched = false;
        if (e.interest == 0) return;
        if (!e.transport_reads && !e.input_over && sink_) {
            const std::uint64_t reader = sink_->transport_reader(fd);
            if (reader && buffer_ring()) {
                e.transport_reads = true;
                e.reader = reader;
            }
        }
        // (A channel that stops reading has its interest drop POLLIN before the next wait: the map sees to it when
        // it keeps input for it, so no recv is started for a channel that has input waiting.)
        const bool want_recv = e.transport_reads && (e.interest & POLLIN) && !e.input_over;
        if (want_recv && e.recv == recv_state::off) {
            io_uring_sqe* sqe = get_sqe();
            io_uring_prep_recv(sqe, fd, nullptr, 0, 0); // 0: as much as the buffer it gets holds
            sqe->flags |= IOSQE_BUFFER_SELECT;
            sqe->buf_group = recv_group;
            io_uring_sqe_set_data64(sqe, tag(fd, e.generation, kind::recv));
            e.recv = recv_state::active;
        } else if (!want_recv && e.recv == recv_state::active) {
            // Bytes it reads before the cancel lands are still delivered (one buffer at most): they have left the
            // socket.
            io_uring_sqe* sqe = get_sqe();
            io_uring_prep_cancel64(sqe, tag(fd, e.generation, kind::recv), 0);
            control(sqe, fd, e.generation);
            e.recv = recv_state::cancelling;
        }
        // With the input read by the recv, the poll watches the rest (POLLOUT); one asking for nothing more is
        // not started, and one already armed keeps only the bits the kernel always reports.
        const unsigned mask = e.transport_reads ? e.interest & ~(POLLIN | POLLPRI) : e.interest;
        if (!e.poll_armed) {
            if (mask == 0) return;
            io_uring_sqe* sqe = get_sqe();
            io_uring_prep_poll_multishot(sqe, fd, poll_mask(mask));
            io_uring_sqe_set_data64(sqe, tag(fd, e.generation, kind::poll));
            e.poll_armed = true;
        } else if (mask != e.poll_mask || e.recheck) {
            // The kernel polls the fd again with the mask (new or not), so an fd already ready completes at once.
            // new user_data 0: the kernel refuses any other without IORING_POLL_UPDATE_USER_DATA.
            io_uring_sqe* sqe = get_sqe();
            io_uring_prep_poll_update(sqe, tag(fd, e.generation, kind::poll), 0, poll_mask(mask),
                                      IORING_POLL_UPDATE_EVENTS);
            control(sqe, fd, e.generation);
        }
        e.poll_mask = mask;
        e.recheck = false;
    }

    // A poll woken by the fd's wait queue completes with the wake-up's key, not with a fresh look at the fd (as
    // epoll takes): a socket's "data arrived" wake-up says POLLIN|POLLPRI|POLLRDNORM|POLLRDBAND whether or not
    // urgent data came, so every such completion would claim POLLPRI and call handle_expt. A poll that asks the
    // fd itself (when armed or updated) gets the truth, and TCP, Unix sockets and pipes never answer POLLRDBAND.
    // So POLLRDBAND is asked for too and marks the hint, whose POLLPRI is dropped; real urgent data is reported
    // by the re-check of the next pass, which asks the socket (tests/core/test_api.cpp, handle_expt).
    static unsigned poll_mask(unsigned interest) { return interest & POLLPRI ? interest | POLLRDBAND : interest; }

    // Removes the multishot poll of fd's registration `generation`; a failure comes back as kind::removal. Inside
    // wait (`now`) it is submitted at once, so that the file is released without waiting for the next pass.
    void remove_poll(int fd, std::uint32_t generation, bool now = false) noexcept {
        io_uring_sqe* sqe = try_get_sqe();
        if (!sqe) return; // the next completion of that poll asks again
        io_uring_prep_poll_remove(sqe, tag(fd, generation, kind::poll));
        io_uring_sqe_set_data64(sqe, tag(fd, generation, kind::removal));
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
        if (now) io_uring_submit(&ring_);
    }

    // Poll update, poll remove and cancel: completions only when they fail (IOSQE_CQE_SKIP_SUCCESS).
    static void control(io_uring_sqe* sqe, int fd, std::uint32_t generation) {
        io_uring_sqe_set_data64(sqe, tag(fd, generation, kind::control));
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    }

    io_uring_sqe* try_get_sqe() noexcept {
        if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
        // The SQ is full: hand it to the kernel now, taking completions out first if it wants room for them.
        for (int attempt = 0; attempt < 2; ++attempt) {
            int rc = io_uring_submit(&ring_);
            if (rc == -EBUSY || rc == -EAGAIN) drain_cq();
            if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
        }
        return nullptr;
    }

    io_uring_sqe* get_sqe() {
        if (io_uring_sqe* sqe = try_get_sqe()) return sqe;
        throw std::system_error(EBUSY, std::system_category(), "io_uring: submission queue full");
    }

    // Copies every completion out of the CQ (and the kernel's overflow list) into pending_, for the next wait to
    // handle: never here, since this also runs inside add() and modify(), where no handler may run.
    void drain_cq() noexcept {
        for (;;) {
            unsigned head;
            unsigned seen = 0;
            io_uring_cqe* cqe;
            io_uring_for_each_cqe(&ring_, head, cqe) {
                ++seen;
                pending_.push_back({cqe->user_data, cqe->res, cqe->flags});
            }
            io_uring_cq_advance(&ring_, seen);
            if (!io_uring_cq_has_overflow(&ring_)) return;
            io_uring_get_events(&ring_);
        }
    }

    void on_completion(const completion& c) {
        const int fd = static_cast<int>(c.user_data & ((1u << fd_bits) - 1));
        const auto k = static_cast<kind>((c.user_data >> fd_bits) & 3u);
        const auto generation = static_cast<std::uint32_t>(c.user_data >> 32);
        const bool current = static_cast<std::size_t>(fd) < entries_.size() &&
                             entries_[static_cast<std::size_t>(fd)].generation == generation &&
                             entries_[static_cast<std::size_t>(fd)].interest != 0;
        if (k == kind::recv) {
            on_recv(fd, current, c);
            return;
        }
        if (k == kind::removal) {
            // The poll was posting a completion when its removal came (EALREADY): it is still armed, and it holds
            // the file, so a closed listener would go on taking connections into its backlog. Asked again.
            if (c.res == -EALREADY) remove_poll(fd, generation, true);
            return;
        }
        if (!current) {
            // A multishot poll of a registration since removed that is still armed (its removal failed): removed
            // again now that it has shown itself.
            if (k == kind::poll && (c.flags & IORING_CQE_F_MORE)) remove_poll(fd, generation, true);
            return; // removed, perhaps the fd reused, since
        }
        entry& e = entries_[static_cast<std::size_t>(fd)];
        if (k == kind::control) {
            // An update that failed: the poll was busy posting (EALREADY) or has just ended (ENOENT, and its last
            // completion re-arms it). Ask again next pass, so that the new mask is not lost.
            if (e.poll_armed) {
                e.recheck = true;
                touch(fd, e);
            }
            return;
        }
        if (!(c.flags & IORING_CQE_F_MORE)) {
            // The multishot poll ended (an error, or a full CQ): armed again, with the interest of then.
            e.poll_armed = false;
            touch(fd, e);
        }
        unsigned ready = 0;
        if (c.res >= 0) {
            ready = static_cast<unsigned>(c.res);
            if (ready & POLLRDBAND) ready &= ~POLLPRI; // a wake-up's hint, not the socket's state: see poll_mask
        } else if (c.res != -ECANCELED) {
            ready = POLLERR; // the fd cannot be polled at all: the channel hears of it as an error
        }
        if (e.transport_reads) ready &= ~(POLLIN | POLLPRI);
        ready &= e.interest | POLLERR | POLLHUP | POLLNVAL;
        if (!ready) return;
        e.fired |= ready;
        if (!e.listed) {
            e.listed = true;
            completed_.push_back(fd);
        }
    }

    void on_recv(int fd, bool current, const completion& c) {
        const bool has_buffer = c.flags & IORING_CQE_F_BUFFER;
        const auto bid = static_cast<unsigned short>(c.flags >> IORING_CQE_BUFFER_SHIFT);
        // The handlers may close this channel or open others, but the bytes are this poller's buffer, given back
        // once they have been handed on (or a handler threw exit_now).
        struct done_with_buffer {
            io_uring_poller& poller;
            const completion& c;
            ~done_with_buffer() { poller.consumed(c); }
        } guard{*this, c};
        if (!current) return; // removed, perhaps the fd reused, since: its bytes went with the channel
        entry& e = entries_[static_cast<std::size_t>(fd)];
        ASYNCORE_ASSERT(e.transport_reads && e.reader != 0 && e.recv != recv_state::off,
                        "a recv completes only for a registration that has one in flight");
        e.recv = recv_state::off;
        if (c.res <= 0 && c.res != -ENOBUFS && c.res != -ECANCELED) e.input_over = true;
        touch(fd, e); // started again next pass if still wanted (after ENOBUFS: once buffers are back)
        const std::uint64_t reader = e.reader;
        if (c.res > 0) {
            ASYNCORE_ASSERT(has_buffer, "a recv that read bytes names the buffer they are in");
            if (has_buffer) sink_->bytes_received(fd, reader, {data(bid), static_cast<std::size_t>(c.res)}, false);
        } else if (c.res == 0) {
            sink_->peer_closed(fd, reader);
        } else if (c.res != -ENOBUFS && c.res != -ECANCELED) {
            sink_->read_failed(fd, reader, -c.res);
        }
    }

    // The provided buffer ring, made when the first channel reads through the transport: incremental where the
    // kernel has it, whole buffers elsewhere; false when it has no buffer rings at all (before Linux 5.19), and
    // then every channel stays on readiness.
    bool buffer_ring() {
        if (ring_buffers_) return true;
        if (no_buffer_ring_) return false;
        for (const buffer_layout& l : {incremental_buffers, whole_buffers}) {
            void* memory = ::mmap(nullptr, buffers_bytes(l), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (memory == MAP_FAILED) break;
            io_uring_buf_reg reg{};
            reg.ring_addr = reinterpret_cast<std::uintptr_t>(memory);
            reg.ring_entries = l.count;
            reg.bgid = recv_group;
            reg.pad = l.incremental ? pbuf_ring_inc : 0; // the flags field of later headers
            if (io_uring_register_buf_ring(&ring_, &reg, 0) != 0) {
                ::munmap(memory, buffers_bytes(l));
                continue;
            }
            buffers_ = memory;
            layout_ = l;
            ring_buffers_ = static_cast<io_uring_buf_ring*>(memory);
            used_.assign(l.count, 0);
            io_uring_buf_ring_init(ring_buffers_);
            for (unsigned i = 0; i < l.count; ++i)
                io_uring_buf_ring_add(ring_buffers_, buffer(static_cast<unsigned short>(i)), l.size,
                                      static_cast<unsigned short>(i), io_uring_buf_ring_mask(l.count),
                                      static_cast<int>(i));
            io_uring_buf_ring_advance(ring_buffers_, static_cast<int>(l.count));
            return true;
        }
        no_buffer_ring_ = true;
        return false;
    }

    // One mapping: the ring's entries (a page), then the buffers.
    static constexpr std::size_t ring_bytes = 4096;
    static_assert(whole_buffers.count * sizeof(io_uring_buf) <= ring_bytes);
    static_assert(incremental_buffers.count * sizeof(io_uring_buf) <= ring_bytes);
    static constexpr std::size_t buffers_bytes(const buffer_layout& l) {
        return ring_bytes + std::size_t{l.count} * l.size;
    }
    char* buffer(unsigned short bid) const {
        return static_cast<char*>(buffers_) + ring_bytes + std::size_t{bid} * layout_.size;
    }
    // Where a read's bytes are: with incremental buffers, after what earlier reads took of the same buffer.
    char* data(unsigned short bid) const { return buffer(bid) + used_[bid]; }
    // A read's bytes have been handed on: the buffer goes back to the kernel, unless the kernel still fills it.
    void consumed(const completion& c) {
        if (!(c.flags & IORING_CQE_F_BUFFER)) return;
        const auto bid = static_cast<unsigned short>(c.flags >> IORING_CQE_BUFFER_SHIFT);
        if (layout_.incremental && (c.flags & cqe_f_buf_more)) {
            used_[bid] += static_cast<unsigned>(std::max(c.res, 0));
            return;
        }
        used_[bid] = 0;
        io_uring_buf_ring_add(ring_buffers_, buffer(bid), layout_.size, bid, io_uring_buf_ring_mask(layout_.count), 0);
        io_uring_buf_ring_advance(ring_buffers_, 1);
    }

    io_uring ring_{};
    completion_sink* sink_ = nullptr;
    std::vector<entry> entries_;
    std::vector<int> touched_;         // fds whose requests the next wait brings in line
    std::vector<int> completed_;       // fds with events gathered in this wait
    std::vector<completion> pending_;  // taken from the CQ, not yet handled
    std::vector<fired_event> fired_;
    void* buffers_ = nullptr;
    io_uring_buf_ring* ring_buffers_ = nullptr;
    buffer_layout layout_{};
    std::vector<unsigned> used_; // incremental buffers: the bytes earlier reads took of each
    bool no_buffer_ring_ = false;
};

} // namespace

std::string io_uring_unavailable() {
    static const std::string reason = probe();
    return reason;
}

std::unique_ptr<poller> make_io_uring() { return std::make_unique<io_uring_poller>(); }

} // namespace asyncore::pollers
