// asynchat::line::line_receiver through asynchat::string_transport, with the LineReceiver cases of Twisted's
// twisted/protocols/test/test_basic.py (LineTester, LineReceiverTests, LineReceiverLineLengthExceededTests) ported
// case by case, every one of them in packets of 1 to 9 bytes as Twisted's test_buffer does. Where line_receiver
// differs from Twisted on purpose (an over-long line is dropped up to its delimiter instead of handing the whole
// buffer to lineLengthExceeded) the case says so and checks our contract.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <boost/test/unit_test.hpp>

#include <asynchat/line/line_receiver.hpp>
#include <asynchat/string_transport.hpp>

#include "line_test_util.hpp"

using namespace line_test;

namespace test_line_receiver {

// Twisted's ExcessivelyLargeLineCatcher: lines and over-long lines recorded, nothing closed.
class catcher : public asynchat::line::line_receiver {
public:
    explicit catcher(std::size_t max, std::string delimiter = "\r\n") {
        set_max_line_length(max);
        set_delimiter(std::move(delimiter));
    }
    std::vector<std::string> lines;
    std::vector<std::size_t> too_long; // the length line_length_exceeded was told, per call
    void line_received(std::string_view line) override { lines.emplace_back(line); }
    void line_length_exceeded(std::size_t length) override { too_long.push_back(length); }
};

// line_receiver's default line_length_exceeded (close), as Twisted's bare LineReceiver.
class closing_receiver : public asynchat::line::line_receiver {
public:
    explicit closing_receiver(std::size_t max = default_max_line_length) { set_max_line_length(max); }
    std::vector<std::string> lines;
    bool closed = false;
    void line_received(std::string_view line) override { lines.emplace_back(line); }
    void close() override {
        closed = true;
        line_receiver::close();
    }
};

// Twisted's FlippingLineTester: raw mode after every line, and straight back with all the raw bytes.
class flipper : public asynchat::line::line_receiver {
public:
    flipper() { set_delimiter("\n"); }
    std::vector<std::string> lines;
    void line_received(std::string_view line) override {
        lines.emplace_back(line);
        set_raw_mode();
    }
    void raw_data_received(std::string_view data) override { set_line_mode(data); }
};

} // namespace test_line_receiver

using namespace test_line_receiver;

BOOST_AUTO_TEST_SUITE(line_receiver_twisted_cases)

// LineReceiverTests.test_buffer: "len N" then an empty line switches to raw mode for N bytes, and
// set_line_mode(rest) gives back the bytes after them, which hold further lines. Twisted's expected output has
// one more entry, "67890": its LineTester.lineLengthExceeded re-frames the over-long line from byte 65, where
// line_receiver drops the over-long line up to its delimiter.
BOOST_AUTO_TEST_CASE(buffer_in_every_packet_size) {
    const std::vector<std::string> want{"len 10", "0123456789", "len 5", "1234\n", "len 20", "foo 123",
                                        "0123456789\n012345678", "len 0", "foo 5", "", "len 1", "a"};
    for (std::size_t n = 1; n <= 9; ++n) {
        line_tester t("\n");
        asynchat::string_transport tr(t);
        tr.receive(twisted_buffer, n);
        BOOST_TEST_CONTEXT("packet " << n) {
            BOOST_TEST(t.received == want, boost::test_tools::per_element());
            BOOST_TEST(t.too_long.size() == 1u);
            BOOST_TEST(!t.closed);
        }
    }
}

// The same stream with CRLF lines: the delimiter is then split across packets, and a raw block that ends
// between its CR and its LF must give the LF back to line mode.
BOOST_AUTO_TEST_CASE(buffer_with_a_two_byte_delimiter_in_every_packet_size) {
    std::string crlf;
    for (char c : twisted_buffer) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
    // The raw blocks keep their length, so the bytes they cover change: recompute them from the stream.
    const std::vector<std::string> want = line_tester_model(crlf, "\r\n", 64);
    BOOST_TEST(want.size() > 8u);
    for (std::size_t n = 1; n <= 9; ++n) {
        line_tester t("\r\n");
        asynchat::string_transport tr(t);
        tr.receive(crlf, n);
        BOOST_TEST_CONTEXT("packet " << n) { BOOST_TEST(t.received == want, boost::test_tools::per_element()); }
    }
}

// test_stopProducing: "stop" closes; nothing after it in the same read reaches line_received (a closed socket
// delivers no further reads, so feeding stops with the close).
BOOST_AUTO_TEST_CASE(stop_in_every_packet_size) {
    const std::string stop_buf = "twiddle1\ntwiddle2\nstop\nmore\nstuff\n";
    for (std::size_t n = 1; n <= 9; ++n) {
        line_tester t("\n");
        asynchat::string_transport tr(t);
        for (std::size_t at = 0; at < stop_buf.size() && !t.closed; at += n) tr.receive(stop_buf.substr(at, n));
        BOOST_TEST_CONTEXT("packet " << n) {
            BOOST_TEST(t.received == (std::vector<std::string>{"twiddle1", "twiddle2", "stop"}),
                       boost::test_tools::per_element());
            BOOST_TEST(t.closed);
        }
    }
}

// test_stackRecursion: switching modes on every line of one read neither recurses nor loses bytes. (It is also
// the algorithmic-complexity attack on a mode-switching protocol: a peer packing a read with tiny lines. Handing
// the rest back costs no copy, so this stays linear; it once copied the rest of the read at every switch.)
BOOST_AUTO_TEST_CASE(flipping_modes_on_every_line_does_not_recurse) {
    constexpr std::size_t flips = 20000;
    std::string data;
    for (std::size_t i = 0; i < flips; ++i) data += "x\nx";
    for (std::size_t n : {0, 1, 7}) {
        flipper f;
        asynchat::string_transport tr(f);
        tr.receive(data, n);
        BOOST_TEST_CONTEXT("packet " << n) {
            BOOST_REQUIRE_EQUAL(f.lines.size(), flips);
            BOOST_TEST(f.lines.front() == "x");
            std::size_t wrong = 0;
            for (std::size_t i = 1; i < flips; ++i) wrong += f.lines[i] != "xx";
            BOOST_TEST(wrong == 0u);
            BOOST_TEST(!f.raw_mode());
        }
    }
}

// test_maximumLineLength: one byte over the default bound closes, before the delimiter and the byte after it
// are looked at.
BOOST_AUTO_TEST_CASE(maximum_line_length_closes_by_default) {
    for (std::size_t n : {0, 1, 7, 4096}) {
        closing_receiver r;
        asynchat::string_transport tr(r);
        const std::string data =
            std::string(asynchat::line::line_receiver::default_max_line_length + 1, 'x') + "\r\nr\r\n";
        for (std::size_t at = 0; at < data.size() && !r.closed; at += n ? n : data.size())
            tr.receive(data.substr(at, n ? n : data.size()));
        BOOST_TEST_CONTEXT("packet " << n) {
            BOOST_TEST(r.closed);
            BOOST_TEST(r.lines.empty());
        }
    }
}

// test_maximumLineLengthRemaining: the bound holds while the bytes arrive, with no delimiter yet.
BOOST_AUTO_TEST_CASE(maximum_line_length_before_any_delimiter) {
    closing_receiver r(16);
    asynchat::string_transport tr(r);
    tr.receive(std::string(16, 'x'));
    BOOST_TEST(!r.closed);
    tr.receive("y");
    BOOST_TEST(r.closed);
}

// test_maximumLineLengthPartialDelimiter: a line of MAX_LENGTH - 1 whose delimiter is split across packets,
// followed by the start of the next line, is one good line.
BOOST_AUTO_TEST_CASE(maximum_line_length_partial_delimiter) {
    for (const std::string delimiter : {"\n", "\r\n", "\r\n.\r\n"}) {
        catcher c(4, delimiter);
        asynchat::string_transport tr(c);
        const std::string line(3, 'x');
        tr.receive(line);
        tr.receive(delimiter.substr(0, delimiter.size() - 1));
        tr.receive(delimiter.substr(delimiter.size() - 1) + line);
        BOOST_TEST_CONTEXT("delimiter " << printable(delimiter)) {
            BOOST_TEST(c.too_long.empty());
            BOOST_TEST(c.lines == (std::vector<std::string>{line}), boost::test_tools::per_element());
        }
    }
}

// test_notQuiteMaximumLineLengthUnfinished: MAX_LENGTH bytes and the start of the delimiter are not too long:
// the partial delimiter is not part of the line.
BOOST_AUTO_TEST_CASE(not_quite_maximum_line_length_unfinished) {
    for (std::size_t n = 1; n <= 9; ++n) {
        closing_receiver r(16);
        asynchat::string_transport tr(r);
        tr.receive(std::string(16, 'x') + "\r", n);
        BOOST_TEST(!r.closed);
        tr.receive("\n", n);
        BOOST_TEST(r.lines == (std::vector<std::string>{std::string(16, 'x')}), boost::test_tools::per_element());
    }
}

// LineReceiverLineLengthExceededTests (MAX_LENGTH 6), with our contract: line_length_exceeded is called once per
// over-long line, at the byte that crosses the bound, and the line is dropped up to its delimiter. (Twisted calls
// it once per dataReceived with everything buffered; test_longLineWithDelimiter and test_multipleLongLines get
// one call there and two here.)
BOOST_AUTO_TEST_CASE(line_length_exceeded_once_per_long_line) {
    const std::string excessive(6 * 2 + 2, 'x');
    struct scenario {
        std::string name;
        std::string data;
        std::vector<std::string> lines;
        std::size_t calls;
    };
    const std::vector<scenario> scenarios{
        {"longUnendedLine", excessive, {}, 1},
        {"longLineAfterShortLine", "x\r\n" + excessive, {"x"}, 1},
        {"longLineWithDelimiter", excessive + "\r\n" + excessive, {}, 2},
        {"multipleLongLines", excessive + "\r\n" + excessive + "\r\n", {}, 2},
        {"longLinesAroundGoodOnes", "a\r\n" + excessive + "\r\nb\r\n" + excessive + "\r\nc\r\n", {"a", "b", "c"}, 2},
        {"exactlyMaxLength", "123456\r\n1234567\r\n", {"123456"}, 1},
    };
    for (const auto& s : scenarios) {
        for (std::size_t n = 0; n <= 9; ++n) {
            catcher c(6);
            asynchat::string_transport tr(c);
            tr.receive(s.data, n);
            BOOST_TEST_CONTEXT(s.name << " packet " << n) {
                BOOST_TEST(c.lines == s.lines, boost::test_tools::per_element());
                BOOST_TEST(c.too_long.size() == s.calls);
                // Told at the crossing: more than the bound, and in 1-byte packets exactly one more.
                for (std::size_t len : c.too_long) BOOST_TEST(len > 6u);
                if (n == 1)
                    for (std::size_t len : c.too_long) BOOST_TEST(len == 7u);
            }
        }
    }
}

// A long line in one packet: nothing of it is buffered (memory stays at the bound), and the line after it
// arrives intact.
BOOST_AUTO_TEST_CASE(long_line_in_one_packet) {
    catcher c(64);
    asynchat::string_transport tr(c);
    tr.receive(std::string(1 << 20, 'y') + "\r\nnext\r\n");
    BOOST_TEST(c.too_long == (std::vector<std::size_t>{std::size_t{1} << 20}), boost::test_tools::per_element());
    BOOST_TEST(c.lines == (std::vector<std::string>{"next"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(line_receiver_contract)

// The default line_length_exceeded closes, and then nothing else of the same read is delivered.
BOOST_AUTO_TEST_CASE(close_drops_the_rest_of_the_read) {
    closing_receiver r(4);
    asynchat::string_transport tr(r);
    tr.receive("ok\r\ntoolong\r\nlater\r\n");
    BOOST_TEST(r.closed);
    BOOST_TEST(r.lines == (std::vector<std::string>{"ok"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(max_line_length_zero_means_no_bound) {
    catcher c(0);
    asynchat::string_transport tr(c);
    const std::string big(100000, 'z');
    tr.receive(big + "\r\n\r\n", 4093);
    BOOST_TEST(c.too_long.empty());
    BOOST_REQUIRE_EQUAL(c.lines.size(), 2u);
    BOOST_TEST(c.lines[0] == big);
    BOOST_TEST(c.lines[1] == "");
}

// With strip_cr the CR before the LF is not part of the line, so a line of exactly the bound is accepted with
// either ending, and one byte more is refused with either.
BOOST_AUTO_TEST_CASE(strip_cr_does_not_count_the_cr) {
    const std::string at_bound(8, 'a'), over(9, 'a');
    struct scenario {
        std::string data;
        std::vector<std::string> lines;
        std::size_t calls;
    };
    const std::vector<scenario> scenarios{
        {at_bound + "\n", {at_bound}, 0},
        {at_bound + "\r\n", {at_bound}, 0},
        {over + "\n", {}, 1},
        {over + "\r\n", {}, 1},
        {at_bound + "\r\r\n", {}, 1},      // the line is at_bound + "\r": one over
        {at_bound + "\rb\n", {}, 1},       // a CR inside the line counts
        {"\r\n\n", {"", ""}, 0},
        {at_bound + "\r\n" + over + "\r\n" + "x\r\n", {at_bound, "x"}, 1},
    };
    for (const auto& s : scenarios) {
        for (std::size_t n = 0; n <= 9; ++n) {
            catcher c(8, "\n");
            c.set_strip_cr(true);
            asynchat::string_transport tr(c);
            tr.receive(s.data, n);
            BOOST_TEST_CONTEXT(printable(s.data) << " packet " << n) {
                BOOST_TEST(c.lines == s.lines, boost::test_tools::per_element());
                BOOST_TEST(c.too_long.size() == s.calls);
            }
        }
    }
    // Without strip_cr the CR is a byte of the line like any other.
    catcher plain(8, "\n");
    asynchat::string_transport tr(plain);
    tr.receive(at_bound + "\r\n");
    BOOST_TEST(plain.lines.empty());
    BOOST_TEST(plain.too_long.size() == 1u);
}

// The delimiter changed inside line_received applies to the bytes already received, in every segmentation.
BOOST_AUTO_TEST_CASE(delimiter_change_inside_line_received) {
    struct switching : asynchat::line::line_receiver {
        std::vector<std::string> lines;
        switching() { set_delimiter("\n"); }
        void line_received(std::string_view line) override {
            lines.emplace_back(line);
            if (line == "semicolons") set_delimiter(";");
            else if (line == "crlf") set_delimiter("\r\n");
        }
    };
    const std::string data = "a\nsemicolons\nb;c\n;crlf;d\ne\r\nf\r";
    for (std::size_t n = 0; n <= 9; ++n) {
        switching s;
        asynchat::string_transport tr(s);
        tr.receive(data, n);
        BOOST_TEST_CONTEXT("packet " << n) {
            BOOST_TEST(s.lines == (std::vector<std::string>{"a", "semicolons", "b", "c\n", "crlf", "d\ne"}),
                       boost::test_tools::per_element());
            BOOST_TEST(s.delimiter() == "\r\n");
        }
    }
    switching s;
    BOOST_CHECK_THROW(s.set_delimiter(""), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(send_line_appends_the_delimiter_or_the_line_ending) {
    catcher c(64, "\n");
    asynchat::string_transport tr(c);
    c.send_line("one");
    BOOST_TEST(tr.written() == "one\n");
    c.set_line_ending("\r\n");
    c.send_line("two");
    c.send_line("");
    BOOST_TEST(tr.written() == "two\r\n\r\n");
}

// set_raw_mode() called from outside a read, with a partial line buffered: the partial line goes to
// raw_data_received, and a set_line_mode(rest) made right there is the mode that stays (the switch to raw mode
// is complete before the partial line is handed out).
BOOST_AUTO_TEST_CASE(set_raw_mode_with_a_partial_line_then_straight_back) {
    struct bouncer : asynchat::line::line_receiver {
        std::vector<std::string> lines, raw;
        bool bounce = true;
        bouncer() { set_delimiter("\n"); }
        void line_received(std::string_view line) override { lines.emplace_back(line); }
        void raw_data_received(std::string_view data) override {
            raw.emplace_back(data);
            if (bounce) set_line_mode(data);
        }
    };
    for (std::size_t n = 0; n <= 4; ++n) {
        bouncer b;
        asynchat::string_transport tr(b);
        tr.receive("first\npart", n);
        b.set_raw_mode();
        BOOST_TEST_CONTEXT("packet " << n) {
            BOOST_TEST(b.raw == (std::vector<std::string>{"part"}), boost::test_tools::per_element());
            BOOST_TEST(!b.raw_mode());
            tr.receive("ial\nnext\n", n);
            BOOST_TEST(b.lines == (std::vector<std::string>{"first", "partial", "next"}),
                       boost::test_tools::per_element());
        }
    }
    // Without the bounce, the partial line and everything after it are raw, in order.
    bouncer b;
    b.bounce = false;
    asynchat::string_transport tr(b);
    tr.receive("first\npart");
    b.set_raw_mode();
    tr.receive("ial\nnext\n");
    std::string raw;
    for (const auto& r : b.raw) raw += r;
    BOOST_TEST(raw == "partial\nnext\n");
    BOOST_TEST(b.lines == (std::vector<std::string>{"first"}), boost::test_tools::per_element());
}

// A partial delimiter carried by the framer when raw mode starts is raw data, before the next read's bytes.
BOOST_AUTO_TEST_CASE(set_raw_mode_with_a_carried_partial_delimiter) {
    struct raw_after_hello : asynchat::line::line_receiver {
        std::vector<std::string> lines;
        std::string raw;
        void line_received(std::string_view line) override { lines.emplace_back(line); }
        void raw_data_received(std::string_view data) override { raw.append(data); }
    };
    raw_after_hello r; // delimiter "\r\n"
    asynchat::string_transport tr(r);
    tr.receive("hello\r\nab\r");
    r.set_raw_mode();
    tr.receive("\nrest");
    BOOST_TEST(r.lines == (std::vector<std::string>{"hello"}), boost::test_tools::per_element());
    BOOST_TEST(printable(r.raw) == printable("ab\r\nrest"));
}

// set_line_mode(rest) from outside a read frames rest at once, as Twisted's setLineMode(extra) does.
BOOST_AUTO_TEST_CASE(set_line_mode_outside_a_read_frames_rest_now) {
    catcher c(64, "\n");
    asynchat::string_transport tr(c);
    c.set_raw_mode();
    c.set_line_mode("one\ntwo\nthr");
    BOOST_TEST(c.lines == (std::vector<std::string>{"one", "two"}), boost::test_tools::per_element());
    tr.receive("ee\n");
    BOOST_TEST(c.lines == (std::vector<std::string>{"one", "two", "three"}), boost::test_tools::per_element());
}

// The length bound applies to the lines re-framed from set_line_mode(rest) too.
BOOST_AUTO_TEST_CASE(length_bound_holds_for_rest_given_back) {
    for (std::size_t n = 1; n <= 9; ++n) {
        line_tester t("\n", 8);
        asynchat::string_transport tr(t);
        tr.receive("len 2\n\nab" + std::string(20, 'L') + "\nok\n", n);
        BOOST_TEST_CONTEXT("packet " << n) {
            BOOST_TEST(t.received == (std::vector<std::string>{"len 2", "ab", "ok"}), boost::test_tools::per_element());
            BOOST_TEST(t.too_long.size() == 1u);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
