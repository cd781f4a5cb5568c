#pragma once
// asyncore::idle_timer — "close this connection after N seconds without traffic", for any channel.
//
// A server touches it once per read (an async_chat from handle_incoming, the one hook every input goes through
// on every backend: a touch per collected piece would cost a clock read per pipelined message) and, if it likes,
// every write; when `timeout` passes with no touch the
// callback runs from the loop (a server typically replies "421 idle" or just closes). touch() only stores the time:
// it never re-arms a timer, so traffic costs a clock read per read, not a heap operation. When the armed timer
// falls due it looks at the last touch and, if there was one since, re-arms itself for the remainder — so a busy
// connection costs one timer event per `timeout`, an idle one exactly one.
//
//   struct my_channel : asynchat::async_chat {
//       asyncore::idle_timer idle;
//       my_channel(asyncore::socket s) : async_chat(std::move(s)) {
//           idle.start(map(), 30s, [this] { close(); });
//       }
//       void handle_incoming(std::string_view bytes) override {
//           idle.touch();
//           async_chat::handle_incoming(bytes);
//       }
//   };
//
// The callback must not outlive what it captures: the timer is cancelled by stop() and by the destructor, so a
// member of the channel it closes is the usual place for it.
#include <chrono>
#include <functional>

#include "socket_map.hpp"
#include "timers.hpp"

namespace asyncore {

class idle_timer {
public:
    idle_timer() = default;
    idle_timer(const idle_timer&) = delete;
    idle_timer& operator=(const idle_timer&) = delete;
    ~idle_timer() { stop(); }

    // Starts watching (or restarts, replacing the callback): on_idle runs once, from map's loop, when `timeout`
    // has passed since the last touch(). A timeout of zero or less disables it.
    void start(socket_map& map, std::chrono::duration<double> timeout, std::function<void()> on_idle) {
        stop();
        if (timeout <= std::chrono::duration<double>::zero()) return;
        map_ = &map;
        timeout_ = std::chrono::duration_cast<clock::duration>(timeout);
        on_idle_ = std::move(on_idle);
        last_ = clock::now();
        arm(timeout_);
    }
    // There was traffic: the deadline moves to now + timeout.
    void touch() noexcept { last_ = clock::now(); }
    // Cancels; on_idle will not run. Idempotent.
    void stop() noexcept {
        handle_.cancel();
        map_ = nullptr;
    }
    bool active() const noexcept { return handle_.pending(); }
    clock::duration timeout() const noexcept { return timeout_; }

private:
    void arm(clock::duration after) {
        handle_ = map_->call_later(after, [this] { fire(); });
    }
    void fire() {
        const auto now = clock::now();
        const auto deadline = last_ + timeout_;
        if (now < deadline) {
            arm(deadline - now);
            return;
        }
        map_ = nullptr;
        // Moved out first: the callback may destroy this timer (closing the channel it is a member of).
        auto fn = std::move(on_idle_);
        fn();
    }

    socket_map* map_ = nullptr;
    clock::duration timeout_{};
    clock::time_point last_{};
    timer_handle handle_;
    std::function<void()> on_idle_;
};

} // namespace asyncore
