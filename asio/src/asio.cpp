#include "asynchat/asio.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <asyncore/socket_map.hpp>

#include "asio_poller.hpp"

namespace asynchat::asio_transport {

void register_backend() {
    static const bool registered = [] {
        asyncore::register_backend({"asio", []() -> std::unique_ptr<asyncore::poller> {
                                        return std::make_unique<asio_poller>(design::completion);
                                    }});
        asyncore::register_backend({"asio-readiness", []() -> std::unique_ptr<asyncore::poller> {
                                        return std::make_unique<asio_poller>(design::readiness);
                                    }});
        return true;
    }();
    (void)registered;
}

// One pass of the map, run as an io_context handler: the same steps as socket_map::run_pass, with Asio doing
// the waiting. A pass is posted when a wait completes, when a channel's interest changes outside a pass, and when
// the earliest timer falls due.
struct host::state : std::enable_shared_from_this<state> {
    state(boost::asio::io_context& io_, asyncore::socket_map& map_) : io(io_), map(map_), timer(io_) {}

    void request_pass() {
        if (pass_posted || in_pass) return; // a pass in progress re-evaluates interest and timers at its end
        pass_posted = true;
        boost::asio::post(io, [weak = weak_from_this()] {
            if (auto self = weak.lock()) self->pass();
        });
    }

    void pass() {
        pass_posted = false;
        in_pass = true;
        struct reset {
            bool& flag;
            ~reset() { flag = false; }
        } guard{in_pass};
        map.dispatch(poller->take_events());
        map.run_timers();
        map.prepare_pass();
        poller->rearm();
        schedule_timer();
    }

    void schedule_timer() {
        asyncore::clock::time_point deadline;
        if (!map.next_timer_deadline(deadline)) {
            if (timer_armed) timer.cancel();
            timer_armed = false;
            return;
        }
        if (timer_armed && deadline == timer_deadline) return;
        timer_armed = true;
        timer_deadline = deadline;
        timer.expires_at(deadline);
        timer.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
            if (ec) return;
            if (auto self = weak.lock()) {
                self->timer_armed = false;
                self->request_pass();
            }
        });
    }

    boost::asio::io_context& io;
    asyncore::socket_map& map;
    asio_poller* poller = nullptr;
    boost::asio::steady_timer timer;
    asyncore::clock::time_point timer_deadline{};
    bool timer_armed = false;
    bool pass_posted = false;
    bool in_pass = false;
};

host::host(boost::asio::io_context& io, asyncore::socket_map& map) : state_(std::make_shared<state>(io, map)) {
    std::weak_ptr<state> weak = state_;
    auto poller = std::make_unique<asio_poller>(io, [weak] {
        if (auto s = weak.lock()) s->request_pass();
    });
    state_->poller = poller.get();
    map.set_poller(std::move(poller));
    map.on_pending_work([weak] {
        if (auto s = weak.lock()) s->request_pass();
    });
    state_->request_pass(); // registers the channels already in the map
}

host::~host() {
    state_->map.on_pending_work(nullptr);
    state_->timer.cancel();
    state_->map.set_poller(nullptr); // the next loop() picks a native backend again
}

} // namespace asynchat::asio_transport
