#include "serve_http.hpp"

#include <chrono>

#include <fcntl.h>
#include <unistd.h>

#include <asynchat/service_stats.hpp>

namespace asynchat_cli {

void add_http_limit_options(CLI::App& cmd, http_command_options& opts, const std::string& prefix) {
    cmd.add_option("--" + prefix + "max-body", opts.http.max_body,
                   "largest request body in bytes (Content-Length); a larger one gets 413")
        ->capture_default_str();
    cmd.add_option("--" + prefix + "max-request-line", opts.http.max_request_line,
                   "longest request line in bytes; a longer one gets 414")
        ->check(at_least_one)
        ->capture_default_str();
    cmd.add_option("--" + prefix + "max-header-bytes", opts.http.max_header_bytes,
                   "most bytes of header fields per request; more get 431")
        ->check(at_least_one)
        ->capture_default_str();
    cmd.add_option("--" + prefix + "idle-timeout", opts.idle_timeout,
                   "seconds without traffic before a connection is closed (0: never)")
        ->check(timeout_seconds)
        ->capture_default_str();
    cmd.add_option("--" + prefix + "header-timeout", opts.header_timeout,
                   "seconds from the first byte of a request to the end of its header fields; slower gets 408 "
                   "(0: no deadline)")
        ->check(timeout_seconds)
        ->capture_default_str();
}

void add_http_root_option(CLI::App& cmd, http_command_options& opts, const std::string& prefix) {
    cmd.add_option("--" + prefix + "root", opts.root, "directory of the files to serve")
        ->required()
        ->check(CLI::Validator(
            [](std::string& dir) {
                // Opened as the server will open it, so that a directory it cannot read is a bad argument (exit
                // 2) rather than a server that answers 403 to everything.
                const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0) return "cannot read directory '" + dir + "'";
                ::close(fd);
                return std::string();
            },
            "DIR"));
}

void finish_http_options(http_command_options& opts) {
    opts.http.idle_timeout = std::chrono::duration<double>(opts.idle_timeout);
    opts.http.header_timeout = std::chrono::duration<double>(opts.header_timeout);
}

void add_http_command(CLI::App& serve, http_command_options& opts) {
    auto* http = serve.add_subcommand("http", "an HTTP/1.0 server: static files under --root, and POST /echo");
    add_server_options(*http, opts.server);
    add_http_root_option(*http, opts);
    add_http_limit_options(*http, opts);
    http->callback([&opts] {
        finish_http_options(opts);
        finish_server_tls(opts.server, http_alpn());
        opts.selected = true;
    });
}

std::vector<std::string> http_alpn() { return {"http/1.1"}; }

void accept_http(asyncore::socket sock, const asynchat::http::router& routes, const asynchat::http::server_options& http,
                 asynchat::service_stats* stats, const tls_context& tls) {
    auto channel = asyncore::make<asynchat::http::server_channel>(std::move(sock), routes, http, stats);
    use_tls(*channel, tls);
}

void add_echo_route(asynchat::http::router& routes) {
    routes.add("POST", "/echo", [](const asynchat::http::request& req) {
        const auto type = req.headers.get("content-type");
        return asynchat::http::response::text(200, req.body,
                                              type ? std::string(*type) : "application/octet-stream");
    });
}

void add_http_routes(asynchat::http::router& routes, const std::filesystem::path& root) {
    add_echo_route(routes);
    routes.add_prefix("GET", "/", asynchat::http::static_files(root));
}

int run_http(const http_command_options& opts) {
    asynchat::http::router routes;
    try {
        add_http_routes(routes, opts.root);
    } catch (const std::exception& e) {
        std::cerr << "asynchat: --root: " << e.what() << '\n';
        return 2;
    }
    asynchat::service_stats stats;
    return run_server(
        opts.server,
        [&](asyncore::socket sock) { accept_http(std::move(sock), routes, opts.http, &stats, opts.server.tls); },
        &stats, busy_reply(opts.server, asynchat::http::over_capacity_response()));
}

} // namespace asynchat_cli
