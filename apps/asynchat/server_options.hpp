#pragma once
// Options every `asynchat serve` subcommand shares, and the one way they start: bind, print the bound address,
// run the loop until SIGINT/SIGTERM.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <asyncore/asyncore.hpp>

namespace asynchat_cli {

struct server_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::string backend{asyncore::default_backend()};
};

// --host, --port (unless with_port is false: serve all has one port option per service) and --backend.
void add_server_options(CLI::App& cmd, server_options& opts, bool with_port = true);

// One listening service of a server process: where it listens and what an accepted socket becomes.
struct service_spec {
    std::string name;  // printed before "listening on" when several services share the process ("echo")
    std::string host;
    std::uint16_t port;
    std::function<void(asyncore::socket)> on_accept;
};

// Makes every listener in one map, prints "[NAME ]listening on HOST:PORT" for each (flushed) and tells on_bound
// (service index, "HOST:PORT"), then loops on `backend` until SIGINT/SIGTERM. Returns the process exit status
// (1, with one line on stderr, if a listener cannot be made).
int run_services(const std::string& backend, std::vector<service_spec> services,
                 std::function<void(std::size_t, const std::string&)> on_bound = {});

// A single service: prints "listening on HOST:PORT".
int run_server(const server_options& opts, std::function<void(asyncore::socket)> on_accept);

// Validators whose errors a user can read ("must be a whole number of at least 1, not 0"; CLI11's own number
// ranges print the limits of a double).
extern const CLI::Validator at_least_one;    // a whole number >= 1: counts and sizes
extern const CLI::Validator timeout_seconds; // a number >= 0: timeouts, where 0 means none

// C escapes as a shell user types them: \r \n \t \\ \xHH. Throws CLI::ValidationError naming what is wrong.
std::string unescape(const std::string& text);

} // namespace asynchat_cli
