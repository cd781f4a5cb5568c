#pragma once
// asyncore::socket_map — Python's `map` argument: the channels one loop serves, indexed by fd, together with
// the state the loop keeps between passes (the poller and its registered interest, and the timers).
// Channels of any dispatcher subclass mix freely in one map. A map and its channels belong to one thread.
//
// With a completion backend (io_uring, Asio: poller.hpp) the map is also where input read on a channel's behalf
// meets the channel: it asks readable() before handing any on, keeps what arrives while the answer is no, and
// hands that on, in order, when it next finds the channel readable — one rule for every such backend
// (completion_sink in poller.hpp states it).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "address.hpp"
#include "poller.hpp"
#include "ref.hpp"
#include "timers.hpp"

namespace asyncore {

class socket_map {
public:
    socket_map();
    // Closes every channel still in the map (close_all with ignore_all), which releases the shared-owned ones.
    ~socket_map();
    socket_map(const socket_map&) = delete;
    socket_map& operator=(const socket_map&) = delete;

    // Python's module-level asyncore.socket_map, used wherever a map is not given — one per thread here (Python's is
    // one per process), so that each worker loop of a server has its own (docs/porting.md).
    static socket_map& default_map();

    std::size_t size() const noexcept { return count_; }
    bool empty() const noexcept { return count_ == 0; }
    // The channel registered under fd, or nullptr.
    dispatcher* get(int fd) const noexcept;
    // A snapshot of the channels, in fd order: safe to iterate while closing them.
    std::vector<ref<dispatcher>> channels() const;
    // Takes every channel out of the map without closing it (Python's map.clear()).
    void clear() noexcept;

    // The client's address as a proxy in front reported it (the PROXY protocol, asynchat::serve): the next
    // dispatcher made on `fd` in this map takes it as its addr() instead of asking getpeername(), so the channel's
    // constructor already sees the client. One at a time; forget_peer_address drops one left unclaimed.
    void expect_peer_address(int fd, address client);
    void forget_peer_address() noexcept { expected_peer_.reset(); }

    // Runs fn once, `delay` from now, from this map's loop (see timers.hpp). Cancel through the handle.
    timer_handle call_later(std::chrono::duration<double> delay, std::function<void()> fn);
    std::size_t pending_timers() const noexcept { return timers_.pending(); }

    // One pass of the loop: apply interest changes, wait up to `timeout` (less if a timer falls due sooner),
    // deliver the events, run the due timers. Returns the number of channel events delivered.
    std::size_t run_pass(std::chrono::duration<double> timeout, std::string_view backend);

    // Passes run so far (each dispatch of one wait's events counts one), for a server's own statistics.
    std::uint64_t passes() const noexcept { return passes_; }

    // The backend of the last pass ("" before the first).
    std::string_view backend() const noexcept;

    // ---- For a transport that drives the map from its own event loop (the Asio host). run_pass() is exactly
    // prepare_pass(); wait on the poller; dispatch(events); run_timers().
    // Installs a ready-made poller (one bound to an application's io_context, say); a later run_pass with the
    // same backend name keeps it.
    void set_poller(std::unique_ptr<poller> p);
    // Applies the interest changes made since the last pass (poller add/modify/remove).
    void prepare_pass();
    // Delivers events under the loop's rules (see run_pass); returns how many were delivered.
    std::size_t dispatch(std::span<const fired_event> events);
    // Runs the timers that are due now.
    void run_timers();
    // The earliest pending timer's deadline, if any.
    bool next_timer_deadline(clock::time_point& out) { return timers_.next_deadline(out); }
    // Called when the map has work for a pass outside one — a channel's interest to re-evaluate, or a timer
    // added — so that a driver that does not loop can schedule a pass.
    void on_pending_work(std::function<void()> fn) { pending_work_ = std::move(fn); }

private:
    friend class dispatcher;
    std::optional<address> take_expected_peer(int fd) noexcept;
    std::optional<std::pair<int, address>> expected_peer_;
    // Input a completion backend read for a channel while it was not readable: handed on when it is again.
    struct parked_input {
        std::string bytes; // in the order read
        bool end = false;  // the end of input came after them
    };
    struct slot {
        ref<dispatcher> channel;
        std::uint64_t generation = 0;
        std::unique_ptr<parked_input> parked; // null but while input waits (rare: one pointer per fd otherwise)
    };
    // The completion backends' way in (completion_sink, poller.hpp), a member rather than a base so that the map
    // itself stays a plain class; it forwards to the map's functions below.
    struct completion_port final : completion_sink {
        explicit completion_port(socket_map& m) noexcept : map(m) {}
        std::uint64_t transport_reader(int fd) noexcept override;
        bool bytes_received(int fd, std::uint64_t reader, std::span<const char> bytes, bool ask_more) override;
        void peer_closed(int fd, std::uint64_t reader) override;
        void read_failed(int fd, std::uint64_t reader, int err) override;
        socket_map& map;
    };
    struct pending_event {
        int fd;
        std::uint64_t generation;
        unsigned events;
    };

    void attach(dispatcher& d);          // add_channel
    void detach(dispatcher& d) noexcept; // del_channel
    void mark_dirty(dispatcher& d);
    void forget_dirty(dispatcher& d) noexcept;
    void set_every_pass(dispatcher& d, bool on);
    void use_backend(std::string_view name);
    void apply_interest(dispatcher& d);
    void apply_all_interest();

    // Completion reads (completion_port forwards here).
    std::uint64_t transport_reader(int fd) noexcept;
    slot* reader_slot(int fd, std::uint64_t reader) noexcept;
    bool takes_input(dispatcher& d, std::uint64_t reader);
    bool readable_failed(dispatcher& d);
    void park(slot& s, std::span<const char> bytes, bool end);
    void unpark(slot& s) noexcept;
    void hand_on_parked(dispatcher& d);
    bool received(int fd, std::uint64_t reader, std::span<const char> bytes, bool ask_more);
    void input_ended(int fd, std::uint64_t reader);
    void read_failed(int fd, std::uint64_t reader, int err);

    std::vector<slot> slots_;
    std::size_t count_ = 0;
    std::uint64_t next_generation_ = 1;
    std::vector<dispatcher*> dirty_;              // interest to re-evaluate before the next wait (null: gone)
    std::vector<dispatcher*> every_pass_;         // channels asked readable()/writable() on every pass
    std::vector<pending_event> pending_;          // this pass's events, snapshotted before any handler runs
    std::unique_ptr<poller> poller_;
    timer_queue timers_;
    std::function<void()> pending_work_;
    std::uint64_t passes_ = 0;
    std::size_t parked_count_ = 0; // slots with parked input
    completion_port port_{*this};
};

} // namespace asyncore
