#include "server_options.hpp"

#include <iostream>

namespace asynchat_cli {

namespace {

class listener final : public asyncore::dispatcher {
public:
    listener(const asyncore::address& where, std::function<void(asyncore::socket)> on_accept)
        : on_accept_(std::move(on_accept)) {
        create_socket(where.family());
        set_reuse_addr();
        bind(where);
        listen(1024);
    }
    void handle_accepted(asyncore::socket sock, asyncore::address) override { on_accept_(std::move(sock)); }

private:
    std::function<void(asyncore::socket)> on_accept_;
};

} // namespace

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
        ->check(CLI::IsMember(asyncore::backend_names()))
        ->capture_default_str();
}

int run_services(const std::string& backend, std::vector<service_spec> services,
                 std::function<void(std::size_t, const std::string&)> on_bound) {
    try {
        asyncore::exit_on_signals();
        std::vector<asyncore::ref<listener>> listeners;
        for (auto& s : services) {
            listeners.push_back(asyncore::make<listener>(asyncore::address::inet(s.host, s.port), std::move(s.on_accept)));
            const std::string where = listeners.back()->sock().getsockname().to_string();
            if (on_bound) on_bound(listeners.size() - 1, where);
            if (!s.name.empty()) std::cout << s.name << ' ';
            std::cout << "listening on " << where << std::endl;
        }
        asyncore::loop({.backend = backend});
    } catch (const asyncore::exit_now&) {
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "asynchat: " << e.what() << '\n';
        return 1;
    }
    return 0;
}

int run_server(const server_options& opts, std::function<void(asyncore::socket)> on_accept) {
    return run_services(opts.backend, {{"", opts.host, opts.port, std::move(on_accept)}});
}

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
