#include "server_options.hpp"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <sstream>


namespace asynchat_cli {

const CLI::Validator at_least_one(
    [](std::string& text) {
        try {
            std::size_t used = 0;
            if (std::stoll(text, &used) >= 1 && used == text.size()) return std::string();
        } catch (const std::exception&) {
        }
        return "must be a whole number of at least 1, not " + text;
    },
    "N>=1");

const CLI::Validator timeout_seconds(
    [](std::string& text) {
        try {
            std::size_t used = 0;
            if (std::stod(text, &used) >= 0 && used == text.size()) return std::string();
        } catch (const std::exception&) {
        }
        return "must be a number of seconds, 0 or more, not " + text;
    },
    "SECONDS");

CLI::Validator backend_name() {
    const auto names = asyncore::backend_names();
    std::string listed;
    for (const auto& n : names) listed += (listed.empty() ? "" : ",") + n;
    return CLI::Validator(
        [names](std::string& name) {
            if (std::find(names.begin(), names.end(), name) != names.end()) return std::string();
            // Not listed: make_poller says why ("unknown backend ... (known: ...)", or "io_uring unavailable: ...").
            try {
                asyncore::make_poller(name);
            } catch (const std::exception& e) {
                return std::string(e.what());
            }
            return "asyncore: unknown backend '" + name + "'";
        },
        "{" + listed + "}");
}

CLI::Option* add_seconds_option(CLI::App& cmd, const std::string& name, std::chrono::duration<double>& target,
                                const std::string& help) {
    std::ostringstream shown;
    shown << target.count();
    return cmd
        .add_option_function<double>(
            name, [&target](double seconds) { target = std::chrono::duration<double>(seconds); }, help)
        ->check(timeout_seconds)
        ->default_str(shown.str());
}

void add_server_options(CLI::App& cmd, server_options& opts, bool with_port) {
    // Resolved while parsing, so that a host that cannot be used is a bad argument (exit 2), not a failed start.
    cmd.add_option("--host", opts.host, "address to listen on")
        ->check(CLI::Validator(
            [](std::string& host) {
                try {
                    asyncore::address::inet(host, 0);
                    return std::string();
                } catch (const std::exception& e) {
                    return std::string("cannot listen on '") + host + "': " + e.what();
                }
            },
            "HOST"))
        ->capture_default_str();
    if (with_port) cmd.add_option("--port", opts.port, "port to listen on (0: any free port)")->capture_default_str();
    cmd.add_option("--backend", opts.backend, "event loop backend")
        ->check(backend_name())
        ->capture_default_str();
    cmd.add_option("--max-connections", opts.max_connections,
                   "open connections per service; one more gets a short busy reply and is closed")
        ->check(at_least_one)
        ->capture_default_str();
    cmd.add_option("--shutdown-timeout", opts.shutdown_timeout,
                   "seconds after SIGTERM/SIGINT for connections to finish before they are cut off")
        ->check(timeout_seconds)
        ->capture_default_str();
    cmd.add_option("--drain-delay", opts.drain_delay,
                   "seconds after SIGTERM/SIGINT to go on listening and serving while /readyz answers 503, so that a "
                   "load balancer takes this instance out before it refuses connections; then the drain")
        ->check(timeout_seconds)
        ->capture_default_str();
    cmd.add_option_function<std::string>(
           "--workers",
           [&opts](const std::string& text) {
               opts.workers = text == "auto" ? asynchat::available_cpus() : static_cast<unsigned>(std::stoul(text));
           },
           "event loops, one per thread, each service served by all of them (one chat room across them); "
           "auto: one per CPU this process may run on")
        ->envname("ASYNCHAT_WORKERS")
        ->check(CLI::Validator(
            [](std::string& text) {
                if (text == "auto") return std::string();
                try {
                    std::size_t used = 0;
                    const long n = std::stol(text, &used);
                    if (used == text.size() && n >= 1 && n <= 256) return std::string();
                } catch (const std::exception&) {
                }
                return "must be auto or a whole number from 1 to 256, not " + text;
            },
            "N|auto"))
        ->default_str("1");
    cmd.add_option("--access-log", opts.access_log,
                   "append a line per HTTP response (combined log format) and per delivered SMTP message to FILE "
                   "('-': standard output); reopened on SIGHUP, for logrotate")
        ->type_name("FILE|-");
    cmd.add_flag("--proxy-protocol", opts.proxy.enabled,
                 "expect a PROXY protocol header (v1 or v2, as HAProxy's send-proxy[-v2] sends) on every connection; "
                 "one without a valid header is closed");
    add_seconds_option(cmd, "--proxy-header-timeout", opts.proxy.header_timeout,
                       "seconds a connection may take to send its whole PROXY header (0: no limit)");
    const CLI::Validator readable([](std::string& path) { return readable_file_error(path); }, "FILE");
    auto* cert = cmd.add_option("--tls-cert", opts.tls_cert,
                                "TLS certificate chain (PEM, leaf first); with --tls-key the service speaks TLS "
                                "(SMTP: offers STARTTLS)")
                     ->check(readable);
    auto* key = cmd.add_option("--tls-key", opts.tls_key, "the private key of --tls-cert (PEM)")->check(readable);
    cert->needs(key);
    key->needs(cert);
}

void finish_server_tls(server_options& opts, std::vector<std::string> alpn) {
    opts.tls = opts.tls_cert.empty() ? nullptr : server_tls_context(opts.tls_cert, opts.tls_key, std::move(alpn));
}

std::string busy_reply(const server_options& opts, std::string reply) { return opts.tls ? std::string() : reply; }

std::string unescape(const std::string& text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '\\') {
            out += text[i];
            continue;
        }
        if (++i == text.size()) throw CLI::ValidationError("--terminator", "ends with a lone backslash");
        switch (text[i]) {
        case 'r': out += '\r'; break;
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case '\\': out += '\\'; break;
        case 'x': {
            auto hex = [](char c) {
                return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                      : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            };
            if (i + 2 >= text.size() || hex(text[i + 1]) < 0 || hex(text[i + 2]) < 0)
                throw CLI::ValidationError("--terminator", "\\x needs two hex digits");
            out += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
            i += 2;
            break;
        }
        default: throw CLI::ValidationError("--terminator", std::string("unknown escape \\") + text[i]);
        }
    }
    return out;
}

} // namespace asynchat_cli
