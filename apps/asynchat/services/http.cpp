// `asynchat serve http`: the HTTP/1.0 server of asynchat::http — static files under --root, and POST /echo (the
// body back verbatim), which shows the routing API. With --tls-cert/--tls-key it is HTTPS (ALPN http/1.1). In
// serve all it also serves /metrics and /status, and a bundled site about the project when there is no --root.
// Always: /healthz and /readyz, for a load balancer's health checks (docs/deploy.md).
#include <fcntl.h>
#include <unistd.h>

#include <asynchat/http/server.hpp>

#include "embedded_files.hpp"
#include "service_table.hpp"

namespace asynchat_cli {

namespace http = asynchat::http;

namespace {

// The bundled site, from the program's own bytes: "/" is /index.html.
http::response bundled_site(const http::request& req) {
    const std::string_view path = req.path == "/" ? std::string_view("/index.html") : std::string_view(req.path);
    for (const auto& f : embedded_files()) {
        if (f.path != path) continue;
        auto r = http::response::text(200, std::string(f.bytes), std::string(http::content_type_for(path)));
        r.headers.emplace_back("Cache-Control", "no-cache");
        return r;
    }
    return http::response::text(404, "not found\n");
}

// POST /echo: the body back verbatim, with its Content-Type.
void add_echo_route(http::router& routes) {
    routes.add("POST", "/echo", [](const http::request& req) {
        const auto type = req.headers.get("content-type");
        return http::response::text(200, req.body, type ? std::string(*type) : "application/octet-stream");
    });
}

class http_service final : public command_service {
public:
    std::string_view name() const override { return "http"; }
    std::string_view summary() const override {
        return "an HTTP/1.0 server: static files under --root, and POST /echo";
    }
    std::uint16_t default_port(serve_mode) const override { return 8080; }

    void add_options(CLI::App& cmd, serve_mode mode) override {
        auto* root = cmd.add_option("--root", root_, mode == serve_mode::all
                                                         ? "serve files from DIR instead of the bundled site"
                                                         : "directory of the files to serve")
                         ->check(CLI::Validator(
                             [](std::string& dir) {
                                 // Opened as the server will open it, so that a directory it cannot read is a bad
                                 // argument (exit 2) rather than a server that answers 403 to everything.
                                 const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                                 if (fd < 0) return "cannot read directory '" + dir + "'";
                                 ::close(fd);
                                 return std::string();
                             },
                             "DIR"));
        if (mode == serve_mode::alone) root->required();
        // serve all: these are HTTP's without a prefix (--idle-timeout is HTTP's; the others have NAME-idle-timeout).
        cmd.add_option("--max-body", options_.limits.max_body,
                       "largest request body in bytes (Content-Length); a larger one gets 413")
            ->capture_default_str();
        cmd.add_option("--max-request-line", options_.limits.max_request_line,
                       "longest request line in bytes; a longer one gets 414")
            ->check(at_least_one)
            ->capture_default_str();
        cmd.add_option("--max-header-bytes", options_.limits.max_header_bytes,
                       "most bytes of header fields per request; more get 431")
            ->check(at_least_one)
            ->capture_default_str();
        cmd.add_option("--max-headers", options_.limits.max_header_lines,
                       "most header field lines per request; more get 431")
            ->check(at_least_one)
            ->capture_default_str();
        add_seconds_option(cmd, "--idle-timeout", options_.idle_timeout,
                           "seconds without traffic before a connection is closed (0: never)");
        add_seconds_option(cmd, "--header-timeout", options_.header_timeout,
                           "seconds from the first byte of a request to the end of its header fields; slower gets "
                           "408 (0: no deadline)");
    }

    void finish(const server_options& server, serve_mode) override {
        // HTTPS offers ALPN http/1.1 (RFC 7301): this server speaks HTTP/1.x only.
        if (!server.tls_cert.empty()) tls_ = server_tls_context(server.tls_cert, server.tls_key, {"http/1.1"});
    }

    started_service start(serve_context& context) override {
        if (context.status_routes) context.status_routes(routes_);
        http::add_health_routes(routes_, context.ready ? context.ready : [] { return true; });
        add_echo_route(routes_);
        if (root_.empty()) {
            routes_.add_prefix("GET", "/", bundled_site);
        } else {
            try {
                routes_.add_prefix("GET", "/", http::static_files(root_));
            } catch (const std::exception& e) {
                throw start_failure(std::string("--root: ") + e.what(), 2);
            }
        }
        options_.access_log = context.access_log;
        // The router and the options are read-only once made, its handlers keep no state of their own (files are
        // opened per request; /metrics reads counters made to be read from any thread), and the access log takes
        // lines from any thread: every worker serves HTTP.
        const auto accept_into = [this](asynchat::service_stats* stats) {
            return [this, stats](asyncore::socket sock) {
                auto channel = asyncore::make<http::server_channel>(std::move(sock), routes_, options_, stats);
                use_tls(*channel, tls_);
            };
        };
        return {accept_into(&context.stats), busy_reply(context.server, http::over_capacity_response()),
                [accept_into](unsigned, asynchat::service_stats* stats) { return accept_into(stats); }};
    }

private:
    std::string root_;
    http::server_options options_; // the defaults are the library's
    tls_context tls_;
    http::router routes_;
};

} // namespace

std::unique_ptr<command_service> make_http_service() { return std::make_unique<http_service>(); }

} // namespace asynchat_cli
