#include "asyncore/shutdown.hpp"

#include "asyncore/dispatcher.hpp"
#include "asyncore/loop.hpp"
#include "asyncore/signals.hpp"
#include "asyncore/socket_map.hpp"

namespace asyncore {

namespace {

// Called outside an event, with the loop's error rule: the exception of a channel's handler goes to that
// channel's handle_error (and a handle_error that throws closes it).
void ask_to_finish(dispatcher& d) {
    try {
        if (d.accepting())
            d.close();
        else
            d.handle_shutdown();
    } catch (const exit_now&) {
        throw;
    } catch (...) {
        try {
            d.handle_error();
        } catch (const exit_now&) {
            throw;
        } catch (...) {
            d.close();
        }
    }
}

} // namespace

graceful_loop::graceful_loop(stop_options options)
    : options_(std::move(options)), backend_(options_.backend.empty() ? default_backend() : options_.backend),
      map_(options_.map ? options_.map : &socket_map::default_map()) {
    options_.backend = backend_;
    watcher_ = on_signals({SIGINT, SIGTERM}, [this] { stop(); }, map_);
}

graceful_loop::~graceful_loop() {
    deadline_.cancel();
    delay_.cancel();
    if (watcher_) watcher_->close();
}

void graceful_loop::stop() {
    if (draining_) {
        cut_off_ = true; // asked twice: the operator does not want to wait
        return;
    }
    draining_ = true;
    if (options_.on_stop) options_.on_stop();
    if (options_.drain_delay.count() > 0)
        delay_ = map_->call_later(options_.drain_delay, [this] { begin_drain(); });
    else
        begin_drain();
}

void graceful_loop::adopt_late(dispatcher& channel) {
    if (finishing_ && !channel.outlives_shutdown() && channel.fileno() >= 0) ask_to_finish(channel);
}

void graceful_loop::begin_drain() {
    finishing_ = true;
    for (auto& channel : map_->channels())
        if (!channel->outlives_shutdown() && channel->fileno() >= 0) ask_to_finish(*channel);
    deadline_ = map_->call_later(options_.shutdown_timeout, [this] { cut_off_ = true; });
}

bool graceful_loop::drained() const {
    for (auto& channel : map_->channels())
        if (!channel->outlives_shutdown()) return false;
    return true;
}

void graceful_loop::run() {
    // The pass timeout only bounds a wait with nothing due: the deadline, like every timer, ends a wait sooner.
    const std::chrono::duration<double> pass_timeout = std::chrono::seconds(30);
    // drained() walks the map, but only during the drain, once per pass.
    while (!cut_off_ && !(finishing_ && drained() && !(options_.pending && options_.pending())))
        map_->run_pass(pass_timeout, backend_);
    deadline_.cancel();
    delay_.cancel();
    // What is left is cut off; the machinery stays for its owners to close.
    for (auto& channel : map_->channels())
        if (!channel->outlives_shutdown()) channel->close();
}

} // namespace asyncore
