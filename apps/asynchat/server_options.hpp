#pragma once
// Options every `asynchat serve` subcommand shares, and the one way they start: bind, print the bound address,
// run the loop until SIGINT/SIGTERM.
#include <cstdint>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include <asyncore/asyncore.hpp>

namespace asynchat_cli {

struct server_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::string backend{asyncore::default_backend()};
};

void add_server_options(CLI::App& cmd, server_options& opts);

// Makes the listener, prints "listening on HOST:PORT" (flushed) and loops until a signal. `on_accept` turns each
// accepted socket into a channel. Returns the process exit status.
int run_server(const server_options& opts, std::function<void(asyncore::socket)> on_accept);

// C escapes as a shell user types them: \r \n \t \\ \xHH. Throws CLI::ValidationError naming what is wrong.
std::string unescape(const std::string& text);

} // namespace asynchat_cli
