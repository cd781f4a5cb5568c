#include "get.hpp"

#include "server_options.hpp"

#include <cstdio>
#include <iostream>

#include <asynchat/http/client.hpp>

namespace asynchat_cli {

void add_get_command(CLI::App& app, get_options& opts) {
    auto* get = app.add_subcommand("get", "fetch an http:// or https:// URL; the body goes to stdout");
    get->add_option("URL", opts.url, "http://host[:port]/path or https://host[:port]/path")
        ->required()
        ->check(CLI::Validator(
            [](std::string& text) {
                try {
                    asynchat::http::parse_url(text);
                    return std::string();
                } catch (const asynchat::http::url_error& e) {
                    return std::string(e.what());
                }
            },
            "URL"));
    get->add_option("--backend", opts.backend, "event loop backend")
        ->check(backend_name())
        ->capture_default_str();
    get->add_flag("--head", opts.head, "send HEAD instead of GET (no body)");
    get->add_option("--timeout", opts.timeout, "seconds without traffic before giving up (0: never)")
        ->check(timeout_seconds)
        ->capture_default_str();
    get->add_option("--cacert", opts.cacert,
                    "CA certificates (PEM) to verify an https:// server against (default: the system store)")
        ->check(CLI::Validator([](std::string& path) { return readable_file_error(path); }, "FILE"));
    get->callback([&opts] {
        if (asynchat::http::parse_url(opts.url).tls) opts.tls = client_tls_context(opts.cacert, {"http/1.1"});
        opts.selected = true;
    });
}

int run_get(const get_options& opts) {
    int status = 1;
    try {
        const auto where = asynchat::http::parse_url(opts.url);
        asynchat::http::client_options options;
        options.method = opts.head ? "HEAD" : "GET";
        options.timeout = std::chrono::duration<double>(opts.timeout);
        // The certificate must name the host as the URL gives it (a name, or an IP address).
        if (where.tls) options.use_tls = [&](asynchat::async_chat& c) { use_tls(c, opts.tls, where.host); };
        auto c = asyncore::make<asynchat::http::client>(where, options);
        c->on_body = [](std::string_view bytes) { std::fwrite(bytes.data(), 1, bytes.size(), stdout); };
        c->on_done = [&status](const asynchat::http::response_result& r) {
            std::fflush(stdout);
            if (!r.complete) {
                if (r.status != 0)
                    std::cerr << "asynchat: get: HTTP " << r.status << ' ' << r.reason << ": " << r.error << '\n';
                else
                    std::cerr << "asynchat: get: " << r.error << '\n';
                status = 1;
                return;
            }
            if (r.status < 200 || r.status > 299) {
                std::cerr << "asynchat: get: HTTP " << r.status << ' ' << r.reason << '\n';
                status = 1;
                return;
            }
            status = 0;
        };
        asyncore::loop({.backend = opts.backend});
    } catch (const asynchat::http::url_error& e) {
        std::cerr << "asynchat: get: " << e.what() << '\n';
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "asynchat: get: " << e.what() << '\n';
        return 1;
    }
    if (std::ferror(stdout)) return 1;
    return status;
}

} // namespace asynchat_cli
