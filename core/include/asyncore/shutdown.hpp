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
// A second signal during the drain ends it at once, as in step 3. Channels made during the drain (a client
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
    std::function<void()> on_stop;                     // told when the drain begins (a log line, say)
};

class graceful_loop {
public:
    // Installs the SIGINT/SIGTERM watcher in the map at once, so that a signal arriving before run() is not lost.
    explicit graceful_loop(stop_options options = {});
    ~graceful_loop();
    graceful_loop(const graceful_loop&) = delete;
    graceful_loop& operator=(const graceful_loop&) = delete;

    void run();
    // Begins the drain, as a signal does; a second call (or signal) ends it.
    void stop();
    bool draining() const noexcept { return draining_; }

private:
    bool drained() const;

    stop_options options_;
    std::string backend_;
    socket_map* map_;
    ref<dispatcher> watcher_;
    timer_handle deadline_;
    bool draining_ = false;
    bool cut_off_ = false;
};

} // namespace asyncore
