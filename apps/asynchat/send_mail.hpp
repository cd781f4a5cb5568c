#pragma once
// `asynchat send-mail --server HOST:PORT --from A --to B [--to C] < message`: sends the message read from stdin
// with asynchat::smtp::smtp_client. Exit status 0 when the server accepted it for every recipient, 1 otherwise
// (the server's reply, or what failed, on stderr), 2 on bad arguments.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace asynchat_cli {

struct send_mail_options {
    std::string server;
    std::string from;
    std::vector<std::string> to;
    std::string helo = "localhost";
    double timeout = 60;
    bool verbose = false;
    bool selected = false;
};

void add_send_mail_command(CLI::App& app, send_mail_options& opts);
int run_send_mail(const send_mail_options& opts);

} // namespace asynchat_cli
