#pragma once
// `asynchat get URL`: fetches an http:// or https:// URL with asynchat::http::client and writes the body to
// stdout. HTTPS verifies the server's chain (against --cacert, or the system store) and that its certificate
// names the URL's host. Exit status: 0 on a 2xx response received whole; 1 on any other status, a body cut short
// (Content-Length not reached), a refused or failed connection, a failed verification or handshake (the status
// line or the reason on stderr, one line); 2 on a bad URL or an unusable --cacert.
#include <string>

#include <CLI/CLI.hpp>

#include <asyncore/asyncore.hpp>

#include "tls_support.hpp"

namespace asynchat_cli {

struct get_options {
    std::string url;
    std::string backend{asyncore::default_backend()};
    bool head = false;
    double timeout = 30;
    std::string cacert; // --cacert: the CA bundle an https:// server is verified against; empty: the system store
    tls_context tls;    // made for an https:// URL while parsing
    bool selected = false;
};

void add_get_command(CLI::App& app, get_options& opts);
int run_get(const get_options& opts);

} // namespace asynchat_cli
