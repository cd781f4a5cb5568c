// `asynchat serve echo`: the echo service of asynchat::echo (protocols/echo/include/asynchat/echo/server.hpp) behind
// the command's listener: --terminator, --count, --raw or --length-prefix choose the framing.
#include "serve_echo.hpp"

#include <asynchat/echo/server.hpp>

namespace asynchat_cli {

void add_echo_idle_option(CLI::App& cmd, echo_command_options& opts, const std::string& prefix) {
    add_seconds_option(cmd, "--" + prefix + "idle-timeout", opts.echo.idle_timeout,
                       "seconds without traffic before an echo connection is closed (0: never)");
}

void add_echo_command(CLI::App& serve, echo_command_options& opts) {
    auto* echo = serve.add_subcommand("echo", "echo every message back");
    add_server_options(*echo, opts.server);
    auto* term = echo->add_option("--terminator", opts.delimiter_text,
                                  "message delimiter, with C escapes \\r \\n \\t \\\\ \\xHH (default \\r\\n)");
    auto* count = echo->add_option("--count", opts.echo.count, "fixed message size in bytes")->check(at_least_one);
    auto* raw = echo->add_flag("--raw", opts.raw, "no framing: echo each received chunk as it comes");
    auto* prefix = echo->add_option("--length-prefix", opts.echo.length_prefix,
                                    "messages are an N-byte big-endian length then that many bytes (N = 1, 2, 4 "
                                    "or 8), echoed with their prefix")
                       ->check(CLI::IsMember({1, 2, 4, 8}));
    term->excludes(count, raw, prefix);
    count->excludes(raw, prefix);
    raw->excludes(prefix);
    echo->add_option("--max-message", opts.echo.max_message, "largest message in bytes; a longer one closes its connection (see --discard-long)")
        ->check(at_least_one)
        ->capture_default_str();
    echo->add_flag("--discard-long", opts.echo.discard_long,
                   "drop a message over --max-message (up to its end) and keep the connection, instead of closing it");
    echo->add_option("--output-high-watermark", opts.echo.output_high,
                     "stop reading a connection with more than this many bytes of echo queued for it (0: never)")
        ->capture_default_str();
    echo->add_option("--output-low-watermark", opts.echo.output_low,
                     "read it again once its queue is back to this many bytes")
        ->capture_default_str();
    add_echo_idle_option(*echo, opts);
    echo->callback([&opts, count, raw, prefix] {
        if (opts.echo.output_low > opts.echo.output_high && opts.echo.output_high != 0)
            throw CLI::ValidationError("--output-low-watermark", "must not be above --output-high-watermark");
        if (opts.echo.output_high == 0) opts.echo.output_low = 0;
        if (*count) opts.echo.mode = asynchat::echo::echo_options::framing::count;
        if (*raw) opts.echo.mode = asynchat::echo::echo_options::framing::raw;
        if (*prefix) opts.echo.mode = asynchat::echo::echo_options::framing::length_prefix;
        opts.echo.delimiter = unescape(opts.delimiter_text);
        finish_server_tls(opts.server);
        if (opts.echo.mode == asynchat::echo::echo_options::framing::delimiter && opts.echo.delimiter.empty())
            throw CLI::ValidationError("--terminator", "must not be empty (use --raw for no framing)");
        opts.selected = true;
    });
}

void accept_echo(asyncore::socket sock, const asynchat::echo::echo_options& opts, asynchat::service_stats* stats,
                 const tls_context& tls) {
    auto channel = asyncore::make<asynchat::echo::echo_channel>(std::move(sock), opts, stats);
    use_tls(*channel, tls);
}

int run_echo(const echo_command_options& opts) {
    asynchat::service_stats stats;
    return run_server(
        opts.server, [&](asyncore::socket sock) { accept_echo(std::move(sock), opts.echo, &stats, opts.server.tls); },
        &stats);
}

} // namespace asynchat_cli
