// `asynchat serve echo`: the echo service of asynchat::echo (protocols/echo) — --terminator, --count, --raw or
// --length-prefix choose the framing. In serve all it echoes lines ended by LF (a CRLF client gets its CR back
// too: nc-friendly), with --echo-idle-timeout its one option.
#include <asynchat/echo/server.hpp>

#include "service_table.hpp"

namespace asynchat_cli {

namespace {

using framing = asynchat::echo::echo_options::framing;

class echo_service final : public command_service {
public:
    std::string_view name() const override { return "echo"; }
    std::string_view summary() const override { return "echo every message back"; }
    std::uint16_t default_port(serve_mode mode) const override { return mode == serve_mode::all ? 8007 : 0; }

    void add_options(CLI::App& cmd, serve_mode mode) override {
        const std::string prefix = mode == serve_mode::all ? "echo-" : "";
        add_seconds_option(cmd, "--" + prefix + "idle-timeout", options_.idle_timeout,
                           "seconds without traffic before an echo connection is closed (0: never)");
        if (mode == serve_mode::all) return;
        term_ = cmd.add_option("--terminator", delimiter_text_,
                               "message delimiter, with C escapes \\r \\n \\t \\\\ \\xHH (default \\r\\n)");
        count_ = cmd.add_option("--count", options_.count, "fixed message size in bytes")->check(at_least_one);
        raw_ = cmd.add_flag("--raw", raw_flag_, "no framing: echo each received chunk as it comes");
        prefix_ = cmd.add_option("--length-prefix", options_.length_prefix,
                                 "messages are an N-byte big-endian length then that many bytes (N = 1, 2, 4 or 8), "
                                 "echoed with their prefix")
                      ->check(CLI::IsMember({1, 2, 4, 8}));
        term_->excludes(count_, raw_, prefix_);
        count_->excludes(raw_, prefix_);
        raw_->excludes(prefix_);
        cmd.add_option("--max-message", options_.max_message,
                       "largest message in bytes; a longer one closes its connection (see --discard-long)")
            ->check(at_least_one)
            ->capture_default_str();
        cmd.add_flag("--discard-long", options_.discard_long,
                     "drop a message over --max-message (up to its end) and keep the connection, instead of closing it");
        cmd.add_option("--output-high-watermark", options_.output_high,
                       "stop reading a connection with more than this many bytes of echo queued for it (0: never)")
            ->capture_default_str();
        cmd.add_option("--output-low-watermark", options_.output_low,
                       "read it again once its queue is back to this many bytes")
            ->capture_default_str();
    }

    void finish(const server_options&, serve_mode mode) override {
        if (mode == serve_mode::all) {
            options_.delimiter = "\n";
            return;
        }
        if (options_.output_low > options_.output_high && options_.output_high != 0)
            throw CLI::ValidationError("--output-low-watermark", "must not be above --output-high-watermark");
        if (options_.output_high == 0) options_.output_low = 0;
        if (*count_) options_.mode = framing::count;
        if (*raw_) options_.mode = framing::raw;
        if (*prefix_) options_.mode = framing::length_prefix;
        options_.delimiter = unescape(delimiter_text_);
        if (options_.mode == framing::delimiter && options_.delimiter.empty())
            throw CLI::ValidationError("--terminator", "must not be empty (use --raw for no framing)");
    }

    started_service start(serve_context& context) override {
        // Over capacity, an echo connection is closed without a word: any bytes would read as an echo.
        // Nothing shared but the options, read-only: every worker serves echo.
        const auto accept_into = [this, tls = context.server.tls](asynchat::service_stats* stats) {
            return [this, stats, tls](asyncore::socket sock) {
                auto channel = asyncore::make<asynchat::echo::echo_channel>(std::move(sock), options_, stats);
                use_tls(*channel, tls);
            };
        };
        return {accept_into(&context.stats), "",
                [accept_into](unsigned, asynchat::service_stats* stats) { return accept_into(stats); }};
    }

private:
    asynchat::echo::echo_options options_; // the defaults are the library's
    std::string delimiter_text_ = "\\r\\n"; // --terminator as typed
    bool raw_flag_ = false;
    CLI::Option* term_ = nullptr;
    CLI::Option* count_ = nullptr;
    CLI::Option* raw_ = nullptr;
    CLI::Option* prefix_ = nullptr;
};

} // namespace

std::unique_ptr<command_service> make_echo_service() { return std::make_unique<echo_service>(); }

} // namespace asynchat_cli
