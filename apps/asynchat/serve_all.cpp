#include "serve_all.hpp"

#include <array>
#include <chrono>
#include <filesystem>
#include <iostream>

#include <asyncore/socket_map.hpp>

#include "embedded_files.hpp"
#include "metrics.hpp"

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

} // namespace

void add_all_command(CLI::App& serve, all_options& opts) {
    auto* all = serve.add_subcommand("all", "echo, chat, HTTP (with /metrics and /status) and SMTP in one loop");
    add_server_options(*all, opts.server, false);
    all->add_option("--echo-port", opts.echo_port, "echo port (0: any free port)")->capture_default_str();
    all->add_option("--chat-port", opts.chat_port, "chat port (0: any free port)")->capture_default_str();
    all->add_option("--http-port", opts.http_port, "HTTP port (0: any free port)")->capture_default_str();
    all->add_option("--smtp-port", opts.smtp_port, "SMTP port (0: any free port)")->capture_default_str();
    all->add_option("--root", opts.http.root, "serve files from DIR instead of the bundled site")
        ->check(CLI::ExistingDirectory);
    add_chat_room_options(*all, opts.chat, "chat-");
    add_http_limit_options(*all, opts.http); // --idle-timeout is HTTP's; the chat room has --chat-idle-timeout
    add_echo_idle_option(*all, opts.echo, "echo-");
    opts.smtp.maildir = "./maildir";
    add_smtp_options(*all, opts.smtp, "smtp-");
    all->callback([&opts] {
        // Echo every line exactly as sent: LF ends a line, so a CRLF client gets its CR back too (nc-friendly).
        opts.echo.echo.delimiter = "\n";
        finish_http_options(opts.http);
        // One certificate for every service: echo, chat and HTTP speak TLS from the first byte (HTTP offering
        // ALPN http/1.1), SMTP offers STARTTLS.
        finish_server_tls(opts.server);
        if (opts.server.tls) opts.http_tls = server_tls_context(opts.server.tls_cert, opts.server.tls_key, http_alpn());
        finish_smtp_options(opts.smtp, opts.server.tls);
        opts.chat.room.idle_timeout = std::chrono::duration<double>(opts.chat.idle_timeout);
        opts.selected = true;
    });
}

int run_all(all_options& opts) {
    asynchat::service_stats echo_stats, chat_stats, http_stats, smtp_stats;
    asynchat::line::chat_room room(opts.chat.room, &chat_stats);
    smtp_service smtp;
    try {
        smtp = make_smtp_service(opts.smtp, &smtp_stats);
    } catch (const std::exception& e) {
        std::cerr << "asynchat: --maildir: " << e.what() << '\n';
        return 1;
    }
    std::array<std::string, 4> addresses; // filled in as the listeners bind (port 0 picks one)
    auto& map = asyncore::socket_map::default_map();

    http::router router;
    const auto figures = [&] {
        return std::array<service_figures, 4>{{{"echo", addresses[0], &echo_stats},
                                               {"chat", addresses[1], &chat_stats},
                                               {"http", addresses[2], &http_stats},
                                               {"smtp", addresses[3], &smtp_stats}}};
    };
    const auto loop = [&] { return loop_figures{map.backend(), map.passes(), map.size()}; };
    // GET routes answer HEAD too (the channel drops the body).
    router.add("GET", "/metrics", [&](const http::request&) {
        return http::response::text(200, prometheus_text(figures(), loop()), "text/plain; version=0.0.4; charset=utf-8");
    });
    router.add("GET", "/status", [&](const http::request&) {
        return http::response::text(200, status_html(figures(), loop()), "text/html; charset=utf-8");
    });
    if (opts.http.root.empty()) {
        add_echo_route(router);
        router.add_prefix("GET", "/", bundled_site);
    } else {
        add_http_routes(router, opts.http.root);
    }

    std::vector<service_spec> services;
    services.push_back({"echo", opts.server.host, opts.echo_port,
                        [&](asyncore::socket s) { accept_echo(std::move(s), opts.echo.echo, &echo_stats, opts.server.tls); },
                        &echo_stats, ""});
    services.push_back({"chat", opts.server.host, opts.chat_port,
                        [&](asyncore::socket s) { join_chat(room, std::move(s), opts.server.tls); }, &chat_stats,
                        busy_reply(opts.server, std::string(asynchat::line::over_capacity_reply()))});
    services.push_back({"http", opts.server.host, opts.http_port,
                        [&](asyncore::socket s) { accept_http(std::move(s), router, opts.http.http, &http_stats, opts.http_tls); },
                        &http_stats, busy_reply(opts.server, http::over_capacity_response())});
    services.push_back(
        {"smtp", opts.server.host, opts.smtp_port, smtp.accept, &smtp_stats, asynchat::smtp::over_capacity_reply(opts.smtp.smtp.hostname)});
    std::cout << "smtp delivers to " << std::filesystem::absolute(opts.smtp.maildir).lexically_normal().string() << std::endl;
    const int status = run_services(opts.server, std::move(services), [&](std::size_t i, const std::string& where) {
        addresses[i] = where;
    });
    // The channels refer to the room, the router, the SMTP server and the figures of this frame: they go first.
    asyncore::close_all();
    return status;
}

} // namespace asynchat_cli
