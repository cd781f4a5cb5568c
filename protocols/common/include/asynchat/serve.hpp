#pragma once
// asynchat::serve — the serving setup of a whole server process, as the `asynchat` command runs its services:
// listen (or take a listener already made), hold each service to its connection limit with the protocol's busy
// reply, say where it listens, loop until SIGINT/SIGTERM, then drain gracefully. A library user gets for their own
// protocol what the command does for echo, chat, HTTP and SMTP:
//
//   asynchat::service_stats stats;
//   asynchat::serve({.name = "redis",
//                    .where = asyncore::address::inet("127.0.0.1", 6379),
//                    .accept = [&](asyncore::socket s) { asyncore::make<redis_channel>(std::move(s), &stats); },
//                    .stats = &stats,
//                    .max_connections = 1000,
//                    .over_capacity_reply = "-ERR max number of clients reached\r\n"},
//                   {.backend = "epoll"});
//
// The channels count themselves into `stats` (service_connection does, for a channel derived from it); the limit
// is checked against stats->connections_open. TLS goes in `accept`: put the layer on the channel there
// (asynchat::tls::use_tls, docs/tls.md) — and leave over_capacity_reply empty for a TLS service, whose clients
// would read plaintext as a protocol error. examples/serve_service.cpp is a whole program.
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <asyncore/address.hpp>
#include <asyncore/loop.hpp>
#include <asyncore/socket.hpp>
#include <asyncore/socket_map.hpp>
#include <asynchat/proxy_protocol.hpp>
#include <asynchat/service_stats.hpp>

namespace asynchat {

// A load balancer in front (HAProxy `send-proxy` / `send-proxy-v2`, nginx `proxy_protocol on`) that starts each
// connection with a PROXY protocol header naming the client (proxy_protocol.hpp). With it on, the listener reads
// the header before the service's channel is made: the channel's addr() is the client's (a v2 LOCAL health check,
// or v1 UNKNOWN, keeps the connection's own), and a connection whose first bytes are not a valid header, or
// that has not sent a whole one within header_timeout, is closed unserved. Off by default: a header sent to a
// server that does not expect one is the client's own bytes, and a server that expects one must not be reachable
// but through the balancer (anyone else could name any address).
struct proxy_protocol_options {
    bool enabled = false;
    std::chrono::duration<double> header_timeout{5};   // from the accept to the header's last byte
    std::size_t max_header = proxy::default_max_header; // v2 headers (addresses + TLVs); v1 is at most 107 bytes
};

// One listening service of a server process.
struct service {
    std::string name;                  // in "NAME listening on HOST:PORT" (nothing before "listening" when empty)
    asyncore::address where{};         // where to listen: a TCP socket with SO_REUSEADDR, bound and listening
    // A socket already listening (passed by a supervisor, inherited), used instead of `where`.
    std::optional<asyncore::socket> listening{};
    std::function<void(asyncore::socket)> accept{}; // what an accepted socket becomes: make its channel here
    // With serve_options::workers above 1: makes worker `index`'s accept (0 .. workers-1), called once on that
    // worker's thread before it serves, with that worker's figures (&stats[index]). Its channels go in the
    // thread's default map, which is the worker's loop; what the workers share is the service's to make safe.
    // Null: the service is served by worker 0 alone, with `accept` (state made for one thread). With it, `accept`
    // may be left empty: one loop then uses accept_for_worker(0, stats).
    // Example: examples/serve_service.cpp (--workers).
    std::function<std::function<void(asyncore::socket)>(unsigned index, service_stats* stats)> accept_for_worker{};
    // The service's figures; its connections_open is what max_connections is checked against (no limit when
    // null). Must outlive serve(). With workers above 1 and accept_for_worker: an array of `workers` of them, one
    // per worker (each written by its worker's thread only), and max_connections holds for their sum.
    service_stats* stats = nullptr;
    std::size_t max_connections = 10000; // open connections; one more gets over_capacity_reply and is closed
    // Sent to a connection over max_connections before it is closed: the protocol's "busy" reply (HTTP's 503,
    // SMTP's 421, chat's "ERR server full"); empty: closed without a word.
    std::string over_capacity_reply{};
    int backlog = 1024;
    // Connections start with a PROXY protocol header (off by default). Connections still sending theirs count
    // toward max_connections.
    proxy_protocol_options proxy{};
};

struct serve_options {
    std::string backend{asyncore::default_backend()};    // the poller (asyncore::backend_names())
    std::chrono::duration<double> shutdown_timeout{5};     // how long the drain after a signal may last
    // How long to go on listening and serving after the signal before the drain (asyncore::stop_options): the
    // time a balancer's health check needs to see not-ready (on_stop) and take the instance out. 0: drain at once.
    std::chrono::duration<double> drain_delay{0};
    std::function<void()> on_stop{};                       // told at the signal (readiness goes 503 here)
    asyncore::socket_map* map = nullptr;                   // null: the default map (worker 0's, with workers)
    // Event loops, one per thread (this one is worker 0, which also listens); each has its own map and backend
    // instance, and is handed connections by worker 0 — the one with the fewest open gets the next. 1: this
    // thread's loop alone, as before. available_cpus() is what `--workers auto` uses.
    unsigned workers = 1;
    // Told where each service listens, once it does (its index in the list, "HOST:PORT"); by default
    // print_listening.
    std::function<void(const service&, std::size_t index, const std::string& where)> on_listening{};
};

// The CPUs this process may run on (its affinity mask): a sensible number of workers.
unsigned available_cpus();

// The default on_listening: "[NAME ]listening on HOST:PORT" on stdout, flushed (a script waits for the line).
void print_listening(const service& s, std::size_t index, const std::string& where);

// Makes every service's listener in one map (asyncore::listener: out of descriptors it closes new connections
// unserved instead of spinning), tells on_listening, then runs the loop until SIGINT/SIGTERM and drains
// (asyncore::graceful_loop): the listeners close, every connection is asked to finish (handle_shutdown), and the
// process waits for them up to shutdown_timeout. Returns after the drain (or when a handler throws
// asyncore::exit_now); throws what making a listener throws (an address in use: std::system_error). The signal
// watcher is installed before the first listener, so a signal sent as soon as a line is seen is not lost.
// Services are moved in (a passed listening socket is owned): build the vector with push_back or emplace_back.
void serve(std::vector<service> services, const serve_options& options = {});
// One service.
void serve(service one, const serve_options& options = {});

} // namespace asynchat
