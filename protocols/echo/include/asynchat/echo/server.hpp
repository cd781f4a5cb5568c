#pragma once
// asynchat::echo — an echo service on async_chat (RFC 862, with framing): what comes back depends only on the bytes
// sent, never on how the network segmented them. Messages are echoed whole; a message over max_message closes the
// connection before any of it is echoed (with discard_long: is dropped, and the next message echoed). A client
// that sends but does not read stops being read once output_high bytes are queued for it. With a length prefix
// each message is an N-byte big-endian length and that many bytes (asynchat::length_prefixed), echoed with its
// prefix; a length over max_message closes the connection as soon as the prefix is read.
//
//   asynchat::echo::echo_options options;          // CRLF-delimited lines
//   // for each accepted socket:
//   asyncore::make<asynchat::echo::echo_channel>(std::move(sock), options, &stats);
//
// `asynchat serve echo` is this channel behind the command's listener.
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include <asynchat/async_chat.hpp>
#include <asynchat/framing_rules.hpp>
#include <asynchat/service_connection.hpp>

namespace asynchat::echo {

struct echo_options {
    enum class framing {
        delimiter,    // messages end with `delimiter`, echoed with it
        count,        // messages of `count` bytes
        raw,          // no framing: each received chunk echoed as it comes
        length_prefix // a `length_prefix`-byte big-endian length, then that many bytes
    };
    framing mode = framing::delimiter;
    std::string delimiter = "\r\n";
    std::size_t count = 0;
    std::size_t length_prefix = 0;     // 1, 2, 4 or 8
    std::size_t max_message = 1 << 20; // bytes; a longer message closes the connection (or is dropped, below)
    bool discard_long = false;         // drop a message over max_message and keep the connection
    std::chrono::duration<double> idle_timeout{300}; // without a byte either way; 0: never
    // Output backpressure (async_chat's watermarks): above output_high queued bytes the connection is not read
    // until its queue is back to output_low. 0 for output_high turns it off.
    std::size_t output_high = async_chat::default_output_high_watermark;
    std::size_t output_low = async_chat::default_output_low_watermark;
};

// One echo connection. Counts into stats when not null: connections, messages echoed, errors (a message over
// max_message, a failure), traffic.
class echo_channel final : public service_connection<async_chat> {
public:
    // options must outlive the channel (the server's, shared by its channels).
    echo_channel(asyncore::socket sock, const echo_options& options, service_stats* stats = nullptr);
    // Socket-less, for string_transport tests.
    explicit echo_channel(const echo_options& options, service_stats* stats = nullptr);

    void collect_incoming_data(std::string_view data) override;
    void end_of_input() override;
    void found_terminator() override;
    void message_length_exceeded(std::size_t length) override;

private:
    void setup();
    length_prefixed::format prefix_format() const noexcept;
    void collect_view();

    // Up to this size a message is copied into the output chunk; a longer one is sent from where it is.
    static constexpr std::size_t copy_limit = 4096;
    const echo_options& options_;
    std::string message_;
    std::string_view held_; // this read's bytes of the message being collected (see collect_incoming_data)
};

} // namespace asynchat::echo
