#pragma once
// `asynchat get URL`: fetches an http:// URL with asynchat::http::client and writes the body to stdout. Exit
// status: 0 on a 2xx response received whole; 1 on any other status, a body cut short (Content-Length not
// reached), a refused or failed connection (the status line or the error on stderr); 2 on a bad URL.
#include <string>

#include <CLI/CLI.hpp>

#include <asyncore/asyncore.hpp>

namespace asynchat_cli {

struct get_options {
    std::string url;
    std::string backend{asyncore::default_backend()};
    bool head = false;
    double timeout = 30;
    bool selected = false;
};

void add_get_command(CLI::App& app, get_options& opts);
int run_get(const get_options& opts);

} // namespace asynchat_cli
