#pragma once
// Ready-made framing rules (framer.hpp says how a rule works). Set one like any terminator; each is switchable
// mid-stream the same way, bounded by max_message while bytes arrive, and hands out its payload as views:
//
//   set_terminator(asynchat::length_prefixed::make(4));             // u32 big-endian length, then the payload
//   set_terminator(asynchat::netstring::make());                    // 5:hello,
//   set_terminator(asynchat::any_delimiter::make({"\r\n", "\n"}));  // CRLF or bare LF
//
// A rule object has the state of the message in progress, so each channel needs its own (make() gives one).
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "framer.hpp"

namespace asynchat {

// The first of several delimiters to occur ends the message; where two start at the same place the longest wins,
// so {"\r\n", "\n"} takes "a\r\n" as "a" (not "a\r"). What it serves: line protocols that must accept both CRLF and
// bare LF (Netty's LineBasedFrameDecoder, HTTP/1.x's tolerant parsers); record formats with alternative separators.
// Cost: one search per delimiter per message, in a window that doubles until it holds the answer, so O(message)
// per delimiter even for one that never occurs in a large read.
class any_delimiter final : public framing_rule {
public:
    // Delimiters must be non-empty; std::invalid_argument otherwise, or for an empty list.
    explicit any_delimiter(std::vector<std::string> delimiters);
    static std::shared_ptr<any_delimiter> make(std::initializer_list<std::string_view> delimiters);

    rule_step next(std::string_view input, std::size_t max_message) override;
    std::size_t max_hold() const noexcept override { return longest_; }
    void start() noexcept override {
        at_delimiter_ = 0;
        ahead_ = no_delimiter;
    }
    std::string describe() const override;

    // Which delimiter ended the last message (an index into the list given), for protocols that care.
    std::size_t last_delimiter() const noexcept { return last_; }

private:
    std::vector<std::string> delimiters_;
    std::size_t longest_ = 0;
    static constexpr std::size_t no_delimiter = static_cast<std::size_t>(-1);
    std::size_t at_delimiter_ = 0; // length of the delimiter found at the start of the input (0: none yet)
    std::size_t ahead_ = no_delimiter; // the delimiter the last search found just after the payload it delivered
    std::size_t last_ = 0;
};

// A fixed-size length field, then that many payload bytes. What it serves: Twisted's Int8/Int16/Int32StringReceiver
// (1, 2, 4 bytes, big-endian), Netty's LengthFieldBasedFrameDecoder, and every "u32 length then payload" protocol;
// where the field counts itself (PostgreSQL's message length does), length_adjustment = -header_bytes. A length
// over max_message is refused (message_too_long) as soon as the field is read, before any payload.
class length_prefixed final : public framing_rule {
public:
    enum class byte_order : unsigned char { big, little };
    struct format {
        std::size_t header_bytes = 4;              // 1, 2, 4 or 8; std::invalid_argument otherwise
        byte_order order = byte_order::big;        // network order by default
        std::int64_t length_adjustment = 0;        // added to the field to get the payload length (-4: it counts the header)
    };
    explicit length_prefixed(format f);
    static std::shared_ptr<length_prefixed> make(std::size_t header_bytes = 4, byte_order order = byte_order::big,
                                                 std::int64_t length_adjustment = 0);

    rule_step next(std::string_view input, std::size_t max_message) override;
    std::size_t max_hold() const noexcept override { return format_.header_bytes; }
    void start() noexcept override { in_payload_ = false; remaining_ = 0; }
    std::string describe() const override;

    const format& get_format() const noexcept { return format_; }
    // The header that announces a payload of n bytes in format f (std::length_error if n does not fit).
    static std::string header(std::size_t n, const format& f);

private:
    format format_;
    bool in_payload_ = false;
    std::uint64_t remaining_ = 0;
};

// D. J. Bernstein's netstrings: "<decimal length>:<payload>," — "5:hello,", "0:,". What it serves: SCGI, QMTP,
// and Twisted's NetstringReceiver. Refused (framing_error), as Twisted learned to: a leading zero ("05:"), a
// non-digit before ':', no digits, a length too long to parse, a missing ','. A length over max_message is
// message_too_long before any payload is read.
class netstring final : public framing_rule {
public:
    static constexpr std::size_t max_length_digits = 20; // enough for any 64-bit length
    static std::shared_ptr<netstring> make() { return std::make_shared<netstring>(); }

    rule_step next(std::string_view input, std::size_t max_message) override;
    std::size_t max_hold() const noexcept override { return max_length_digits + 1; }
    void start() noexcept override { phase_ = phase::length; remaining_ = 0; }
    std::string describe() const override { return "netstring"; }

    static std::string encode(std::string_view payload);

private:
    enum class phase : unsigned char { length, payload, comma, done };
    phase phase_ = phase::length;
    std::uint64_t remaining_ = 0;
};

} // namespace asynchat
