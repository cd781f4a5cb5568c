#pragma once
// `asynchat serve http`: the HTTP/1.0 server of asynchat::http — static files under --root, and POST /echo (the
// body back verbatim), which shows the routing API. With --tls-cert/--tls-key it is HTTPS (ALPN http/1.1).
#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>

#include <asynchat/http/server.hpp>

#include "server_options.hpp"

namespace asynchat_cli {

struct http_command_options {
    server_options server{.port = 8080};
    std::string root;
    asynchat::http::server_options http;
    double idle_timeout = 30;
    double header_timeout = 10;
    bool selected = false;
};

// Adds the HTTP limits (--max-body, --idle-timeout, --header-timeout, --max-request-line, --max-header-bytes) to cmd, with `prefix`
// before each name (serve all uses "http-"). The callback of cmd must call finish_http_options.
void add_http_limit_options(CLI::App& cmd, http_command_options& opts, const std::string& prefix = "");
// Adds --root (required, a readable directory).
void add_http_root_option(CLI::App& cmd, http_command_options& opts, const std::string& prefix = "");
void finish_http_options(http_command_options& opts);
// The ALPN protocol an HTTPS service offers (RFC 7301): this server speaks HTTP/1.x only.
std::vector<std::string> http_alpn();
// The channel of one HTTP connection, HTTPS when tls is set.
void accept_http(asyncore::socket sock, const asynchat::http::router& routes, const asynchat::http::server_options& http,
                 asynchat::service_stats* stats, const tls_context& tls);
void add_http_command(CLI::App& serve, http_command_options& opts);
// POST /echo: the body back verbatim, with its Content-Type.
void add_echo_route(asynchat::http::router& routes);
// The routes of `serve http`: POST /echo, and GET (so HEAD) of the files under root.
void add_http_routes(asynchat::http::router& routes, const std::filesystem::path& root);
int run_http(const http_command_options& opts);

} // namespace asynchat_cli
