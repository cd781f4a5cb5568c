#pragma once
// asyncore::graceful_loop — a server's loop with a graceful stop. Python's asyncore has none: a server stops by
// raising ExitNow (or by a signal killing it), and whatever was still queued for its clients is lost.
//
//   asyncore::graceful_loop stopper({.backend = "epoll", .shutdown_timeout = 5s}); // SIGINT/SIGTERM handled from here
//   ... make the listeners, print "listening on" ...
//   stopper.run(); // returns once stopped and drained
//
// run() loops until stop() is called or SIGINT/SIGTERM arrives. Then, from the loop (never inside the signal
// handler):
//   1. every listening channel (accepting()) is closed, so new connections are refused;
//   2. every other channel (but the loop's machinery: outlives_shutdown()) is asked to finish: handle_shutdown() (default close(); async_chat closes once its
//      queued output is sent; a protocol overrides it to finish the request in hand, or to refuse what it cannot
//      finish, as SMTP's 421);
//   3. the loop goes on until the map holds no channel but the machinery (the signal watcher, an eventfd waker),
//      or until shutdown_timeout has passed; then whatever is left is closed (a client that does not read is cut
//      off there). The machinery stays in the map for its owners to close.
// With a drain_delay, steps 1-3 wait that long after the signal: the server goes on listening and serving, but
// draining() is already true, so a readiness check (HTTP's /readyz) answers 503 and a load balancer takes the
// instance out before it refuses a single connection (Kubernetes' and HAProxy's "lame duck" period).
// A second signal during the delay or the drain ends it at once, as in step 3. Channels made during the drain (a client
// connection a handler opens) are served like the others. exit_now thrown by a handler still leaves at once.
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "ref.hpp"
#include "timers.hpp"

namespace asyncore {

class dispatcher;
class socket_map;

struct stop_options {
    std::string_view backend = {};                     // "" = default_backend()
    socket_map* map = nullptr;                         // nullptr = socket_map::default_map()
    std::chrono::duration<double> shutdown_timeout{5}; // the longest the drain lasts (0: close everything at once)
    std::function<void()> on_stop;                     // told at the signal, before any delay (a log line, say)
    // How long to go on listening and serving after the signal, draining() already true, before the drain
    // begins (0: at once).
    std::chrono::duration<double> drain_delay{0};
    // While it answers true, the drain is not over even with no channel left: work on its way to this loop from
    // another thread (a connection handed over, not yet arrived). Null: nothing of the kind.
    std::function<bool()> pending{};
};

class graceful_loop {
public:
    // Installs the SIGINT/SIGTERM watcher in the map at once, so that a signal arriving before run() is not lost.
    explicit graceful_loop(stop_options options = {});
    ~graceful_loop();
    graceful_loop(const graceful_loop&) = delete;
    graceful_loop& operator=(const graceful_loop&) = delete;

    void run();
    // Begins the drain (after drain_delay), as a signal does; a second call (or signal) ends it.
    void stop();
    // From the signal on, the delay included: the server is on its way out (not ready).
    bool draining() const noexcept { return draining_; }
    // A channel made after the drain began — a connection another loop accepted before it and handed over after —
    // is asked to finish as the others were (nothing happens before the drain, or during drain_delay).
    void adopt_late(dispatcher& channel);

private:
    bool drained() const;
    void begin_drain(); // steps 1 and 2

    stop_options options_;
    std::string backend_;
    socket_map* map_;
    ref<dispatcher> watcher_;
    timer_handle deadline_;
    timer_handle delay_;
    bool draining_ = false;
    bool finishing_ = false; // the delay is over: listeners closed, channels asked to finish
    bool cut_off_ = false;
};

} // namespace asyncore
