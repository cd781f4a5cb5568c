#include "serve.hpp"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <iostream>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>

#include <asyncore/signals.hpp>
#include <asyncore/socket_map.hpp>
#include <asynchat/access_log.hpp>
#include <asynchat/serve.hpp>
#include <asynchat/systemd.hpp>

#include "metrics.hpp"

namespace asynchat_cli {

serve_commands::serve_commands(CLI::App& serve, std::vector<std::unique_ptr<command_service>> table)
    : table_(std::move(table)), alone_(table_.size()), all_ports_(table_.size()) {
    for (std::size_t i = 0; i < table_.size(); ++i) {
        command_service& service = *table_[i];
        auto* cmd = serve.add_subcommand(std::string(service.name()), std::string(service.summary()));
        alone_[i].port = service.default_port(serve_mode::alone);
        add_server_options(*cmd, alone_[i]);
        service.add_options(*cmd, serve_mode::alone);
        cmd->callback([this, i] {
            finish_server_tls(alone_[i]);
            table_[i]->finish(alone_[i], serve_mode::alone);
            selected_ = i;
        });
    }
    std::string names;
    for (const auto& s : table_) names += (names.empty() ? "" : ", ") + std::string(s->name());
    auto* cmd = serve.add_subcommand("all", names + " in one loop (HTTP with /metrics and /status)");
    add_server_options(*cmd, all_, false);
    for (std::size_t i = 0; i < table_.size(); ++i) {
        const std::string name(table_[i]->name());
        all_ports_[i] = table_[i]->default_port(serve_mode::all);
        cmd->add_option("--" + name + "-port", all_ports_[i], name + " port (0: any free port)")->capture_default_str();
    }
    for (auto& s : table_) s->add_options(*cmd, serve_mode::all);
    cmd->callback([this] {
        // One certificate for every service: those that speak TLS from the first byte use it (HTTP offering ALPN
        // http/1.1), SMTP offers STARTTLS with it.
        finish_server_tls(all_);
        for (auto& s : table_) s->finish(all_, serve_mode::all);
        selected_ = all;
    });
}

int serve_commands::run() {
    if (selected_ == all) {
        std::vector<command_service*> services;
        for (auto& s : table_) services.push_back(s.get());
        return run_services(all_, std::move(services), serve_mode::all, all_ports_);
    }
    return run_services(alone_[selected_], {table_[selected_].get()}, serve_mode::alone, {alone_[selected_].port});
}

int serve_commands::run_services(const server_options& server, std::vector<command_service*> services,
                                 serve_mode mode, std::vector<std::uint16_t> ports) {
    const unsigned workers = std::max(1u, server.workers);
    // Each service's figures, one per worker (each written by its worker's loop only; asyncore::counter, so the
    // /metrics of any worker reads them all).
    std::vector<std::vector<asynchat::service_stats>> stats(services.size(),
                                                            std::vector<asynchat::service_stats>(workers));
    std::vector<std::string> addresses(services.size()); // filled in as the listeners bind (port 0 picks one)
    std::mutex addresses_mutex;                          // written by worker 0, read by any worker's /metrics
    std::vector<char> on_every_worker(services.size(), 0); // else worker 0 alone serves it (chat, SMTP)
    auto& map = asyncore::socket_map::default_map();
    const auto figures = [&] {
        std::vector<service_figures> f;
        std::lock_guard lock(addresses_mutex);
        for (std::size_t i = 0; i < services.size(); ++i)
            f.push_back({services[i]->name(), addresses[i],
                         std::span<const asynchat::service_stats>(stats[i]).first(on_every_worker[i] ? workers : 1)});
        return f;
    };
    // The loop of the worker answering (its thread's map): the figures of another thread's map are not for reading.
    const auto loop = [] {
        auto& here = asyncore::socket_map::default_map();
        return loop_figures{here.backend(), here.passes(), here.size()};
    };
    std::vector<asynchat::service> listening;
    std::atomic<bool> draining{false}; // set at the signal: /readyz answers 503 from then on
    // Opened before any service starts, so that a path that cannot be written is a bad start, not lost lines.
    std::optional<asynchat::access_log> access_log;
    asyncore::ref<asyncore::dispatcher> reopen_on_hangup;
    if (!server.access_log.empty()) {
        try {
            access_log.emplace(server.access_log);
        } catch (const std::exception& e) {
            std::cerr << "asynchat: --access-log: " << e.what() << '\n';
            return 2;
        }
        // logrotate renames the file and sends SIGHUP: the lines pending go to the old file, then a new one opens.
        reopen_on_hangup = asyncore::on_signals({SIGHUP}, [&access_log] { access_log->reopen(); }, &map);
    }
    try {
        for (std::size_t i = 0; i < services.size(); ++i) {
            serve_context context{mode, server, stats[i][0], {}, [&draining] { return !draining.load(); },
                                  access_log ? &*access_log : nullptr};
            if (mode == serve_mode::all)
                context.status_routes = [&](asynchat::http::router& routes) {
                    namespace http = asynchat::http;
                    // GET routes answer HEAD too (the channel drops the body).
                    routes.add("GET", "/metrics", [&](const http::request&) {
                        return http::response::text(200, prometheus_text(figures(), loop()),
                                                    "text/plain; version=0.0.4; charset=utf-8");
                    });
                    routes.add("GET", "/status", [&](const http::request&) {
                        return http::response::text(200, status_html(figures(), loop()), "text/html; charset=utf-8");
                    });
                };
            started_service started = services[i]->start(context);
            on_every_worker[i] = workers > 1 && started.accept_for_worker != nullptr;
            listening.push_back({.name = mode == serve_mode::all ? std::string(services[i]->name()) : std::string(),
                                 .where = asyncore::address::inet(server.host, ports[i]),
                                 .accept = std::move(started.accept),
                                 .accept_for_worker = std::move(started.accept_for_worker),
                                 .stats = stats[i].data(),
                                 .max_connections = server.max_connections,
                                 .over_capacity_reply = std::move(started.over_capacity_reply),
                                 .proxy = server.proxy});
        }
        // Started by systemd with sockets of its own (a .socket unit, systemd-socket-activate): those are used
        // instead of binding, each by the service its FileDescriptorName= names (docs/deploy.md).
        asynchat::systemd::use_passed_sockets(listening, asynchat::systemd::take_listen_fds());
    } catch (const start_failure& e) {
        std::cerr << "asynchat: " << e.what() << '\n';
        asyncore::close_all();
        return e.status;
    } catch (const std::invalid_argument& e) {
        std::cerr << "asynchat: " << e.what() << '\n';
        asyncore::close_all();
        return 2;
    }
    int status = 0;
    try {
        asynchat::serve(std::move(listening),
                        {.backend = server.backend,
                         .shutdown_timeout = std::chrono::duration<double>(server.shutdown_timeout),
                         .drain_delay = std::chrono::duration<double>(server.drain_delay),
                         .on_stop = [&draining] { draining = true; },
                         .map = nullptr,
                         .workers = workers,
                         .on_listening = [&](const asynchat::service& s, std::size_t i, const std::string& where) {
                             {
                                 std::lock_guard lock(addresses_mutex);
                                 addresses[i] = where;
                             }
                             asynchat::print_listening(s, i, where);
                         }});
    } catch (const std::exception& e) {
        std::cerr << "asynchat: " << e.what() << '\n';
        status = 1;
    }
    // The channels refer to what the services made (a room, a router, an SMTP server) and to the figures of this
    // frame: they go first.
    if (reopen_on_hangup) reopen_on_hangup->close();
    asyncore::close_all();
    return status;
}

} // namespace asynchat_cli
