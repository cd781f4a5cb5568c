// `asynchat serve echo`: an async_chat echo server. What comes back depends only on the bytes sent, never on how
// the network segmented them: messages are echoed whole, and a message over --max-message closes that
// connection before any of it is echoed (with --discard-long: is dropped, and the next message echoed). A client
// that sends but does not read stops being read once --output-high-watermark bytes are queued for it. With --length-prefix N each message is an N-byte big-endian length and
// that many bytes (asynchat::length_prefixed), echoed with its prefix; a length over --max-message closes the
// connection as soon as the prefix is read, before any of the payload is.
#include "serve_echo.hpp"

#include <chrono>
#include <iostream>

#include <asyncore/idle_timer.hpp>
#include <asynchat/async_chat.hpp>

namespace asynchat_cli {

namespace {

class echo_channel final : public asynchat::async_chat {
public:
    echo_channel(asyncore::socket sock, const echo_options& opts, asynchat::service_stats* stats)
        : async_chat(std::move(sock)), opts_(opts), account_(*this, stats) {
        switch (opts.mode) {
        case echo_options::framing::delimiter: set_terminator(opts.delimiter); break;
        case echo_options::framing::count: set_terminator(opts.count); break;
        case echo_options::framing::raw: set_terminator(nullptr); break;
        case echo_options::framing::length_prefix:
            set_terminator(std::make_shared<asynchat::length_prefixed>(prefix_format()));
            break;
        }
        // With no terminator the whole stream is one message: nothing accumulates, so there is nothing to bound.
        if (opts.mode != echo_options::framing::raw)
            set_max_message(opts.max_message,
                            opts.discard_long ? asynchat::on_overflow::discard : asynchat::on_overflow::close);
        set_output_watermarks(opts.output_high, opts.output_low);
        idle_.start(map(), std::chrono::duration<double>(opts.idle_timeout), [this] { close(); });
    }

    // Traffic either way keeps the connection: a client reading a long echo slowly is not idle.
    void handle_incoming(std::string_view bytes) override {
        idle_.touch();
        async_chat::handle_incoming(bytes);
    }
    void handle_write() override {
        idle_.touch();
        async_chat::handle_write();
    }
    // --discard-long: the message is not echoed; one line on stderr says so, and the next message is served.
    void message_length_exceeded(std::size_t length) override {
        asyncore::log(asyncore::log_level::warning,
                      "asynchat: " + peer() + ": dropping a message of at least " + std::to_string(length) +
                          " bytes (over --max-message " + std::to_string(opts_.max_message) + ")");
        account_.count_error();
        message_.clear();
        held_ = {};
    }

    // A message that arrives whole in one read is not copied to be collected: held_ is a view of it in the read's
    // bytes (in_input), valid until end_of_input(), and found_terminator echoes it from there. One that spans reads (or comes
    // in several pieces) is collected into message_.
    void collect_incoming_data(std::string_view data) override {
        if (opts_.mode == echo_options::framing::raw) {
            push_from_input(data);
            return;
        }
        if (message_.empty() && held_.empty() && in_input(data)) {
            held_ = data;
            return;
        }
        collect_view();
        message_.append(data);
    }
    void end_of_input() override { collect_view(); }

    void found_terminator() override {
        account_.count_message();
        if (opts_.mode == echo_options::framing::length_prefix) {
            // Written as it was read: the same rule's output helper puts the prefix back.
            collect_view();
            push_length_prefixed(message_, prefix_format());
            message_.clear();
            return;
        }
        if (!held_.empty()) {
            // Whole in this read: a short one is copied into the output chunk (with the delimiter, one contiguous
            // send for all the replies of the read), a long one sent from the read's bytes themselves.
            const std::string_view message = std::exchange(held_, {});
            if (message.size() <= copy_limit)
                push(message);
            else
                push_from_input(message);
            if (opts_.mode == echo_options::framing::delimiter) push(opts_.delimiter);
        } else {
            // Collected over several reads. A short message is copied into the channel's output chunk: message_
            // keeps its buffer for the next one. A long one hands its buffer over instead: copying 16 KiB costs
            // more than the allocation it saves (callgrind: 36.0k against 19.7k instructions per 16 KiB message,
            // bench/run_echo_cost).
            if (opts_.mode == echo_options::framing::delimiter) message_ += opts_.delimiter;
            if (message_.size() <= copy_limit)
                push(std::string_view(message_));
            else
                push(std::move(message_));
            message_.clear();
        }
        if (opts_.mode == echo_options::framing::count) set_terminator(opts_.count);
    }

    void handle_error() override {
        // One bad client is not the server's problem: say why on stderr and drop that connection only.
        asyncore::log(asyncore::log_level::error, "asynchat: closing " + peer() + ": " + asyncore::compact_exception());
        account_.count_error();
        close();
    }

    void close() override {
        idle_.stop();
        account_.release(); // a closed channel may outlive the service whose figures these are
        async_chat::close();
    }

private:
    asynchat::length_prefixed::format prefix_format() const noexcept {
        return {opts_.length_prefix, asynchat::length_prefixed::byte_order::big, 0};
    }

    std::string peer() const { return addr() ? addr()->to_string() : std::string("client"); }

    // A message not yet whole at the end of a read: its bytes are copied before the read's buffer is reused.
    void collect_view() {
        if (held_.empty()) return;
        // Room for the delimiter from the start: appending it later would reallocate and copy every message.
        message_.reserve(held_.size() + opts_.delimiter.size());
        message_.append(held_);
        held_ = {};
    }

    static constexpr std::size_t copy_limit = 4096;
    const echo_options& opts_;
    asynchat::connection_account account_;
    std::string message_;
    std::string_view held_; // this read's bytes of the message being collected (see collect_incoming_data)
    asyncore::idle_timer idle_;
};

} // namespace

void add_echo_idle_option(CLI::App& cmd, echo_options& opts, const std::string& prefix) {
    cmd.add_option("--" + prefix + "idle-timeout", opts.idle_timeout,
                   "seconds without traffic before an echo connection is closed (0: never)")
        ->check(timeout_seconds)
        ->capture_default_str();
}

void add_echo_command(CLI::App& serve, echo_options& opts) {
    auto* echo = serve.add_subcommand("echo", "echo every message back");
    add_server_options(*echo, opts.server);
    auto* term = echo->add_option("--terminator", opts.delimiter_text,
                                  "message delimiter, with C escapes \\r \\n \\t \\\\ \\xHH (default \\r\\n)");
    auto* count = echo->add_option("--count", opts.count, "fixed message size in bytes")->check(at_least_one);
    auto* raw = echo->add_flag("--raw", opts.raw, "no framing: echo each received chunk as it comes");
    auto* prefix = echo->add_option("--length-prefix", opts.length_prefix,
                                    "messages are an N-byte big-endian length then that many bytes (N = 1, 2, 4 "
                                    "or 8), echoed with their prefix")
                       ->check(CLI::IsMember({1, 2, 4, 8}));
    term->excludes(count, raw, prefix);
    count->excludes(raw, prefix);
    raw->excludes(prefix);
    echo->add_option("--max-message", opts.max_message, "largest message in bytes; a longer one closes its connection (see --discard-long)")
        ->check(at_least_one)
        ->capture_default_str();
    echo->add_flag("--discard-long", opts.discard_long,
                   "drop a message over --max-message (up to its end) and keep the connection, instead of closing it");
    echo->add_option("--output-high-watermark", opts.output_high,
                     "stop reading a connection with more than this many bytes of echo queued for it (0: never)")
        ->capture_default_str();
    echo->add_option("--output-low-watermark", opts.output_low,
                     "read it again once its queue is back to this many bytes")
        ->capture_default_str();
    add_echo_idle_option(*echo, opts);
    echo->callback([&opts, count, raw, prefix] {
        if (opts.output_low > opts.output_high && opts.output_high != 0)
            throw CLI::ValidationError("--output-low-watermark", "must not be above --output-high-watermark");
        if (opts.output_high == 0) opts.output_low = 0;
        if (*count) opts.mode = echo_options::framing::count;
        if (*raw) opts.mode = echo_options::framing::raw;
        if (*prefix) opts.mode = echo_options::framing::length_prefix;
        opts.delimiter = unescape(opts.delimiter_text);
        finish_server_tls(opts.server);
        if (opts.mode == echo_options::framing::delimiter && opts.delimiter.empty())
            throw CLI::ValidationError("--terminator", "must not be empty (use --raw for no framing)");
        opts.selected = true;
    });
}

void accept_echo(asyncore::socket sock, const echo_options& opts, asynchat::service_stats* stats,
                 const tls_context& tls) {
    auto channel = asyncore::make<echo_channel>(std::move(sock), opts, stats);
    use_tls(*channel, tls);
}

int run_echo(const echo_options& opts) {
    asynchat::service_stats stats;
    return run_server(
        opts.server, [&](asyncore::socket sock) { accept_echo(std::move(sock), opts, &stats, opts.server.tls); },
        &stats);
}

} // namespace asynchat_cli
