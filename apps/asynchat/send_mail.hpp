#pragma once
// `asynchat send-mail --server HOST:PORT --from A --to B [--to C] < message`: sends the message read from stdin
// with asynchat::smtp::smtp_client. With --starttls the conversation goes over TLS before MAIL (RFC 3207), the
// server's certificate verified against --cacert (or the system store) and the host of --server; a server that
// does not offer STARTTLS, or fails verification, is an error. Exit status 0 when the server accepted the message
// for every recipient, 1 otherwise (the server's reply, or what failed, on stderr), 2 on bad arguments.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "tls_support.hpp"

namespace asynchat_cli {

struct send_mail_options {
    std::string server;
    std::string from;
    std::vector<std::string> to;
    std::string helo = "localhost";
    double timeout = 60;
    bool verbose = false;
    bool starttls = false;
    std::string cacert;
    tls_context tls;   // --starttls: made while parsing
    bool selected = false;
};

void add_send_mail_command(CLI::App& app, send_mail_options& opts);
int run_send_mail(const send_mail_options& opts);

} // namespace asynchat_cli
