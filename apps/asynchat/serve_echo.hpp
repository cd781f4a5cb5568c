#pragma once
#include <cstddef>
#include <string>

#include <asynchat/async_chat.hpp>
#include <asynchat/service_stats.hpp>

#include "server_options.hpp"

namespace asynchat_cli {

struct echo_options {
    enum class framing { delimiter, count, raw, length_prefix };
    server_options server;
    framing mode = framing::delimiter;
    std::string delimiter_text = "\\r\\n";
    std::string delimiter;
    std::size_t count = 0;
    std::size_t length_prefix = 0; // header bytes of --length-prefix: 1, 2, 4 or 8 (big-endian)
    std::size_t max_message = 1 << 20;
    double idle_timeout = 300; // seconds without a byte either way before a connection is closed; 0: never
    bool discard_long = false;   // --discard-long: a message over max_message is dropped, the connection kept
    // Output backpressure (async_chat's watermarks): above high queued bytes the connection is not read until
    // its queue is back to low. 0 for high turns it off.
    std::size_t output_high = asynchat::async_chat::default_output_high_watermark;
    std::size_t output_low = asynchat::async_chat::default_output_low_watermark;
    bool raw = false;
    bool selected = false;
};

void add_echo_command(CLI::App& serve, echo_options& opts);
// --idle-timeout, with `prefix` before the name (serve all uses "echo-").
void add_echo_idle_option(CLI::App& cmd, echo_options& opts, const std::string& prefix = "");
int run_echo(const echo_options& opts);
// The channel of one echo connection, counting into stats when given (serve all), speaking TLS from the first
// byte when tls is set.
void accept_echo(asyncore::socket sock, const echo_options& opts, asynchat::service_stats* stats = nullptr,
                 const tls_context& tls = {});

} // namespace asynchat_cli
