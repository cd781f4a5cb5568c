#pragma once
// Options every `asynchat serve` subcommand shares (serve.cpp runs them through asynchat::serve), and the option
// helpers the services use.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <asyncore/asyncore.hpp>
#include <asynchat/serve.hpp>
#include <asynchat/service_stats.hpp>

#include "tls_support.hpp"

namespace asynchat_cli {

struct server_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::string backend{asyncore::default_backend()};
    std::size_t max_connections = 10000; // open connections per service; one more gets the over-capacity reply
    double shutdown_timeout = 5;         // seconds the drain after SIGTERM may last
    double drain_delay = 0;              // seconds of serving, not ready (/readyz 503), between SIGTERM and the drain
    std::string tls_cert{};              // --tls-cert: PEM, the leaf first, then intermediates
    std::string tls_key{};               // --tls-key: PEM
    tls_context tls{};                   // made from them by finish_server_tls; null: plaintext
    asynchat::proxy_protocol_options proxy{}; // --proxy-protocol, --proxy-header-timeout
    std::string access_log{};            // --access-log FILE, or "-" for stdout; empty: none
    unsigned workers = 1;                // --workers N|auto: event loops, one per thread
};

// --host, --port (unless with_port is false: serve all has one port option per service), --backend,
// --max-connections, --shutdown-timeout, --drain-delay, --workers, --access-log, --proxy-protocol with --proxy-header-timeout, and --tls-cert with
// --tls-key (both or neither).
void add_server_options(CLI::App& cmd, server_options& opts, bool with_port = true);
// From the subcommand's parse callback: opts.tls from --tls-cert/--tls-key (offering `alpn`), null without them.
// A certificate or key that cannot be used throws CLI::ValidationError naming the option (exit 2, one line).
void finish_server_tls(server_options& opts, std::vector<std::string> alpn = {});

// The over-capacity reply of a service that speaks TLS from its first byte: none (plaintext would be a protocol
// error to a TLS client; the close says enough). `reply` otherwise.
std::string busy_reply(const server_options& opts, std::string reply);

// Validators whose errors a user can read ("must be a whole number of at least 1, not 0"; CLI11's own number
// ranges print the limits of a double).
extern const CLI::Validator at_least_one;    // a whole number >= 1: counts and sizes
extern const CLI::Validator timeout_seconds; // a number >= 0: timeouts, where 0 means none
// --backend: one of asyncore::backend_names() (made when the options are, so after the Asio backends register);
// a backend this kernel refuses (io_uring under a seccomp filter) is rejected with the kernel's reason.
CLI::Validator backend_name();

// A number of seconds (checked as timeout_seconds) bound straight to a duration of the library's options; the
// default shown in --help is the duration's own, so it is defined once, in the library.
CLI::Option* add_seconds_option(CLI::App& cmd, const std::string& name, std::chrono::duration<double>& target,
                                const std::string& help);

// C escapes as a shell user types them: \r \n \t \\ \xHH. Throws CLI::ValidationError naming what is wrong.
std::string unescape(const std::string& text);

} // namespace asynchat_cli
