#pragma once
// `asynchat serve smtp --maildir DIR`: the SMTP server of asynchat::smtp, delivering each accepted message as one
// file in a Maildir (protocols/smtp/include/asynchat/smtp/server.hpp). With --tls-cert/--tls-key it offers STARTTLS
// (RFC 3207), and --require-tls refuses mail before it.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <asynchat/smtp/server.hpp>

#include "server_options.hpp"

namespace asynchat_cli {

struct smtp_command_options {
    server_options server{.port = 8025};
    std::string maildir;
    asynchat::smtp::smtp_options smtp;
    double idle_timeout = 300;
    asynchat::smtp::maildir_options delivery;
    bool selected = false;
};

// Adds the SMTP service's own options (--maildir, --max-size, --idle-timeout, --hostname, --require-tls,
// --delivery-threads, --delivery-cpus, --delivery-nice) to cmd, with `prefix` before each name (serve all uses "smtp-"; --maildir
// keeps its plain name too). --maildir is required unless opts.maildir already holds a default. The parse callback
// must then call finish_smtp_options(opts).
void add_smtp_options(CLI::App& cmd, smtp_command_options& opts, const std::string& prefix = "");
// Applies what the options parsed to opts.smtp (the idle timeout's unit), and STARTTLS with tls when it is set
// (--require-tls without it throws CLI::ValidationError).
void finish_smtp_options(smtp_command_options& opts, const tls_context& tls);

// The service for one loop: a maildir_server (it opens the Maildir and starts the delivery threads) and the
// accept function that turns each accepted socket into an SMTP channel, for run_server or serve all's listener.
// Throws std::filesystem_error when the Maildir cannot be made.
struct smtp_service {
    std::unique_ptr<asynchat::smtp::maildir_server> server;
    std::function<void(asyncore::socket)> accept;
};
smtp_service make_smtp_service(const smtp_command_options& opts, asynchat::service_stats* stats = nullptr,
                               asyncore::socket_map* map = nullptr);

void add_smtp_command(CLI::App& serve, smtp_command_options& opts);
int run_smtp(const smtp_command_options& opts);

} // namespace asynchat_cli
