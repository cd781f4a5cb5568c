#pragma once
// The command's one place of contact with the TLS layer (asynchat::tls, tls/include/asynchat/tls.hpp): the
// contexts the options ask for, and the callbacks the protocols take (they do not link the layer themselves).
// Built without the layer (no OpenSSL), the TLS options are bad arguments saying so.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <asynchat/async_chat.hpp>

namespace asynchat::tls {
class context;
}

namespace asynchat_cli {

using tls_context = std::shared_ptr<asynchat::tls::context>;

// True when this asynchat was built with the TLS layer.
bool tls_available() noexcept;

// A server context from --tls-cert / --tls-key (PEM), offering `alpn`. A file that cannot be used, or a key that
// does not match the certificate, throws CLI::ValidationError naming the option (exit 2 with one line).
tls_context server_tls_context(const std::string& cert, const std::string& key, std::vector<std::string> alpn = {});
// A client context verifying the peer's chain against ca_file (empty: the system store) and its host name.
// Throws CLI::ValidationError naming --cacert when the file cannot be used.
tls_context client_tls_context(const std::string& ca_file, std::vector<std::string> alpn = {});

// Implicit TLS on a channel just accepted (or about to connect, with the host its certificate must name); nothing
// when ctx is null.
void use_tls(asynchat::async_chat& channel, const tls_context& ctx, const std::string& host_name = {});
// What a STARTTLS protocol takes (smtp_options::start_tls, smtp_client::start_tls): asynchat::tls::start_tls with
// ctx (and, for a client, the server's name). An empty function when ctx is null.
std::function<void(asynchat::async_chat&)> start_tls_callback(const tls_context& ctx, std::string host_name = {});

// A readable regular file: the check of every option naming a certificate, key or CA file.
std::string readable_file_error(const std::string& path);

} // namespace asynchat_cli
