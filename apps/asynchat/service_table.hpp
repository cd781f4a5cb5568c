#pragma once
// The services of `asynchat serve`: one table (service_table.cpp), one entry per service. `serve NAME` and
// `serve all` both iterate it (serve.cpp), so adding a service is one file in services/ and one line in the table.
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include <asynchat/http/server.hpp>
#include <asynchat/service_stats.hpp>

#include "server_options.hpp"

namespace asynchat_cli {

// `serve NAME` runs one service; `serve all` runs every service in one loop (its options prefixed "NAME-" where
// they would clash).
enum class serve_mode { alone, all };

// What a started service hands the listener. The rest of its running state (a room, a router, a Maildir server)
// lives in its command_service, which outlives the loop.
struct started_service {
    std::function<void(asyncore::socket)> accept;
    std::string over_capacity_reply; // the protocol's busy reply (none for a TLS service: see busy_reply)
    // With --workers: each worker's accept, made on its thread with its figures (asynchat::service's
    // accept_for_worker). Unset: the service runs on worker 0 alone (its state is for one thread).
    std::function<std::function<void(asyncore::socket)>(unsigned worker, asynchat::service_stats* stats)>
        accept_for_worker{};
};

struct serve_context {
    serve_mode mode;
    const server_options& server;   // --host, --backend, --max-connections, TLS
    asynchat::service_stats& stats; // this service's figures (worker 0's with --workers), for its channels
    // serve all: the process's status pages (/metrics, /status), added by the service that speaks HTTP.
    std::function<void(asynchat::http::router&)> status_routes;
    // False from SIGTERM/SIGINT on (the drain delay included): what /readyz says.
    std::function<bool()> ready;
    // --access-log: where HTTP writes a line per response and SMTP one per delivered message; null: off.
    asynchat::access_log* access_log = nullptr;
};

// A service that cannot start (a Maildir it cannot make, a --root it cannot read): the one line said, and the
// process's exit status.
struct start_failure : std::runtime_error {
    start_failure(const std::string& what, int status) : std::runtime_error(what), status(status) {}
    int status;
};

class command_service {
public:
    virtual ~command_service() = default;
    virtual std::string_view name() const = 0;    // `serve NAME`, serve all's --NAME-port, the metrics label
    virtual std::string_view summary() const = 0; // the one-line help of `serve NAME`
    virtual std::uint16_t default_port(serve_mode mode) const = 0;
    // The service's own options (the shared ones, --host, --port, --backend, TLS..., are added by serve.cpp).
    virtual void add_options(CLI::App& cmd, serve_mode mode) = 0;
    // From the parse callback, once server holds the shared options: checks across options, TLS contexts.
    // Throws CLI::ValidationError naming the option (exit 2).
    virtual void finish(const server_options& server, serve_mode mode) = 0;
    // Makes what the service's channels share and says what an accepted socket becomes. Throws start_failure.
    virtual started_service start(serve_context& context) = 0;
};

// The table, in the order serve all starts and reports them.
std::vector<std::unique_ptr<command_service>> service_table();

} // namespace asynchat_cli
