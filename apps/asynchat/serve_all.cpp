#include "serve_all.hpp"

#include <array>
#include <filesystem>

#include <asyncore/socket_map.hpp>

#include "embedded_files.hpp"
#include "metrics.hpp"

namespace asynchat_cli {

namespace http = asynchat::http;

namespace {

std::string content_type_of(std::string_view path) {
    const auto dot = path.rfind('.');
    const std::string_view ext = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    if (ext == "html") return "text/html; charset=utf-8";
    if (ext == "css") return "text/css; charset=utf-8";
    if (ext == "js") return "text/javascript; charset=utf-8";
    if (ext == "svg") return "image/svg+xml";
    return "application/octet-stream";
}

// The bundled site, from the program's own bytes: "/" is /index.html.
http::response bundled_site(const http::request& req) {
    const std::string_view path = req.path == "/" ? std::string_view("/index.html") : std::string_view(req.path);
    for (const auto& f : embedded_files()) {
        if (f.path != path) continue;
        auto r = http::response::text(200, std::string(f.bytes), content_type_of(path));
        r.headers.emplace_back("Cache-Control", "no-cache");
        return r;
    }
    return http::response::text(404, "not found\n");
}

} // namespace

void add_all_command(CLI::App& serve, all_options& opts) {
    auto* all = serve.add_subcommand("all", "echo, chat and HTTP (with /metrics and /status) in one loop");
    all->add_option("--host", opts.host, "address every service listens on")->capture_default_str();
    all->add_option("--backend", opts.backend, "event loop backend")
        ->check(CLI::IsMember(asyncore::backend_names()))
        ->capture_default_str();
    all->add_option("--echo-port", opts.echo_port, "echo port (0: any free port)")->capture_default_str();
    all->add_option("--chat-port", opts.chat_port, "chat port (0: any free port)")->capture_default_str();
    all->add_option("--http-port", opts.http_port, "HTTP port (0: any free port)")->capture_default_str();
    all->add_option("--root", opts.root, "serve files from DIR instead of the bundled site")
        ->check(CLI::ExistingDirectory);
    add_chat_room_options(*all, opts.chat, "chat-");
    all->add_option("--max-body", opts.http.max_body, "largest HTTP request body in bytes (413 past it)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    all->add_option("--idle-timeout", opts.http_idle_timeout,
                    "seconds before an idle HTTP or chat connection is closed (0: never)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    all->callback([&opts] {
        // Echo every line exactly as sent: LF ends a line, so a CRLF client gets its CR back too (nc-friendly).
        opts.echo.delimiter = "\n";
        opts.http.idle_timeout = std::chrono::duration<double>(opts.http_idle_timeout);
        opts.chat.room.idle_timeout = opts.http.idle_timeout;
        opts.selected = true;
    });
}

int run_all(all_options& opts) {
    asynchat::service_stats echo_stats, chat_stats, http_stats;
    asynchat::line::chat_room room(opts.chat.room, &chat_stats);
    std::array<std::string, 3> addresses; // filled in as the listeners bind (port 0 picks one)
    auto& map = asyncore::socket_map::default_map();

    http::router router;
    const auto figures = [&] {
        return std::array<service_figures, 3>{{{"echo", addresses[0], &echo_stats},
                                               {"chat", addresses[1], &chat_stats},
                                               {"http", addresses[2], &http_stats}}};
    };
    const auto loop = [&] { return loop_figures{map.backend(), map.passes(), map.size()}; };
    for (const char* method : {"GET", "HEAD"}) {
        router.add(method, "/metrics", [&](const http::request&) {
            return http::response::text(200, prometheus_text(figures(), loop()), "text/plain; version=0.0.4; charset=utf-8");
        });
        router.add(method, "/status", [&](const http::request&) {
            return http::response::text(200, status_html(figures(), loop()), "text/html; charset=utf-8");
        });
        if (opts.root.empty()) router.add_prefix(method, "/", bundled_site);
        else router.add_prefix(method, "/", http::static_files(opts.root));
    }
    router.add("POST", "/echo", [](const http::request& req) {
        return http::response::text(200, req.body, "application/octet-stream");
    });

    std::vector<service_spec> services;
    services.push_back({"echo", opts.host, opts.echo_port,
                        [&](asyncore::socket s) { accept_echo(std::move(s), opts.echo, &echo_stats); }});
    services.push_back({"chat", opts.host, opts.chat_port, [&](asyncore::socket s) { room.join(std::move(s)); }});
    services.push_back({"http", opts.host, opts.http_port, [&](asyncore::socket s) {
                            asyncore::make<http::server_channel>(std::move(s), router, opts.http, &http_stats);
                        }});
    return run_services(opts.backend, std::move(services), [&](std::size_t i, const std::string& where) {
        addresses[i] = where;
    });
}

} // namespace asynchat_cli
