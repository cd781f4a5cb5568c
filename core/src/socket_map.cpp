#include "asyncore/socket_map.hpp"

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
    static socket_map map;
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
    if (poller_) poller_->attach(*this);
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
    s.generation = 0;
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
    detail::guarded(d, [&] {
        const unsigned want = d.wanted_interest();
        // readable()/writable() are user code: they may have closed the channel.
        if (d.generation_ != generation || want == d.registered_interest_) return;
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

void socket_map::deliver_received(int fd, std::string_view bytes) {
    auto* d = get(fd);
    if (!d) return;
    ref<dispatcher> channel(d);
    detail::guarded(*channel, [&] { channel->handle_received(bytes); });
    if (channel->registered()) mark_dirty(*channel);
}

void socket_map::deliver_eof(int fd) {
    auto* d = get(fd);
    if (!d) return;
    ref<dispatcher> channel(d);
    detail::guarded(*channel, [&] { detail::loop_access::fire_close(*channel); });
}

void socket_map::deliver_error(int fd, int err) {
    auto* d = get(fd);
    if (!d) return;
    ref<dispatcher> channel(d);
    detail::guarded(*channel, [&] { throw std::system_error(err, std::system_category(), "read"); });
    if (channel->registered()) mark_dirty(*channel);
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
