#pragma once
// `asynchat serve echo`: asynchat::echo's service behind the command's listener.
#include <string>

#include <asynchat/echo/server.hpp>
#include <asynchat/service_stats.hpp>

#include "server_options.hpp"

namespace asynchat_cli {

struct echo_command_options {
    server_options server;
    asynchat::echo::echo_options echo; // the defaults are the library's
    std::string delimiter_text = "\\r\\n"; // --terminator as typed, unescaped into echo.delimiter
    bool raw = false;
    bool selected = false;
};

void add_echo_command(CLI::App& serve, echo_command_options& opts);
// --idle-timeout, with `prefix` before the name (serve all uses "echo-").
void add_echo_idle_option(CLI::App& cmd, echo_command_options& opts, const std::string& prefix = "");
int run_echo(const echo_command_options& opts);
// The channel of one echo connection, counting into stats when given (serve all), speaking TLS from the first
// byte when tls is set.
void accept_echo(asyncore::socket sock, const asynchat::echo::echo_options& opts,
                 asynchat::service_stats* stats = nullptr, const tls_context& tls = {});

} // namespace asynchat_cli
