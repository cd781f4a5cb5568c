// async_chat driven through asynchat::string_transport: no socket and no loop, so the segmentation of the input
// is chosen by the test instead of by the kernel. The pattern is Twisted's LineReceiver tests: the same bytes,
// delivered in reads of every size, must give the same messages and the same output.
#include <cstddef>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <asynchat/async_chat.hpp>
#include <asynchat/producers.hpp>
#include <asynchat/string_transport.hpp>

#include "chat_test_util.hpp"

namespace bdata = boost::unit_test::data;

// Named, not anonymous: see test_async_chat.cpp (-Wsubobject-linkage with the classes local to the tests).
namespace test_string_transport {

using chat_test::escape; // printable bytes for failure messages and data-test names

std::vector<std::string> v(std::initializer_list<std::string> l) { return l; }

// Reads of 1..9 bytes and one read of everything (0).
std::vector<std::size_t> segment_sizes() { return {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; }

// A line protocol that answers each line with its number as a string and the line itself from a producer, so
// the output interleaves both kinds of queue entry.
class numbered_echo : public asynchat::async_chat {
public:
    numbered_echo() { set_terminator("\r\n"); }
    std::vector<std::string> lines;
    std::string line;
    void collect_incoming_data(std::string_view data) override { line.append(data); }
    void found_terminator() override {
        lines.push_back(std::exchange(line, std::string()));
        push(std::to_string(lines.size()) + ": ");
        push_with_producer(std::make_unique<asynchat::simple_producer>(lines.back() + "\r\n", 2));
    }
};

// An empty line, bare CR and LF inside a line, a line that is just a CR, and an unterminated line whose last byte
// could start a delimiter.
const std::string line_stream = "hello\r\n\r\na\rb\nc\r\nworld\r\n\r\r\npartial\r";
const std::vector<std::string> line_stream_lines{"hello", "", "a\rb\nc", "world", "\r"};
const std::string line_stream_output = "1: hello\r\n2: \r\n3: a\rb\nc\r\n4: world\r\n5: \r\r\n";

// HTTP/1.0-like requests: header lines ended by an empty line, then Content-Length bytes of body read with a
// count terminator set inside found_terminator, then back to lines. The bodies contain CR/LF, so a switch that
// came too late would cut them as lines.
class http_like : public asynchat::async_chat {
public:
    http_like() { set_terminator("\r\n"); }
    std::vector<std::vector<std::string>> requests; // the header lines of each request
    std::vector<std::string> bodies;

    void collect_incoming_data(std::string_view data) override { data_.append(data); }
    void found_terminator() override {
        std::string piece = std::exchange(data_, std::string());
        if (in_body_) {
            in_body_ = false;
            set_terminator("\r\n");
            respond(std::move(piece));
            return;
        }
        if (!piece.empty()) {
            headers_.push_back(std::move(piece));
            return;
        }
        std::size_t length = 0;
        for (const auto& h : headers_)
            if (h.starts_with("Content-Length: ")) length = std::stoul(h.substr(16));
        requests.push_back(std::exchange(headers_, {}));
        if (length == 0) return respond({});
        in_body_ = true;
        set_terminator(length);
    }

private:
    void respond(std::string body) {
        push("HTTP/1.0 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
        bodies.push_back(std::move(body));
    }
    std::string data_;
    std::vector<std::string> headers_;
    bool in_body_ = false;
};

const std::string http_stream = "POST /a HTTP/1.0\r\nContent-Length: 12\r\n\r\nbody\r\n\r\nwith"
                                "GET /b HTTP/1.0\r\n\r\n"
                                "POST /c HTTP/1.0\r\nContent-Length: 3\r\nX: y\r\n\r\n\r\n\r"
                                "GET /d HTTP/1.0\r\n\r\n";
const std::vector<std::vector<std::string>> http_requests{
    {"POST /a HTTP/1.0", "Content-Length: 12"},
    {"GET /b HTTP/1.0"},
    {"POST /c HTTP/1.0", "Content-Length: 3", "X: y"},
    {"GET /d HTTP/1.0"},
};
const std::vector<std::string> http_bodies{"body\r\n\r\nwith", "", "\r\n\r", ""};
const std::string http_output = "HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\nbody\r\n\r\nwith"
                                "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"
                                "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n\r\n\r"
                                "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";

// Runs http_stream cut into the given reads; returns "" when everything matched, else what differed.
std::string check_http(const std::vector<std::string_view>& reads) {
    http_like chat;
    asynchat::string_transport t(chat);
    std::string out;
    for (auto r : reads) {
        t.receive(r);
        out += t.written();
    }
    std::string diff;
    if (chat.requests != http_requests) diff += " requests differ;";
    if (chat.bodies != http_bodies) {
        diff += " bodies:";
        for (const auto& b : chat.bodies) diff += " \"" + escape(b) + '"';
        diff += ';';
    }
    if (out != http_output) diff += " output \"" + escape(out) + "\";";
    return diff;
}

// Shuts down on "QUIT" after a goodbye, counting handle_close.
class quitter : public asynchat::async_chat {
public:
    quitter() { set_terminator("\r\n"); }
    int closes = 0;
    void collect_incoming_data(std::string_view data) override { line_.append(data); }
    void found_terminator() override {
        const std::string line = std::exchange(line_, std::string());
        if (line == "QUIT") {
            push("bye\r\n");
            close_when_done();
        } else {
            push(line + "\r\n");
        }
    }
    void handle_close() override {
        ++closes;
        async_chat::handle_close();
    }

private:
    std::string line_;
};

// Only pushes, from outside any read.
class sink_only : public asynchat::async_chat {
public:
    void collect_incoming_data(std::string_view) override {}
    void found_terminator() override {}
};

// Echoes each line as serve echo does: a line whole in one read is held as a view of the read's bytes and pushed
// with push_from_input (no copy); one that spans reads is copied at end_of_input and collected.
class view_echo : public asynchat::async_chat {
public:
    view_echo() { set_terminator("\n"); }
    std::size_t borrowed = 0; // lines pushed from the read's own bytes
    void collect_incoming_data(std::string_view data) override {
        if (line_.empty() && held_.empty() && in_input(data)) {
            held_ = data;
            return;
        }
        keep();
        line_.append(data);
    }
    void end_of_input() override { keep(); }
    void found_terminator() override {
        if (!held_.empty()) {
            ++borrowed;
            push_from_input(std::exchange(held_, {}));
        } else {
            push(std::move(line_));
            line_.clear();
        }
        push("\n");
    }

private:
    void keep() {
        line_.append(held_);
        held_ = {};
    }
    std::string line_;
    std::string_view held_;
};

} // namespace test_string_transport

using namespace test_string_transport;

BOOST_AUTO_TEST_SUITE(string_transport)

// Twisted's LineReceiverTests.test_buffer: whatever the read size, the same lines and the same output; and the
// output is the same whether it is collected after every read or once at the end.
BOOST_DATA_TEST_CASE(same_messages_and_output_at_every_read_size, bdata::make(segment_sizes()), segment) {
    numbered_echo whole_reads;
    asynchat::string_transport t(whole_reads);
    t.receive(line_stream, segment);
    BOOST_TEST(whole_reads.lines == line_stream_lines, boost::test_tools::per_element());
    BOOST_TEST(whole_reads.line == "partial");
    BOOST_TEST(t.written() == line_stream_output);
    BOOST_TEST(t.written().empty());

    numbered_echo piecewise;
    asynchat::string_transport p(piecewise);
    std::string out;
    const std::size_t step = segment == 0 ? line_stream.size() : segment;
    for (std::size_t at = 0; at < line_stream.size(); at += step) {
        p.receive(std::string_view(line_stream).substr(at, step));
        out += p.written();
    }
    BOOST_TEST(piecewise.lines == line_stream_lines, boost::test_tools::per_element());
    BOOST_TEST(out == line_stream_output);
}

// A terminator set inside found_terminator (header lines, then a Content-Length count, then lines again) applies
// to the bytes of the same read as well as to later reads: checked for reads of every uniform size and for every
// place one cut into two reads can fall.
BOOST_AUTO_TEST_CASE(terminator_switch_in_found_terminator_at_every_segmentation) {
    const std::string_view s = http_stream;
    for (std::size_t size = 1; size <= s.size(); ++size) {
        std::vector<std::string_view> reads;
        for (std::size_t at = 0; at < s.size(); at += size) reads.push_back(s.substr(at, size));
        const std::string diff = check_http(reads);
        BOOST_TEST(diff.empty(), "reads of " << size << " bytes:" << diff);
    }
    for (std::size_t cut = 1; cut < s.size(); ++cut) {
        const std::string diff = check_http({s.substr(0, cut), s.substr(cut)});
        BOOST_TEST(diff.empty(), "cut at " << cut << ":" << diff);
    }
}

// close_when_done: written() stops at the marker, sets closed_when_done() and calls handle_close, once.
BOOST_DATA_TEST_CASE(close_when_done_closes_once, bdata::make(segment_sizes()), segment) {
    quitter chat;
    asynchat::string_transport t(chat);
    t.receive("hi\r\nQUIT\r\n", segment);
    BOOST_TEST(!t.closed_when_done());
    BOOST_TEST(chat.closes == 0);
    BOOST_TEST(t.written() == "hi\r\nbye\r\n");
    BOOST_TEST(t.closed_when_done());
    BOOST_TEST(chat.closes == 1);
    BOOST_TEST(t.written().empty());
    BOOST_TEST(chat.closes == 1);
}

// Strings and producers come out in push order; empty strings and null producers add nothing, and a producer
// is read until its empty more().
BOOST_AUTO_TEST_CASE(producers_output_in_push_order) {
    sink_only chat;
    asynchat::string_transport t(chat);
    chat.push("a");
    chat.push_with_producer(std::make_unique<asynchat::simple_producer>("bcd", 1));
    chat.push("");
    chat.push(std::string_view("e"));
    chat.push_with_producer(std::make_unique<asynchat::callable_producer>(
        [parts = v({"f", "g", ""}), i = std::size_t{0}]() mutable { return parts.at(i++); }));
    chat.push_with_producer(nullptr);
    chat.push_with_producer(std::make_unique<asynchat::simple_producer>(std::string(100000, 'x') + "y", 4096));
    chat.push("z");
    BOOST_TEST(t.written() == "abcdefg" + std::string(100000, 'x') + "yz");
    BOOST_TEST(t.written().empty());
    BOOST_TEST(!t.closed_when_done());
}

// on_overflow::discard through a channel (issue 11, input limits): an over-long line is reported once and dropped,
// the channel's own _collect_incoming_data buffer is cleared by async_chat's default hook, and the lines around it
// are answered; no handle_error, so the connection stays.
BOOST_DATA_TEST_CASE(discard_mode_drops_the_long_message_and_keeps_the_channel, bdata::make(segment_sizes()),
                     segment) {
    class collector : public asynchat::async_chat {
    public:
        collector() {
            set_terminator("\r\n");
            set_max_message(4, asynchat::on_overflow::discard);
        }
        std::vector<std::string> got;
        std::vector<std::size_t> too_long;
        void collect_incoming_data(std::string_view d) override { _collect_incoming_data(d); }
        void found_terminator() override {
            got.push_back(_get_data());
            push(got.back() + "\r\n");
        }
        void message_length_exceeded(std::size_t n) override {
            too_long.push_back(n);
            async_chat::message_length_exceeded(n);
        }
    } chat;
    asynchat::string_transport t(chat);
    t.receive("ab\r\nTOOLONGLINE\r\ncd\r\nabcd\r\nabcde\r\nok\r\n", segment);
    BOOST_TEST(chat.got == v({"ab", "cd", "abcd", "ok"}), boost::test_tools::per_element());
    BOOST_TEST(chat.too_long.size() == 2u);
    for (std::size_t n : chat.too_long) BOOST_TEST(n > 4u);
    BOOST_TEST(t.written() == "ab\r\ncd\r\nabcd\r\nok\r\n");
}

// push_from_input borrows the read's bytes; the transport here sends nothing during the read, so everything
// borrowed is copied at the read's end, and the buffer the read came from is overwritten before the next one: the
// output must not change (it would, with the scribbles, if a borrowed view outlived its read).
BOOST_DATA_TEST_CASE(bytes_pushed_from_the_input_outlive_its_buffer, bdata::make({1, 2, 7, 100, 5000, 20000, 0}),
                     segment) {
    test_string_transport::view_echo c;
    asynchat::string_transport t(c);
    std::string input;
    for (int i = 0; i < 12; ++i) input += std::string(i % 3 == 0 ? 6000 : 10, static_cast<char>('a' + i)) + "\n";
    const std::size_t seg = segment == 0 ? input.size() : static_cast<std::size_t>(segment);
    std::string read_buffer;
    read_buffer.reserve(input.size());
    for (std::size_t at = 0; at < input.size(); at += seg) {
        read_buffer.assign(input, at, seg);
        t.receive(read_buffer);
        read_buffer.assign(read_buffer.size(), '#'); // the transport reuses its buffer
    }
    BOOST_TEST(t.written() == input);
    if (segment == 0) BOOST_TEST(c.borrowed == 12u); // every line whole in its read
    if (segment == 1) BOOST_TEST(c.borrowed == 0u);
}

BOOST_AUTO_TEST_CASE(push_from_input_copies_bytes_that_are_not_the_input) {
    test_string_transport::view_echo c;
    asynchat::string_transport t(c);
    std::string mine = "not from a read";
    c.push_from_input(mine); // outside a read: copied
    mine.assign(mine.size(), '#');
    BOOST_TEST(t.written() == "not from a read");
}

BOOST_AUTO_TEST_SUITE_END()
