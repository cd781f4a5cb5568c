#include "serve_smtp.hpp"

#include <chrono>
#include <iostream>

#include <asyncore/socket_map.hpp>

namespace asynchat_cli {

void add_smtp_options(CLI::App& cmd, smtp_command_options& opts, const std::string& prefix) {
    // --maildir keeps its plain name under a prefix too (serve all's --maildir), as the one option a user must know.
    auto* maildir = cmd.add_option(prefix.empty() ? "--maildir" : "--maildir,--" + prefix + "maildir", opts.maildir,
                                   "the Maildir each accepted message is delivered to (DIR/tmp, DIR/new, DIR/cur made "
                                   "as needed)");
    if (opts.maildir.empty()) maildir->required();
    else maildir->capture_default_str();
    cmd.add_option("--" + prefix + "max-size", opts.smtp.max_size,
                   "largest message in bytes: a bigger SIZE= is refused at MAIL, a bigger body after DATA (552)")
        ->check(at_least_one)
        ->capture_default_str();
    cmd.add_option("--" + prefix + "idle-timeout", opts.idle_timeout,
                   "seconds of silence before a client gets 421 and is closed (0: never)")
        ->check(timeout_seconds)
        ->capture_default_str();
    cmd.add_option("--" + prefix + "hostname", opts.smtp.hostname, "the name in the greeting and the EHLO reply")
        ->capture_default_str();
    cmd.add_flag("--" + prefix + "require-tls", opts.smtp.require_tls,
                 "refuse MAIL, RCPT and DATA before STARTTLS (530); needs --tls-cert and --tls-key");
    cmd.add_option("--" + prefix + "delivery-threads", opts.delivery.workers,
                   "threads writing and fsyncing messages (the loop never waits for a disk)")
        ->check(CLI::Range(1u, 256u))
        ->capture_default_str();
    cmd.add_option("--" + prefix + "delivery-cpus", opts.delivery.cpus,
                   "CPUs the delivery threads run on, e.g. 1,2 (default: the process's); keeps the kernel's fsync "
                   "work off the loop's core")
        ->delimiter(',')
        ->check(CLI::Range(0, 1023));
    cmd.add_option("--" + prefix + "delivery-nice", opts.delivery.nice,
                   "how much nicer than the loop thread the delivery threads run (0-19; 0: the same priority)")
        ->check(CLI::Range(0, 19))
        ->capture_default_str();
}

void finish_smtp_options(smtp_command_options& opts, const tls_context& tls) {
    opts.smtp.idle_timeout = std::chrono::duration<double>(opts.idle_timeout);
    // RFC 3207: STARTTLS on the plaintext port, with the same certificate as every other service.
    opts.smtp.start_tls = start_tls_callback(tls);
    if (opts.smtp.require_tls && !tls) throw CLI::ValidationError("--require-tls", "needs --tls-cert and --tls-key");
}

smtp_service make_smtp_service(const smtp_command_options& opts, asynchat::service_stats* stats,
                               asyncore::socket_map* map) {
    asyncore::socket_map& loop_map = map ? *map : asyncore::socket_map::default_map();
    smtp_service service;
    service.server = std::make_unique<asynchat::smtp::maildir_server>(opts.maildir, loop_map, opts.smtp, stats,
                                                                      opts.delivery);
    auto* server = service.server.get();
    service.accept = [server, map](asyncore::socket sock) { server->accept(std::move(sock), map); };
    return service;
}

void add_smtp_command(CLI::App& serve, smtp_command_options& opts) {
    auto* smtp = serve.add_subcommand("smtp", "an SMTP server delivering every message into a Maildir");
    add_server_options(*smtp, opts.server);
    add_smtp_options(*smtp, opts);
    smtp->callback([&opts] {
        finish_server_tls(opts.server);
        finish_smtp_options(opts, opts.server.tls);
        opts.selected = true;
    });
}

int run_smtp(const smtp_command_options& opts) {
    asynchat::service_stats stats; // connections_open is what --max-connections is checked against
    smtp_service service;
    try {
        service = make_smtp_service(opts, &stats);
    } catch (const std::exception& e) {
        std::cerr << "asynchat: " << e.what() << '\n';
        return 1;
    }
    const int status = run_server(opts.server, service.accept, &stats, asynchat::smtp::over_capacity_reply(opts.smtp.hostname));
    // The channels go before the server they refer to.
    asyncore::close_all();
    return status;
}

} // namespace asynchat_cli
