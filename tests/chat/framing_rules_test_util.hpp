#pragma once
// Helpers shared by the framing-rule suites: the docs' example user rule, and a sink that records messages and
// counts collect calls, so that a test can tell "no byte of that message was collected" from "some were".
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asynchat/framer.hpp>
#include <asynchat/framing_rules.hpp>

#include "chat_test_util.hpp"

namespace chat_test {

// The example of docs/chat.md ("Writing a rule"), kept identical: a fixed 3-byte header, a type byte and a
// big-endian 16-bit payload length, then the payload.
class typed_frames final : public asynchat::framing_rule {
public:
    // The type byte of the message being received (still valid in found_terminator).
    unsigned char type() const noexcept { return type_; }

    asynchat::rule_step next(std::string_view input, std::size_t max_message) override {
        using asynchat::rule_step;
        if (!in_payload_) {
            if (input.size() < 3) return rule_step::hold(); // the header is not all here yet
            type_ = static_cast<unsigned char>(input[0]);
            remaining_ = std::size_t{static_cast<unsigned char>(input[1])} << 8 | static_cast<unsigned char>(input[2]);
            if (max_message != 0 && remaining_ > max_message) return rule_step::too_long(remaining_);
            in_payload_ = true;
            return rule_step::skip(3); // the header is framing: dropped
        }
        if (remaining_ == 0) { // the whole payload was delivered
            in_payload_ = false;
            return rule_step::end();
        }
        if (input.empty()) return rule_step::hold(); // wait for more payload (holding nothing)
        const std::size_t n = std::min(remaining_, input.size());
        remaining_ -= n;
        return rule_step::deliver(n); // handed to collect_incoming_data as a view
    }
    std::size_t max_hold() const noexcept override { return 3; } // at most a partial header is kept
    void start() noexcept override {
        in_payload_ = false;
        remaining_ = 0;
    }
    std::string describe() const override { return "typed_frames"; }

private:
    bool in_payload_ = false;
    std::size_t remaining_ = 0;
    unsigned char type_ = 0;
};

// Whole messages (the pieces of each joined), the partial one, and how the framer was driven.
struct message_sink : asynchat::framer_sink {
    std::vector<std::string> messages;
    std::string current;
    std::size_t collect_calls = 0;
    std::size_t empty_collects = 0;
    std::function<void(message_sink&)> on_found;            // after the message is recorded
    std::function<void(message_sink&, std::string_view)> on_collect; // after the piece is recorded

    void collect_incoming_data(std::string_view d) override {
        ++collect_calls;
        if (d.empty()) ++empty_collects;
        current.append(d);
        if (on_collect) on_collect(*this, d);
    }
    void found_terminator() override {
        messages.push_back(std::exchange(current, std::string()));
        if (on_found) on_found(*this);
    }
};

// Feeds s to f in pieces of n bytes (0: all at once).
inline void feed_packets(asynchat::framer& f, asynchat::framer_sink& sink, std::string_view s, std::size_t n) {
    if (n == 0) n = std::max<std::size_t>(s.size(), 1);
    for (const auto& p : packets(s, n)) f.feed(p, sink);
}

inline std::string lp(std::string_view payload, std::size_t header_bytes = 4,
                      asynchat::length_prefixed::byte_order order = asynchat::length_prefixed::byte_order::big,
                      std::int64_t adjustment = 0) {
    return asynchat::length_prefixed::header(payload.size(), {header_bytes, order, adjustment}) + std::string(payload);
}

inline std::string ns(std::string_view payload) { return asynchat::netstring::encode(payload); }

// The segmentations every fixed case is run under: one feed, then Twisted's packet sizes 1..9.
inline std::vector<std::size_t> packet_sizes() { return {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; }

} // namespace chat_test
