#pragma once
// asynchat::asio_transport — the same dispatchers, async_chats and protocol handlers, unchanged, on Boost.Asio.
//
// Two ways to use it:
//
//  1. As one more backend of loop():
//         asynchat::asio_transport::register_backend();           // once, at start-up
//         asyncore::loop({.backend = "asio"});                     // `asynchat serve ... --backend asio`
//     Each map gets its own io_context, run by loop().
//
//  2. Inside an application that already runs an io_context:
//         boost::asio::io_context io;
//         asyncore::socket_map map;
//         asynchat::asio_transport::host host(io, map);           // the map's channels now run on io
//         asyncore::make<my_server>(&map, ...);                    // register channels as usual
//         ... native Asio code on the same io ...
//         io.run();                                                // no asyncore::loop() at all
//     Channels are served from io's own handlers, beside the application's, on the thread that runs io;
//     call_later timers ride an Asio steady_timer.
//
// How: each registered fd gets a non-owning posix::stream_descriptor, and the channel's interest becomes
// async_wait(wait_read / wait_write / wait_error) operations, re-armed after every completion (Asio issues an
// epoll_ctl per wait, so a socket left readable is reported again: the level-triggered contract handlers rely
// on). Completions are collected per fd and delivered by socket_map::dispatch under the same rules as on the
// native backends. With the "asio" backend an async_chat's input is read by Asio instead (async_read_some, the
// next one started from the last one's completion handler, so no epoll_ctl per message): docs/asio.md walks
// through both.
#include <memory>

#include <boost/asio/io_context.hpp>

namespace asyncore {
class socket_map;
}

namespace asynchat::asio_transport {

// Adds "asio" to asyncore::backend_names(). Idempotent.
void register_backend();

// Serves `map`'s channels from `io` until destroyed. One host per map; the map and io must outlive it. Do not
// also run the map with asyncore::loop() while hosted.
class host {
public:
    host(boost::asio::io_context& io, asyncore::socket_map& map);
    ~host();
    host(const host&) = delete;
    host& operator=(const host&) = delete;

private:
    struct state;
    std::shared_ptr<state> state_;
};

} // namespace asynchat::asio_transport
