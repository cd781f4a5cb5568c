#pragma once
// `asynchat serve all`, the main job: echo, chat, HTTP and SMTP in ONE socket map run by ONE loop (the asyncore idea
// of mixed channels in one map). Its HTTP service serves a bundled site about the project, /metrics (Prometheus)
// and /status (HTML) with the live figures of every service and of the loop.
#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

#include <asynchat/http/server.hpp>

#include "serve_chat.hpp"
#include "serve_echo.hpp"
#include "serve_http.hpp"
#include "serve_smtp.hpp"

namespace asynchat_cli {

struct all_options {
    server_options server;     // --host and --backend (one port option per service instead of --port)
    std::uint16_t echo_port = 8007;
    std::uint16_t chat_port = 8023;
    std::uint16_t http_port = 8080;
    std::uint16_t smtp_port = 8025;
    echo_command_options echo;
    chat_command_options chat;
    http_command_options http; // root empty: the bundled site
    smtp_command_options smtp;  // --maildir defaults to ./maildir here (add_all_command)
    tls_context http_tls;       // the HTTP service's context: server.tls's certificate, offering ALPN http/1.1
    bool selected = false;
};

void add_all_command(CLI::App& serve, all_options& opts);
int run_all(all_options& opts);

} // namespace asynchat_cli
