#pragma once
// Shared by the line suites: Twisted's LineTester ported to line_receiver, its test_buffer stream, and a model of
// LineTester over a whole stream (no segmentation, no framer) for streams of any shape.
#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <asynchat/line/line_receiver.hpp>

#include "chat_test_util.hpp"

namespace line_test {

inline std::string printable(std::string_view s) { return chat_test::escape(s); }

// twisted/protocols/test/test_basic.py's LineTester, with the same names: a line "len N" sets the length of the
// next raw block, an empty line switches to raw mode (the block is appended to that empty line's entry), the
// block's end switches back with set_line_mode(rest). "stop" closes (Twisted: stopProducing). An over-long line
// is recorded in too_long and dropped (Twisted's LineTester re-frames it instead: see buffer_in_every_packet_size).
class line_tester : public asynchat::line::line_receiver {
public:
    explicit line_tester(std::string delimiter = "\n", std::size_t max_length = 64) {
        set_delimiter(std::move(delimiter));
        set_max_line_length(max_length);
    }
    std::vector<std::string> received;
    std::vector<std::size_t> too_long;
    std::size_t length = 0;
    bool closed = false;

    void line_received(std::string_view line) override {
        received.emplace_back(line);
        if (line.empty()) set_raw_mode();
        else if (line == "stop") close();
        else if (line.starts_with("len ")) length = std::stoul(std::string(line.substr(4)));
    }
    void raw_data_received(std::string_view data) override {
        const std::size_t take = std::min(length, data.size());
        received.back().append(data.substr(0, take));
        length -= take;
        if (length == 0) set_line_mode(data.substr(take));
    }
    void line_length_exceeded(std::size_t n) override { too_long.push_back(n); }
    void close() override {
        closed = true;
        line_receiver::close();
    }
};

// LineReceiverTests.buffer.
inline const std::string twisted_buffer =
    "len 10\n\n0123456789len 5\n\n1234\nlen 20\nfoo 123\n\n0123456789\n012345678len 0\nfoo 5\n\n"
    "1234567890123456789012345678901234567890123456789012345678901234567890\nlen 1\n\na";

// What line_tester receives from the whole stream s, computed without a framer. Lines over max_length are dropped.
inline std::vector<std::string> line_tester_model(std::string_view s, std::string_view delimiter,
                                                  std::size_t max_length) {
    std::vector<std::string> received;
    std::size_t pos = 0, length = 0;
    bool raw = false;
    for (;;) {
        if (!raw) {
            const std::size_t i = s.find(delimiter, pos);
            if (i == std::string_view::npos) return received;
            const std::string_view line = s.substr(pos, i - pos);
            pos = i + delimiter.size();
            if (line.size() > max_length) continue;
            received.emplace_back(line);
            if (line.empty()) raw = true;
            else if (line.starts_with("len ")) length = std::stoul(std::string(line.substr(4)));
        } else {
            if (pos == s.size()) return received;
            const std::size_t take = std::min(length, s.size() - pos);
            received.back().append(s.substr(pos, take));
            pos += take;
            length -= take;
            if (length != 0) return received;
            raw = false;
        }
    }
}

} // namespace line_test
