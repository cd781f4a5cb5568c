#include "asynchat/serve.hpp"

#include <algorithm>
#include <atomic>
#include <iostream>
#include <latch>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include <cerrno>

#include <sched.h>
#include <sys/socket.h>

#include <asyncore/listener.hpp>
#include <asyncore/loop_inbox.hpp>
#include <asyncore/socket_map.hpp>
#include <asynchat/systemd.hpp>
#include <asyncore/log.hpp>
#include <asyncore/ref.hpp>
#include <asyncore/shutdown.hpp>

namespace asynchat {

namespace {

class proxy_header_reader;

// Where a service's accepted connections go — this loop's map, or one of the workers' — and how many it has open.
struct delivery {
    // Makes the connection the service's (a peer: the client a PROXY header named, to be the channel's addr()).
    std::function<void(asyncore::socket, std::optional<asyncore::address> peer)> deliver;
    // The service's connections open now, every worker's (max_connections holds for the sum); null: no limit.
    std::function<std::uint64_t()> open_now;
    service_stats* local_stats = nullptr; // this loop's figures: where a refused PROXY header counts
};

// A service's listener: max_connections on top of asyncore::listener's accept path, the PROXY protocol header
// read first when the service expects one, its lines through the log.
class service_listener final : public asyncore::listener {
public:
    service_listener(service& spec, asyncore::socket_map* map, delivery to)
        : listener(map), name_(spec.name), to_(std::move(to)), reply_(std::move(spec.over_capacity_reply)),
          max_connections_(spec.max_connections), proxy_(spec.proxy) {
        if (spec.listening) {
            // A passed listener (systemd's, a test's) may be blocking: one accept() too many would stall the loop.
            spec.listening->set_blocking(false);
            set_socket(std::move(*spec.listening), map);
        } else {
            create_socket(spec.where.family());
            set_reuse_addr();
            bind(spec.where);
        }
        listen(spec.backlog);
    }

    void handle_accepted(asyncore::socket sock, asyncore::address addr) override;

    void log_info(std::string_view message, std::string_view type) override {
        asyncore::log(type == "error" ? asyncore::log_level::error : asyncore::log_level::info,
                      "asynchat: " + std::string(message));
    }

    // From a proxy_header_reader: the header is in, the socket is at the service's first byte.
    void header_read(asyncore::socket sock, const proxy::header& header) { to_.deliver(std::move(sock), header.source); }
    // From a proxy_header_reader: no valid header; counted as refused input, and said in one line.
    void header_refused(const std::string& who, const std::string& why) {
        if (to_.local_stats) ++to_.local_stats->errors;
        asyncore::log(asyncore::log_level::warning,
                      "asynchat: " + (name_.empty() ? std::string() : name_ + ": ") + "closing " + who + ": " + why);
    }

    const proxy_protocol_options& proxy() const noexcept { return proxy_; }
    std::size_t awaiting_header = 0; // connections still sending their PROXY header (they count as open)

private:
    // Over the limit: the reply, then the close; the connections already open are untouched. A fresh socket's
    // send buffer takes a short reply whole, so one non-blocking send suffices. What the client sent already is
    // read first: closing a socket with unread input sends a reset, which can destroy the reply in flight.
    void refuse(asyncore::socket& sock) {
        char scratch[4096];
        for (int i = 0; i < 16 && sock.recv_some(scratch, sizeof scratch) > 0; ++i) {
        }
        if (!reply_.empty()) (void)sock.send_some(reply_.data(), reply_.size());
        ::shutdown(sock.fileno(), SHUT_WR);
        sock.close();
    }

    std::string name_;
    delivery to_;
    std::string reply_;
    std::size_t max_connections_;
    proxy_protocol_options proxy_;
};

// The accept of one loop: the channel made in `map`, with the peer a PROXY header named as its address.
void accept_here(asyncore::socket_map& map, const std::function<void(asyncore::socket)>& accept, asyncore::socket sock,
                 const std::optional<asyncore::address>& peer) {
    if (!peer) {
        accept(std::move(sock));
        return;
    }
    map.expect_peer_address(sock.fileno(), *peer);
    try {
        accept(std::move(sock));
    } catch (...) {
        map.forget_peer_address();
        throw;
    }
    map.forget_peer_address(); // the service made no channel on this map for it
}

// A connection of a service behind a load balancer, until its PROXY protocol header is in. It takes from the
// socket only the header's bytes (it peeks, and reads back exactly what the parser took), so what follows — the
// protocol's first line, or a TLS ClientHello — reaches the service's channel untouched; then it leaves the map
// and hands the socket to the service. Done before the channel exists, rather than as a stream layer under it,
// because the header comes before a TLS layer's first byte too, and the channel's constructor should already
// see the client's address (SMTP's greeting and trace headers, a chat room's join line).
class proxy_header_reader final : public asyncore::dispatcher {
public:
    proxy_header_reader(asyncore::socket sock, asyncore::ref<service_listener> to)
        : dispatcher(std::move(sock), &to->map()), to_(std::move(to)), parser_(to_->proxy().max_header) {
        ++to_->awaiting_header;
        const auto timeout = to_->proxy().header_timeout;
        if (timeout.count() > 0)
            timer_ = map().call_later(timeout, [this] {
                refuse("no whole PROXY protocol header within " + seconds(to_->proxy().header_timeout));
            });
    }

    bool writable() override { return false; }

    void handle_read() override {
        char buf[512];
        const ssize_t n = ::recv(fileno(), buf, sizeof buf, MSG_PEEK);
        if (n == 0) {
            close(); // gone before a whole header: nothing to serve, nothing to say
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
            close();
            return;
        }
        const std::size_t used = parser_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
        if (used > 0 && ::recv(fileno(), buf, used, 0) != static_cast<ssize_t>(used)) {
            refuse("the socket gave back fewer bytes than it showed");
            return;
        }
        switch (parser_.state()) {
        case proxy::header_parser::status::need_more: return;
        case proxy::header_parser::status::invalid: refuse(parser_.error()); return;
        case proxy::header_parser::status::done: hand_over(); return;
        }
    }

    void handle_close() override { close(); }
    void handle_error() override { refuse(asyncore::compact_exception()); }
    // Draining: a connection that has not named its client has no request in hand (as nginx closes idle ones).
    void handle_shutdown() override { close(); }

    void close() override {
        timer_.cancel();
        if (counted_) {
            counted_ = false;
            --to_->awaiting_header;
        }
        dispatcher::close();
    }

private:
    static std::string seconds(std::chrono::duration<double> d) {
        std::string text = std::to_string(d.count());
        text.erase(text.find_last_not_of('0') + 1);
        if (text.back() == '.') text.pop_back();
        return text + " s";
    }

    void refuse(const std::string& why) {
        auto self = pin();
        to_->header_refused(addr() ? addr()->to_string() : std::string("a client"), why);
        close();
    }

    void hand_over() {
        auto self = pin();
        del_channel(); // the fd's slot is free for the service's channel
        asyncore::socket sock = std::move(this->sock());
        close();
        to_->header_read(std::move(sock), parser_.result());
    }

    asyncore::ref<service_listener> to_;
    proxy::header_parser parser_;
    asyncore::timer_handle timer_;
    bool counted_ = true;
};

void service_listener::handle_accepted(asyncore::socket sock, asyncore::address) {
    if (to_.open_now && to_.open_now() + awaiting_header >= max_connections_) {
        refuse(sock);
        return;
    }
    if (proxy_.enabled) {
        asyncore::make<proxy_header_reader>(std::move(sock), asyncore::ref<service_listener>(this));
        return;
    }
    to_.deliver(std::move(sock), std::nullopt);
}

} // namespace

void print_listening(const service& s, std::size_t, const std::string& where) {
    if (!s.name.empty()) std::cout << s.name << ' ';
    std::cout << "listening on " << where << std::endl;
}

namespace {

// The loop that listens (the only one, or worker 0): the listeners, "listening on", readiness and the watchdog for
// systemd; then the loop and its drain.
void run_listening_loop(std::vector<service>& services, const serve_options& options, asyncore::socket_map& map,
                        asyncore::graceful_loop& stopper, const std::function<delivery(std::size_t)>& delivery_of) {
    std::vector<asyncore::ref<service_listener>> listeners;
    asyncore::timer_handle watchdog;
    std::function<void()> ping; // WATCHDOG=1, then again in half the watchdog's interval
    try {
        for (std::size_t i = 0; i < services.size(); ++i) {
            listeners.push_back(asyncore::make<service_listener>(services[i], &map, delivery_of(i)));
            const std::string where = listeners.back()->sock().getsockname().to_string();
            if (options.on_listening)
                options.on_listening(services[i], i, where);
            else
                print_listening(services[i], i, where);
        }
        // Under systemd (Type=notify): started once every service listens; alive while the loop turns.
        systemd::notify("READY=1\nSTATUS=serving");
        if (const auto every = systemd::watchdog_ping_interval(); every.count() > 0) {
            ping = [&map, &watchdog, &ping, every] {
                systemd::notify("WATCHDOG=1");
                watchdog = map.call_later(every, ping);
            };
            ping();
        }
        stopper.run();
        watchdog.cancel();
    } catch (...) {
        // exit_now included: the caller decides what it ends (serve() returns; with workers, every loop stops).
        watchdog.cancel();
        for (auto& l : listeners) l->close();
        throw;
    }
}

// One worker of a server with several: its loop's map, the inbox by which worker 0 (which listens) hands it
// connections, and per service its accept (empty: not served here) and the connections handed to it and not yet
// accepted (they count as open for max_connections and for the choice of the next worker).
struct worker {
    asyncore::socket_map* map = nullptr;
    std::unique_ptr<asyncore::loop_inbox> inbox;     // guarded by the pool's mutex once the workers run
    std::vector<std::function<void(asyncore::socket)>> accepts;
    std::unique_ptr<std::atomic<std::uint64_t>[]> in_flight;
    asyncore::graceful_loop* stopper = nullptr;      // while its loop runs; guarded by the pool's mutex
    std::atomic<bool> accepting{true};               // false once its loop is over: late hand-overs are closed
};

// serve() with options.workers > 1: one loop per thread, each with its own map (the thread's default map) and
// backend; worker 0, on the calling thread, also listens, and hands each connection to the worker with the fewest
// open (docs/design.md: why not SO_REUSEPORT). Every worker's graceful_loop hears SIGTERM itself and drains its
// own connections.
void serve_workers(std::vector<service>& services, const serve_options& options, unsigned count,
                   const std::function<void()>& on_stop) {
    std::vector<worker> workers(count);
    for (auto& w : workers) {
        w.accepts.resize(services.size());
        w.in_flight = std::make_unique<std::atomic<std::uint64_t>[]>(services.size());
    }
    std::vector<unsigned> next(services.size(), 0); // round robin among equals (worker 0's thread only)
    std::latch ready(count);        // every worker has its map, inbox and accepts: worker 0 may listen
    std::latch listening_over(1);   // worker 0's listeners are closed: nothing more is handed over
    std::latch loops_over(count);   // every loop has stopped: what the workers' accepts share (a chat hub's
                                    // rooms) may go, as no handler of any worker can reach it any more
    std::mutex mutex;
    std::exception_ptr failure;
    bool asked_to_stop = false;

    // Every worker's loop stops (a failure, or exit_now from a handler): asked on its own thread.
    const auto stop_all = [&](std::exception_ptr e) {
        std::lock_guard lock(mutex);
        if (e && !failure) failure = e;
        if (std::exchange(asked_to_stop, true)) return;
        for (auto& w : workers)
            if (w.inbox)
                w.inbox->call_from_thread([&w, &mutex] {
                    std::lock_guard inner(mutex);
                    if (w.stopper && !w.stopper->draining()) w.stopper->stop();
                });
    };
    const auto stats_of = [&](std::size_t i, unsigned w) -> service_stats* {
        return services[i].stats ? &services[i].stats[services[i].accept_for_worker ? w : 0] : nullptr;
    };
    const auto load = [&](std::size_t i, unsigned w) {
        const service_stats* st = stats_of(i, w);
        return (st ? st->connections_open.load() : 0) + workers[w].in_flight[i].load(std::memory_order_relaxed);
    };
    const auto delivery_of = [&](std::size_t i) {
        delivery d;
        d.local_stats = stats_of(i, 0);
        if (services[i].stats)
            d.open_now = [&, i] {
                std::uint64_t open = 0;
                for (unsigned w = 0; w < count; ++w)
                    if (workers[w].accepts[i]) open += load(i, w);
                return open;
            };
        d.deliver = [&, i](asyncore::socket sock, std::optional<asyncore::address> peer) {
            unsigned target = 0;
            if (services[i].accept_for_worker) {
                // The fewest open, ties taken in turn (so that a burst of new connections spreads).
                const unsigned first = next[i]++ % count;
                target = first;
                for (unsigned k = 1; k < count; ++k) {
                    const unsigned w = (first + k) % count;
                    if (load(i, w) < load(i, target)) target = w;
                }
            }
            if (target == 0) {
                accept_here(*workers[0].map, workers[0].accepts[i], std::move(sock), peer);
                return;
            }
            worker& w = workers[target];
            auto held = std::make_shared<asyncore::socket>(std::move(sock)); // std::function wants a copyable
            std::lock_guard lock(mutex);
            if (!w.inbox) return; // that worker failed: the socket closes unserved
            w.in_flight[i].fetch_add(1, std::memory_order_relaxed);
            w.inbox->call_from_thread([&w, i, held, peer = std::move(peer)] {
                w.in_flight[i].fetch_sub(1, std::memory_order_relaxed);
                if (!w.accepting.load()) return;
                try {
                    const int fd = held->fileno();
                    accept_here(*w.map, w.accepts[i], std::move(*held), peer);
                    // Accepted before the drain, arrived after it began: asked to finish like the rest, so the
                    // drain does not wait out its timeout for a connection nobody told. (w.stopper is set and
                    // cleared on this thread, where this runs.)
                    if (w.stopper)
                        if (asyncore::dispatcher* made = w.map->get(fd)) w.stopper->adopt_late(*made);
                } catch (const std::exception& e) {
                    asyncore::log(asyncore::log_level::error,
                                  std::string("asynchat: accepting a connection failed: ") + e.what());
                }
            });
        };
        return d;
    };

    const auto run_worker = [&](unsigned index) {
        worker& me = workers[index];
        bool arrived = false, over = false, stopped = false;
        try {
            asyncore::socket_map& map =
                index == 0 && options.map ? *options.map : asyncore::socket_map::default_map();
            me.map = &map;
            asyncore::graceful_loop stopper({.backend = options.backend,
                                             .map = &map,
                                             .shutdown_timeout = options.shutdown_timeout,
                                             .on_stop = index == 0 ? on_stop : std::function<void()>(),
                                             .drain_delay = options.drain_delay,
                                             // Connections accepted before the drain and handed here are
                                             // waited for, and served (adopt_late), not closed on arrival.
                                             .pending =
                                                 [&me, n = services.size()] {
                                                     for (std::size_t i = 0; i < n; ++i)
                                                         if (me.in_flight[i].load()) return true;
                                                     return false;
                                                 }});
            {
                auto inbox = std::make_unique<asyncore::loop_inbox>(map);
                std::lock_guard lock(mutex);
                me.inbox = std::move(inbox);
            }
            for (std::size_t i = 0; i < services.size(); ++i) {
                if (services[i].accept_for_worker)
                    me.accepts[i] = services[i].accept_for_worker(index, stats_of(i, index));
                else if (index == 0)
                    me.accepts[i] = services[i].accept;
            }
            {
                std::lock_guard lock(mutex);
                me.stopper = &stopper;
            }
            arrived = true;
            ready.arrive_and_wait();
            try {
                if (index == 0)
                    run_listening_loop(services, options, map, stopper, delivery_of);
                else
                    stopper.run();
            } catch (const asyncore::exit_now&) {
                stop_all(nullptr); // a handler ended its loop: the server ends
            }
            {
                std::lock_guard lock(mutex);
                me.stopper = nullptr;
            }
            if (index == 0) {
                over = true;
                listening_over.count_down();
            }
            listening_over.wait();
            me.accepting = false;
            me.inbox->run_pending(); // hand-overs that came after the drain: their sockets close unserved
            stopped = true;
            loops_over.arrive_and_wait();
        } catch (...) {
            {
                std::lock_guard lock(mutex);
                me.stopper = nullptr;
            }
            if (!arrived) ready.count_down();
            if (index == 0 && !over) listening_over.count_down();
            stop_all(std::current_exception());
            if (!stopped) loops_over.arrive_and_wait();
        }
        {
            std::lock_guard lock(mutex);
            me.inbox.reset(); // on its own thread: its waker is a channel of this thread's map
        }
        me.accepts.clear(); // and what the accepts hold, made on this thread, goes on it too
    };

    std::vector<std::thread> threads;
    for (unsigned index = 1; index < count; ++index) threads.emplace_back(run_worker, index);
    run_worker(0);
    for (auto& t : threads) t.join();
    if (failure) std::rethrow_exception(failure);
}

} // namespace

unsigned available_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    return std::max(1, CPU_COUNT(&set));
}

void serve(std::vector<service> services, const serve_options& options) {
    const auto on_stop = [&options] {
        systemd::notify("STOPPING=1\nSTATUS=draining");
        if (options.on_stop) options.on_stop();
    };
    if (options.workers > 1) {
        serve_workers(services, options, options.workers, on_stop);
        return;
    }
    asyncore::graceful_loop stopper({.backend = options.backend,
                                     .map = options.map,
                                     .shutdown_timeout = options.shutdown_timeout,
                                     .on_stop = on_stop,
                                     .drain_delay = options.drain_delay});
    asyncore::socket_map& map = options.map ? *options.map : asyncore::socket_map::default_map();
    try {
        run_listening_loop(services, options, map, stopper, [&](std::size_t i) {
        service& s = services[i];
        delivery d;
        d.local_stats = s.stats;
        if (s.stats) d.open_now = [st = s.stats] { return st->connections_open.load(); };
        // One loop: `accept`, or worker 0's from accept_for_worker when only that is given.
        auto accept = s.accept ? s.accept : s.accept_for_worker ? s.accept_for_worker(0, s.stats) : s.accept;
        d.deliver = [&map, accept = std::move(accept)](asyncore::socket sock, std::optional<asyncore::address> peer) {
            accept_here(map, accept, std::move(sock), peer);
        };
        return d;
        });
    } catch (const asyncore::exit_now&) {
        // A handler ended the loop: serve() returns, the channels left in the map are the caller's to close.
    }
}

void serve(service one, const serve_options& options) {
    std::vector<service> services;
    services.push_back(std::move(one));
    serve(std::move(services), options);
}

} // namespace asynchat
