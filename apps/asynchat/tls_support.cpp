#include "tls_support.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <CLI/CLI.hpp>

#ifdef ASYNCHAT_HAVE_TLS
#include <asynchat/tls.hpp>
#endif

namespace asynchat_cli {

std::string readable_file_error(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) return "'" + path + "' is a directory, not a file";
    std::ifstream in(path, std::ios::binary);
    if (!in) return "cannot read '" + path + "': " + std::strerror(errno);
    return {};
}

#ifdef ASYNCHAT_HAVE_TLS

bool tls_available() noexcept { return true; }

tls_context server_tls_context(const std::string& cert, const std::string& key, std::vector<std::string> alpn) {
    try {
        return asynchat::tls::context::server({.certificate_chain = cert, .private_key = key, .alpn = std::move(alpn)});
    } catch (const asynchat::tls::config_error& e) {
        // The message names the file; the option is the one a key problem (a bad key, or one that does not
        // match the certificate) or a certificate problem points at.
        const std::string why = e.what();
        throw CLI::ValidationError(why.find("private key") != std::string::npos ? "--tls-key" : "--tls-cert", why);
    }
}

tls_context client_tls_context(const std::string& ca_file, std::vector<std::string> alpn) {
    try {
        return asynchat::tls::context::client({.ca_file = ca_file, .verify_peer = true, .alpn = std::move(alpn)});
    } catch (const asynchat::tls::config_error& e) {
        throw CLI::ValidationError("--cacert", e.what());
    }
}

void use_tls(asynchat::async_chat& channel, const tls_context& ctx, const std::string& host_name) {
    if (ctx) asynchat::tls::use_tls(channel, ctx, host_name);
}

std::function<void(asynchat::async_chat&)> start_tls_callback(const tls_context& ctx, std::string host_name) {
    if (!ctx) return {};
    return [ctx, host_name = std::move(host_name)](asynchat::async_chat& channel) {
        asynchat::tls::start_tls(channel, ctx, host_name);
    };
}

#else

namespace {
[[noreturn]] void no_tls(const std::string& option) {
    throw CLI::ValidationError(option, "this asynchat was built without TLS (OpenSSL 3 was not found)");
}
} // namespace

bool tls_available() noexcept { return false; }
tls_context server_tls_context(const std::string&, const std::string&, std::vector<std::string>) { no_tls("--tls-cert"); }
tls_context client_tls_context(const std::string&, std::vector<std::string>) { no_tls("--cacert"); }
void use_tls(asynchat::async_chat&, const tls_context&, const std::string&) {}
std::function<void(asynchat::async_chat&)> start_tls_callback(const tls_context&, std::string) { return {}; }

#endif

} // namespace asynchat_cli
