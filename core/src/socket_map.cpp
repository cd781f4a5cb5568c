#include "asyncore/socket_map.hpp"

#include <poll.h>

#include <algorithm>
#include <cmath>

#include "asyncore/dispatcher.hpp"
#include "asyncore/log.hpp"
#include "asyncore/loop.hpp"
#include "detail.hpp"

namespace asyncore {

socket_map::socket_map() = default;

socket_map::~socket_map() {
    try {
        close_all(this, true);
    } catch (...) {
        // exit_now from a close() override has nowhere to go from a destructor.
    }
    clear();
}

socket_map& socket_map::default_map() {
    // One per thread: each worker loop of a server (asynchat::serve with workers) has its own, so code written for
    // one loop — make<channel>(sock) with no map — puts its channels in the map of the loop it runs on.
    thread_local socket_map map;
    return map;
}

dispatcher* socket_map::get(int fd) const noexcept {
    if (fd < 0 || static_cast<std::size_t>(fd) >= slots_.size()) return nullptr;
    return slots_[static_cast<std::size_t>(fd)].channel.get();
}

std::vector<ref<dispatcher>> socket_map::channels() const {
    std::vector<ref<dispatcher>> out;
    out.reserve(count_);
    for (const auto& s : slots_)
        if (s.channel) out.push_back(s.channel);
    return out;
}

void socket_map::expect_peer_address(int fd, address client) { expected_peer_.emplace(fd, std::move(client)); }

std::optional<address> socket_map::take_expected_peer(int fd) noexcept {
    if (!expected_peer_ || expected_peer_->first != fd) return std::nullopt;
    std::optional<address> out(std::move(expected_peer_->second));
    expected_peer_.reset();
    return out;
}

void socket_map::clear() noexcept {
    for (auto& ch : channels()) detach(*ch);
}

timer_handle socket_map::call_later(std::chrono::duration<double> delay, std::function<void()> fn) {
    auto handle = timers_.schedule(clock::now() + std::chrono::duration_cast<clock::duration>(delay), std::move(fn));
    if (pending_work_) pending_work_();
    return handle;
}

void socket_map::set_poller(std::unique_ptr<poller> p) {
    poller_ = std::move(p);
    if (poller_) poller_->attach(port_);
    for (auto& s : slots_)
        if (s.channel) {
            s.channel->registered_interest_ = 0;
            mark_dirty(*s.channel);
        }
}

std::string_view socket_map::backend() const noexcept { return poller_ ? poller_->name() : std::string_view{}; }

void socket_map::attach(dispatcher& d) {
    const int fd = d.fileno_;
    if (fd < 0) throw std::logic_error("asyncore: add_channel on a dispatcher without a socket");
    const auto i = static_cast<std::size_t>(fd);
    if (i >= slots_.size()) slots_.resize(std::max(i + 1, slots_.size() * 2));
    if (slots_[i].channel.get() == &d) return;
    // An fd cannot belong to two open sockets: a channel still listed under it lost its socket without
    // del_channel (its socket was closed behind the map's back), so it goes.
    if (auto* stale = slots_[i].channel.get()) detach(*stale);
    slots_[i].channel = ref<dispatcher>(&d);
    slots_[i].generation = next_generation_++;
    d.generation_ = slots_[i].generation;
    d.registered_interest_ = 0;
    ++count_;
    if (d.every_pass_) every_pass_.push_back(&d);
    mark_dirty(d);
}

void socket_map::detach(dispatcher& d) noexcept {
    const int fd = d.fileno_;
    if (fd < 0 || static_cast<std::size_t>(fd) >= slots_.size()) return;
    auto& s = slots_[static_cast<std::size_t>(fd)];
    if (s.channel.get() != &d) return;
    if (d.registered_interest_ && poller_) poller_->remove(fd);
    d.registered_interest_ = 0;
    d.generation_ = 0;
    forget_dirty(d);
    if (d.every_pass_) std::erase(every_pass_, &d);
    // Input that waited for the channel goes with it, as unread bytes go with a closed socket.
    unpark(s);
    s.generation = 0;
    ASYNCORE_ASSERT(count_ > 0, "the map counts the channels it holds");
    --count_;
    // Last: releasing the map's reference may delete d (the caller pins d if it still needs it).
    s.channel.reset();
}

void socket_map::mark_dirty(dispatcher& d) {
    if (d.in_dirty_list_) return;
    d.in_dirty_list_ = true;
    d.dirty_index_ = dirty_.size();
    dirty_.push_back(&d);
    if (dirty_.size() == 1 && pending_work_) pending_work_();
}

void socket_map::forget_dirty(dispatcher& d) noexcept {
    if (!d.in_dirty_list_) return;
    d.in_dirty_list_ = false;
    if (d.dirty_index_ < dirty_.size() && dirty_[d.dirty_index_] == &d) dirty_[d.dirty_index_] = nullptr;
}

void socket_map::set_every_pass(dispatcher& d, bool on) {
    std::erase(every_pass_, &d);
    if (on) every_pass_.push_back(&d);
}

void socket_map::use_backend(std::string_view name) {
    if (name.empty()) name = default_backend();
    if (poller_ && poller_->name() == name) return;
    // The new poller knows nothing yet: set_poller has every channel's interest registered again.
    set_poller(make_poller(name));
}

void socket_map::apply_interest(dispatcher& d) {
    auto pin = d.pin();
    const std::uint64_t generation = d.generation_;
    ASYNCORE_ASSERT(static_cast<std::size_t>(d.fileno_) < slots_.size() &&
                        slots_[static_cast<std::size_t>(d.fileno_)].channel.get() == &d,
                    "a registered channel is the one in its fd's slot");
    detail::guarded(d, [&] {
        unsigned want = d.wanted_interest();
        // readable()/writable() are user code: they may have closed the channel.
        if (d.generation_ != generation) return;
        // What a completion backend read while the channel was not readable is handed on now that it is: the
        // bytes, then the end of input, each once readable() has said yes again (see received()).
        while (parked_count_ != 0 && (want & POLLIN) && slots_[static_cast<std::size_t>(d.fileno_)].parked) {
            hand_on_parked(d);
            if (d.generation_ != generation) return;
            want = d.wanted_interest();
            if (d.generation_ != generation) return;
        }
        if (want == d.registered_interest_) return;
        if (d.registered_interest_ == 0)
            poller_->add(d.fileno_, want);
        else if (want == 0)
            poller_->remove(d.fileno_);
        else
            poller_->modify(d.fileno_, want);
        d.registered_interest_ = want;
    });
}

void socket_map::apply_all_interest() {
    // By index: re-evaluating one channel may add others to the list.
    for (std::size_t i = 0; i < dirty_.size(); ++i) {
        dispatcher* d = dirty_[i];
        if (!d) continue;
        d->in_dirty_list_ = false;
        dirty_[i] = nullptr;
        if (d->registered()) apply_interest(*d);
    }
    dirty_.clear();
    if (!every_pass_.empty()) {
        auto copy = every_pass_;
        for (dispatcher* d : copy)
            if (std::find(every_pass_.begin(), every_pass_.end(), d) != every_pass_.end() && d->registered())
                apply_interest(*d);
    }
}

void socket_map::prepare_pass() {
    if (!poller_) use_backend({});
    apply_all_interest();
}

std::size_t socket_map::run_pass(std::chrono::duration<double> timeout, std::string_view backend) {
    use_backend(backend);
    apply_all_interest();

    double wait_ms = std::max(0.0, timeout.count() * 1000.0);
    clock::time_point deadline;
    if (timers_.next_deadline(deadline)) {
        auto until = std::chrono::duration<double, std::milli>(deadline - clock::now()).count();
        wait_ms = std::min(wait_ms, std::max(0.0, until));
    }
    // Rounded up, so that a timer due in 0.3 ms does not make the loop spin with zero-length waits.
    const int ms = static_cast<int>(std::min(std::ceil(wait_ms), 2147483647.0));

    const std::size_t delivered = dispatch(poller_->wait(ms));
    run_timers();
    return delivered;
}

// ---- Completion reads: where the input a completion backend read on a channel's behalf meets the channel, for
// every such backend (the rule: completion_sink in poller.hpp). The hot path — a channel that is readable and has
// nothing waiting — costs one readable() and one handle_received per read, and no allocation: only input that must
// wait is copied (into the slot's parked_input).

std::uint64_t socket_map::completion_port::transport_reader(int fd) noexcept { return map.transport_reader(fd); }
bool socket_map::completion_port::bytes_received(int fd, std::uint64_t reader, std::span<const char> bytes,
                                                 bool ask_more) {
    return map.received(fd, reader, bytes, ask_more);
}
void socket_map::completion_port::peer_closed(int fd, std::uint64_t reader) { map.input_ended(fd, reader); }
void socket_map::completion_port::read_failed(int fd, std::uint64_t reader, int err) {
    map.read_failed(fd, reader, err);
}

std::uint64_t socket_map::transport_reader(int fd) noexcept {
    dispatcher* d = get(fd);
    ASYNCORE_ASSERT(d != nullptr, "a backend asks only about the fds the map registered with it");
    return d && d->wants_transport_reads() ? slots_[static_cast<std::size_t>(fd)].generation : 0;
}

socket_map::slot* socket_map::reader_slot(int fd, std::uint64_t reader) noexcept {
    ASYNCORE_ASSERT(reader != 0, "a report carries the registration transport_reader gave");
    if (fd < 0 || static_cast<std::size_t>(fd) >= slots_.size()) {
        ASYNCORE_ASSERT(false, "a backend reports only for fds the map registered with it");
        return nullptr;
    }
    slot& s = slots_[static_cast<std::size_t>(fd)];
    // A backend drops the completions of a registration it has removed, and the map removes an fd's registration
    // before the fd's slot changes hands (detach): so a report always finds the registration it was read for.
    ASYNCORE_ASSERT(s.channel && s.generation == reader, "a report reaches only the registration it was read for");
    if (!s.channel || s.generation != reader) return nullptr;
    ASYNCORE_ASSERT(s.channel->registered_interest_ != 0, "a backend reads only for a channel registered with it");
    ASYNCORE_ASSERT(!s.parked || !s.parked->bytes.empty() || s.parked->end, "parked input is never empty");
    return &s;
}

// The one place readable() is asked for a completion read: a throw is the channel's error (handle_error,
// handle_close for a disconnect), and exit_now leaves the loop, as from any handler. (The exception's way is out
// of line: the hot path is the one virtual call.)
bool socket_map::takes_input(dispatcher& d, std::uint64_t reader) {
    bool reads;
    try {
        reads = d.readable();
    } catch (...) {
        reads = readable_failed(d);
    }
    return reads && d.generation_ == reader;
}

bool socket_map::readable_failed(dispatcher& d) {
    detail::guarded(d, [] { throw; }); // the exception being handled, under the loop's rules
    return false;
}

void socket_map::park(slot& s, std::span<const char> bytes, bool end) {
    if (!s.parked) {
        s.parked = std::make_unique<parked_input>();
        ++parked_count_;
    }
    s.parked->bytes.append(bytes.data(), bytes.size());
    s.parked->end = s.parked->end || end;
    ASYNCORE_ASSERT(!s.parked->bytes.empty() || s.parked->end, "parked input is never empty");
}

void socket_map::unpark(slot& s) noexcept {
    if (!s.parked) return;
    ASYNCORE_ASSERT(parked_count_ > 0, "parked_count_ counts the slots with parked input");
    --parked_count_;
    s.parked.reset();
}

bool socket_map::received(int fd, std::uint64_t reader, std::span<const char> bytes, bool ask_more) {
    ASYNCORE_ASSERT(!bytes.empty(), "an empty read is the end of input, reported as such");
    slot* s = reader_slot(fd, reader);
    if (!s) return false;
    ref<dispatcher> channel = s->channel;
    if (s->parked) {
        // Behind what already waits: handed on with it, in order, when the channel's interest is next applied.
        park(*s, bytes, false);
        mark_dirty(*channel);
        return false;
    }
    bool reads = false;
    try {
        reads = takes_input(*channel, reader);
    } catch (...) {
        // exit_now: the loop ends, and the bytes wait for the next one.
        if (channel->generation_ == reader) {
            park(slots_[static_cast<std::size_t>(fd)], bytes, false);
            mark_dirty(*channel);
        }
        throw;
    }
    // handle_error may have closed it (its input goes with it) or opened others (slots_ may have moved).
    if (channel->generation_ != reader) return false;
    if (!reads) {
        park(slots_[static_cast<std::size_t>(fd)], bytes, false);
        mark_dirty(*channel); // asked again before the next wait: its interest drops POLLIN, or the bytes go on
        return false;
    }
    detail::guarded(*channel, [&] { channel->handle_received(std::string_view(bytes.data(), bytes.size())); });
    if (!channel->registered()) return false;
    mark_dirty(*channel);
    // Asked for a backend about to start the next read (a nested pass in the handler may have parked input).
    return ask_more && channel->generation_ == reader && !slots_[static_cast<std::size_t>(fd)].parked &&
           takes_input(*channel, reader);
}

void socket_map::input_ended(int fd, std::uint64_t reader) {
    slot* s = reader_slot(fd, reader);
    if (!s) return;
    ref<dispatcher> channel = s->channel;
    if (s->parked) {
        park(*s, {}, true);
        mark_dirty(*channel);
        return;
    }
    bool reads = false;
    try {
        reads = takes_input(*channel, reader);
    } catch (...) {
        if (channel->generation_ == reader) {
            park(slots_[static_cast<std::size_t>(fd)], {}, true);
            mark_dirty(*channel);
        }
        throw;
    }
    if (channel->generation_ != reader) return;
    if (!reads) {
        park(slots_[static_cast<std::size_t>(fd)], {}, true);
        mark_dirty(*channel);
        return;
    }
    detail::guarded(*channel, [&] { detail::loop_access::fire_close(*channel); });
}

void socket_map::read_failed(int fd, std::uint64_t reader, int err) {
    slot* s = reader_slot(fd, reader);
    if (!s) return;
    ref<dispatcher> channel = s->channel;
    detail::guarded(*channel, [&] { throw std::system_error(err, std::system_category(), "read"); });
    if (channel->registered()) mark_dirty(*channel);
}

// Called by apply_interest once readable() has said yes: hands on one step of what waits — the bytes, or, when
// only the end of input is left, that — and the caller asks readable() again before the next.
void socket_map::hand_on_parked(dispatcher& d) {
    slot& s = slots_[static_cast<std::size_t>(d.fileno_)];
    ASYNCORE_ASSERT(s.parked && (!s.parked->bytes.empty() || s.parked->end), "parked input is never empty");
    // Taken out of the slot before the handler runs: it may close the channel, or (a nested pass) park more.
    if (!s.parked->bytes.empty()) {
        const std::string bytes = std::move(s.parked->bytes);
        s.parked->bytes.clear();
        if (!s.parked->end) unpark(s);
        detail::guarded(d, [&] { d.handle_received(bytes); });
        return;
    }
    unpark(s);
    detail::guarded(d, [&] { detail::loop_access::fire_close(d); });
}

void socket_map::run_timers() {
    timers_.run_due(clock::now(), [](std::exception_ptr e) {
        log(log_level::error, "error: a timer callback failed (" + compact_exception(e) + ")");
    });
}

std::size_t socket_map::dispatch(std::span<const fired_event> fired) {
    ++passes_;
    // Snapshot every event with the registration it was meant for before any handler runs: a handler that
    // closes a channel and opens another that reuses the fd must not hand the new one the old one's events
    // (bpo-30931). The local vector also makes a nested loop() call inside a handler safe.
    std::vector<pending_event> events;
    events.swap(pending_);
    events.clear();
    for (const auto& f : fired) {
        // Before any handler has run, every event is for a registration the map holds: a backend reports only
        // the fds registered with it, and the map removes an fd's registration before its slot changes hands.
        ASYNCORE_ASSERT(f.fd >= 0 && static_cast<std::size_t>(f.fd) < slots_.size() &&
                            slots_[static_cast<std::size_t>(f.fd)].channel &&
                            slots_[static_cast<std::size_t>(f.fd)].channel->registered_interest_ != 0,
                        "a backend reports events only for the fds registered with it");
        ASYNCORE_ASSERT(f.events != 0, "an event has some bit set");
        if (f.fd < 0 || static_cast<std::size_t>(f.fd) >= slots_.size()) continue;
        const auto& s = slots_[static_cast<std::size_t>(f.fd)];
        if (s.channel) events.push_back({f.fd, s.generation, f.events});
    }

    std::size_t delivered = 0;
    for (const auto& e : events) {
        auto& s = slots_[static_cast<std::size_t>(e.fd)];
        if (!s.channel || s.generation != e.generation) continue;
        ref<dispatcher> channel = s.channel;
        readwrite(*channel, e.events);
        ++delivered;
        if (channel->generation_ == e.generation) mark_dirty(*channel);
    }
    events.clear();
    if (pending_.capacity() < events.capacity()) pending_.swap(events);
    return delivered;
}

} // namespace asyncore
