// The framing cases of Twisted's own tests for its length-prefixed receivers (twisted/protocols/test/test_basic.py:
// NetstringReceiverTests, IntNTestCaseMixin, RecvdAttributeMixin, Int8/16/32Tests), ported to the netstring and
// length_prefixed rules as test_framer.cpp ported CPython's test_asynchat. Twisted's MAX_LENGTH is max_message
// (TestMixin sets it to 50); "the transport is disconnecting" is an exception out of feed, which a channel's
// handle_error turns into a close. LineReceiver's cases are ported with line_receiver (tests/protocols/line).
// What has no counterpart is said where it would be.
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include <asynchat/async_chat.hpp>
#include <asynchat/string_transport.hpp>

#include "framing_rules_test_util.hpp"

using namespace chat_test;
using asynchat::framer;
using asynchat::framing_error;
using asynchat::length_prefixed;
using asynchat::message_too_long;
using asynchat::netstring;
using asynchat::terminator;
using byte_order = asynchat::length_prefixed::byte_order;

namespace {

std::vector<std::string> v(std::initializer_list<std::string> l) { return l; }

constexpr std::size_t twisted_max_length = 50; // TestMixin.MAX_LENGTH

// A receiver as Twisted's tests build one: framer + sink; `closed` is set by the error that would close it.
struct receiver {
    framer f;
    message_sink sink;
    bool closed = false;
    explicit receiver(terminator t, std::size_t max_length = twisted_max_length) : f(std::move(t), max_length) {}
    void data_received(std::string_view d) {
        if (closed) return;
        try {
            f.feed(d, sink);
        } catch (const framing_error&) {
            closed = true;
        } catch (const message_too_long&) {
            closed = true;
        }
    }
    void byte_by_byte(std::string_view s) {
        for (char c : s) data_received(std::string_view(&c, 1));
    }
    const std::vector<std::string>& received() const { return sink.messages; }
};

receiver netstring_receiver(std::size_t max_length = twisted_max_length) { return receiver(netstring::make(), max_length); }

std::size_t header_of(int bits) { return static_cast<std::size_t>(bits / 8); }

std::string pack(int bits, std::size_t n) { return length_prefixed::header(n, {header_of(bits), byte_order::big, 0}); }

} // namespace

BOOST_AUTO_TEST_SUITE(twisted_netstring_receiver)

const std::vector<std::string> strings{"hello", "world", "how", "are", "you123", ":today", std::string(515, 'a')};

// test_buffer: strings can be received in chunks of different lengths (MAX_LENGTH 699 there).
BOOST_AUTO_TEST_CASE(buffer) {
    std::string out;
    for (const auto& s : strings) out += netstring::encode(s);
    for (std::size_t packet_size = 1; packet_size < 10; ++packet_size) {
        receiver a = netstring_receiver(699);
        for (const auto& p : packets(out, packet_size)) a.data_received(p);
        BOOST_TEST(a.received() == strings, boost::test_tools::per_element());
        BOOST_TEST(!a.closed);
    }
}

BOOST_AUTO_TEST_CASE(receive_empty_one_and_two_characters_and_nested) {
    for (const auto& [wire, want] : std::vector<std::pair<std::string, std::string>>{
             {"0:,", ""}, {"1:a,", "a"}, {"2:ab,", "ab"}, {"4:1:a,,", "1:a,"}}) {
        receiver r = netstring_receiver();
        r.data_received(wire);
        BOOST_TEST(r.received() == v({want}), boost::test_tools::per_element());
    }
}

// test_illegal, with TestNetstring's illegalStrings, byte by byte; then the single-read illegal cases:
// test_moreDataThanSpecified(BorderCase), test_missingNumber, test_missingColon, test_missingNumberAndColon,
// test_onlyData.
BOOST_AUTO_TEST_CASE(illegal) {
    for (const std::string s : {"9999999999999999999999", "abc", "4:abcde",
                                "51:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab,"}) {
        BOOST_TEST_CONTEXT(s) {
            receiver r = netstring_receiver();
            r.byte_by_byte(s);
            BOOST_TEST(r.closed);
            BOOST_TEST(r.received().empty());
        }
    }
    for (const std::string s : {"2:aaa,", "0:a,", ":aaa,", "3aaa,", "aaa,", "aaa"}) {
        BOOST_TEST_CONTEXT(s) {
            receiver r = netstring_receiver();
            r.data_received(s);
            BOOST_TEST(r.closed);
        }
    }
}

// Which error each is, which Twisted reports only as the text of NetstringParseError: a length over the bound
// is message_too_long (refused before its payload), every other malformation a framing_error.
BOOST_AUTO_TEST_CASE(illegal_inputs_say_what_was_wrong) {
    auto error_of = [](std::string_view s) -> std::string {
        framer f(netstring::make(), twisted_max_length);
        message_sink sink;
        try {
            for (char c : s) f.feed(std::string_view(&c, 1), sink);
        } catch (const message_too_long&) {
            return "too long";
        } catch (const framing_error&) {
            return "malformed";
        }
        return "none";
    };
    BOOST_TEST(error_of("9999999999999999999999") == "too long");
    BOOST_TEST(error_of("51:") == "too long");
    BOOST_TEST(error_of("abc") == "malformed");
    BOOST_TEST(error_of("4:abcde") == "malformed");
    BOOST_TEST(error_of("007:") == "malformed"); // _LENGTH: leading zeros are not allowed
}

// test_receiveNetstringPortions_1/2/3 and test_receiveTwoNetstrings.
BOOST_AUTO_TEST_CASE(portions) {
    {
        receiver r = netstring_receiver();
        r.data_received("4:aa");
        r.data_received("aa,");
        BOOST_TEST(r.received() == v({"aaaa"}), boost::test_tools::per_element());
    }
    {
        receiver r = netstring_receiver();
        for (const std::string part : {"1", "0:01234", "56789", ","}) r.data_received(part);
        BOOST_TEST(r.received() == v({"0123456789"}), boost::test_tools::per_element());
    }
    {
        receiver r = netstring_receiver();
        for (const std::string part : {"2", ":", "a", "b", ","}) r.data_received(part);
        BOOST_TEST(r.received() == v({"ab"}), boost::test_tools::per_element());
    }
    {
        receiver r = netstring_receiver();
        r.data_received("1:a,1");
        BOOST_TEST(r.received() == v({"a"}), boost::test_tools::per_element());
        BOOST_TEST(r.f.pending() == "1"); // the next length, kept
        r.data_received(":b,");
        BOOST_TEST(r.received() == v({"a", "b"}), boost::test_tools::per_element());
    }
}

// test_maxReceiveLimit: MAX_LENGTH + 1 is refused, and (ours) none of its payload is collected.
BOOST_AUTO_TEST_CASE(max_receive_limit) {
    receiver r = netstring_receiver();
    const std::size_t too_long = twisted_max_length + 1;
    r.data_received(std::to_string(too_long) + ":" + std::string(too_long, 'a'));
    BOOST_TEST(r.closed);
    BOOST_TEST(r.sink.collect_calls == 0u);
}

// test_consumeLength and its border cases: 12 with MAX_LENGTH 12 is accepted, with 11 refused, 1000 with 11 refused.
BOOST_AUTO_TEST_CASE(consume_length_border_cases) {
    {
        receiver r = netstring_receiver(12);
        r.data_received("12:");
        BOOST_TEST(!r.closed);
        r.data_received("123456789012,");
        BOOST_TEST(r.received() == v({"123456789012"}), boost::test_tools::per_element());
    }
    for (const std::string s : {"12:", "1000:"}) {
        receiver r = netstring_receiver(11);
        r.data_received(s);
        BOOST_TEST(r.closed);
    }
}

// sendString: what push_netstring writes is what NetstringReceiver reads (test_buffer's encoding step).
BOOST_AUTO_TEST_CASE(send_string) {
    BOOST_TEST(netstring::encode("hello") == "5:hello,");
    BOOST_TEST(netstring::encode(std::string(515, 'a')).starts_with("515:"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(twisted_intn_string_receiver)

// Int8Tests, Int16Tests, Int32Tests: strings, illegalStrings, partialStrings, and the test_data bytes.
struct intn_case {
    int bits;
    std::vector<std::string> illegal;
    std::vector<std::string> partial;
    std::string data_sent;     // sendString("foo")
    std::string data_received; // dataReceived(...) gives "ubar"
};

std::vector<intn_case> intn_cases() {
    using namespace std::string_literals;
    return {
        {32, {"\x10\x00\x00\x00" "aaaaaa"s}, {"\x00\x00\x00"s, "hello there", ""}, "\x00\x00\x00\x03" "foo"s,
         "\x00\x00\x00\x04" "ubar"s},
        {16, {"\x10\x00" "aaaaaa"s}, {"\x00"s, "hello there", ""}, "\x00\x03" "foo"s, "\x00\x04" "ubar"s},
        {8, {"\x00\x00" "aaaaaa"s}, {"\x08", "dzadz", ""}, "\x03" "foo"s, "\x04" "ubar"s},
    };
}

terminator intn(int bits) { return length_prefixed::make(header_of(bits)); }

// test_receive: each string sent byte by byte.
BOOST_AUTO_TEST_CASE(receive) {
    for (const auto& c : intn_cases()) {
        receiver r(intn(c.bits));
        const std::vector<std::string> strings{"a", std::string(16, 'b')};
        for (const auto& s : strings) r.byte_by_byte(pack(c.bits, s.size()) + s);
        BOOST_TEST(r.received() == strings, boost::test_tools::per_element());
    }
}

// test_partial: nothing is received from a partial prefix or a partial string.
BOOST_AUTO_TEST_CASE(partial) {
    for (const auto& c : intn_cases()) {
        for (const auto& s : c.partial) {
            receiver r(intn(c.bits));
            r.byte_by_byte(s);
            BOOST_TEST(r.received().empty()); // ("hello there" and "dzadz" are also lengths over 50: closed)
        }
    }
}

// test_illegal: each illegal string byte by byte closes the connection (a length over MAX_LENGTH 50).
BOOST_AUTO_TEST_CASE(illegal) {
    for (const auto& c : intn_cases()) {
        for (const auto& s : c.illegal) {
            receiver r(intn(c.bits));
            r.byte_by_byte(s);
            BOOST_TEST(r.closed, "Int" << c.bits << " \"" << escape(s) << "\"");
        }
    }
}

// test_send and test_data: push_length_prefixed writes the header Twisted writes, and the bytes Twisted reads are
// read.
namespace test_framing_twisted_cases {
struct sender : asynchat::async_chat {
    void collect_incoming_data(std::string_view) override {}
    void found_terminator() override {}
};
} // namespace test_framing_twisted_cases

BOOST_AUTO_TEST_CASE(send_and_data) {
    for (const auto& c : intn_cases()) {
        test_framing_twisted_cases::sender s;
        asynchat::string_transport t(s);
        const length_prefixed::format f{header_of(c.bits), byte_order::big, 0};
        s.push_length_prefixed(std::string(16, 'b'), f);
        BOOST_TEST(to_hex(t.written()) == to_hex(pack(c.bits, 16) + std::string(16, 'b')));
        s.push_length_prefixed("foo", f);
        BOOST_TEST(to_hex(t.written()) == to_hex(c.data_sent));
        receiver r(intn(c.bits));
        r.data_received(c.data_received);
        BOOST_TEST(r.received() == v({"ubar"}), boost::test_tools::per_element());
    }
}

// test_tooLongSend (Int8, Int16): a string too long for the prefix cannot be sent.
BOOST_AUTO_TEST_CASE(too_long_send) {
    for (int bits : {8, 16}) {
        const std::size_t too_long = (std::size_t{1} << bits) + 1;
        BOOST_CHECK_THROW(pack(bits, too_long), std::length_error);
        test_framing_twisted_cases::sender s;
        BOOST_CHECK_THROW(s.push_length_prefixed(std::string(too_long, 'b'), {header_of(bits), byte_order::big, 0}),
                          std::length_error);
    }
}

// test_lengthLimitExceeded: a prefix of MAX_LENGTH + 1 (10 + 1 there) is refused, reporting the length received.
BOOST_AUTO_TEST_CASE(length_limit_exceeded) {
    for (int bits : {8, 16, 32}) {
        framer f(intn(bits), 10);
        message_sink sink;
        try {
            f.feed(pack(bits, 11), sink);
            BOOST_ERROR("no message_too_long");
        } catch (const message_too_long& e) {
            BOOST_TEST(e.attempted() == 11u);
        }
    }
}

// test_longStringNotDelivered: the prefix and all of the too-long string in one read: the string is not
// delivered (ours: not one byte of it is collected).
BOOST_AUTO_TEST_CASE(long_string_not_delivered) {
    for (int bits : {8, 16, 32}) {
        receiver r(intn(bits), 10);
        r.data_received(pack(bits, 11) + std::string(11, 'x'));
        BOOST_TEST(r.closed);
        BOOST_TEST(r.received().empty());
        BOOST_TEST(r.sink.collect_calls == 0u);
    }
}

// The prefix split across reads at every place, for every size (IntN's "len(alldata) >= prefixLength" loop).
BOOST_AUTO_TEST_CASE(prefix_split_across_reads) {
    for (int bits : {8, 16, 32}) {
        const std::string msg = pack(bits, 3) + "abc" + pack(bits, 0) + pack(bits, 1) + "z";
        for (std::size_t cut = 0; cut <= msg.size(); ++cut) {
            receiver r(intn(bits));
            r.data_received(msg.substr(0, cut));
            r.data_received(msg.substr(cut));
            BOOST_TEST(r.received() == v({"abc", "", "z"}), boost::test_tools::per_element());
        }
    }
}

// RecvdAttributeMixin.test_switching: stringReceived consumes a 4-byte SWITCH marker that follows each string.
// Ours: found_terminator switches to a 4-byte count for the marker, and the marker's found_terminator back.
BOOST_AUTO_TEST_CASE(switching) {
    for (int bits : {8, 16, 32}) {
        const std::string marker("\0\0\0\0", 4);
        const std::vector<std::string> strings{"a", std::string(16, 'b')};
        std::string mix;
        for (const auto& s : strings) mix += pack(bits, s.size()) + s + marker;
        for (std::size_t n : packet_sizes()) {
            framer f(intn(bits));
            message_sink sink;
            bool in_marker = false;
            std::vector<std::string> result;
            sink.on_found = [&](message_sink& k) {
                if (in_marker) {
                    f.set_terminator(intn(bits));
                } else {
                    result.push_back(k.messages.back());
                    f.set_terminator(terminator::count(marker.size()));
                }
                in_marker = !in_marker;
            };
            feed_packets(f, sink, mix, n);
            f.feed("\x01", sink); // "just another byte": nothing was left over
            BOOST_TEST(result == strings, boost::test_tools::per_element());
            BOOST_TEST(to_hex(f.pending()) == (bits == 8 ? "" : "01"));
        }
    }
}

// RecvdAttributeMixin.test_recvdChanged: replacing the unparsed rest of the buffer from stringReceived. Ours:
// reset() drops the rest of the read and unread() supplies the replacement, framed at the next feed.
BOOST_AUTO_TEST_CASE(recvd_changed) {
    for (int bits : {8, 16, 32}) {
        const std::string a = pack(bits, 5) + "aaaaa", b = pack(bits, 5) + "bbbbb", c = pack(bits, 5) + "ccccc";
        framer f(intn(bits));
        message_sink sink;
        sink.on_found = [&](message_sink& k) {
            if (k.messages.size() == 1) {
                f.reset();
                f.unread(c);
            }
        };
        f.feed(a + b, sink);
        f.feed("", sink);
        BOOST_TEST(sink.messages == v({"aaaaa", "ccccc"}), boost::test_tools::per_element());
    }
}

// Not ported: test_recvdContainsRemainingData and test_recvdInLengthLimitExceeded read Twisted's internal buffer
// (recvd); the framer keeps no buffer to expose (the read's bytes are the caller's), only pending() between reads.

BOOST_AUTO_TEST_SUITE_END()
