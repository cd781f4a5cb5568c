// The framing rules (framer.hpp's framing_rule, framing_rules.hpp's ready-made ones) case by case: each rule's own
// behaviour in every packet size 1..9, switching between rules and the built-in kinds (inside found_terminator and
// from collect_incoming_data), framer::unread and reset with rules, max_message, framing errors, the contract a
// user rule must keep (std::logic_error, never a hang), and the rules through async_chat with string_transport.
// test_framing_rules_property.cpp compares them with reference models on random streams.
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include <asynchat/async_chat.hpp>
#include <asynchat/string_transport.hpp>

#include "framing_rules_test_util.hpp"

using namespace chat_test;
using asynchat::any_delimiter;
using asynchat::framer;
using asynchat::framing_error;
using asynchat::length_prefixed;
using asynchat::message_too_long;
using asynchat::netstring;
using asynchat::rule_step;
using asynchat::terminator;
using byte_order = asynchat::length_prefixed::byte_order;

namespace {

std::vector<std::string> v(std::initializer_list<std::string> l) { return l; }

// Runs s through a fresh framer with t in every packet size and checks the messages, the partial message and
// the bytes kept.
void expect_messages(const std::function<terminator()>& make, std::string_view s, const std::vector<std::string>& want,
                     std::string_view partial = {}, std::string_view pending = {}) {
    for (std::size_t n : packet_sizes()) {
        BOOST_TEST_CONTEXT("stream \"" << escape(s) << "\" in packets of " << n) {
            framer f(make());
            message_sink sink;
            feed_packets(f, sink, s, n);
            BOOST_TEST(sink.messages == want, boost::test_tools::per_element());
            BOOST_TEST(escape(sink.current) == escape(partial));
            BOOST_TEST(escape(f.pending()) == escape(pending));
            BOOST_TEST(sink.empty_collects == 0u);
        }
    }
}

// Feeds s in packets of n to a framer with t and max_message, expecting exception E after `want` messages.
template <class E>
void expect_error(const std::function<terminator()>& make, std::string_view s, const std::vector<std::string>& want,
                  std::size_t max_message = 0, std::string_view partial = {}) {
    for (std::size_t n : packet_sizes()) {
        BOOST_TEST_CONTEXT("stream \"" << escape(s) << "\" in packets of " << n << ", max_message " << max_message) {
            framer f(make(), max_message);
            message_sink sink;
            BOOST_CHECK_THROW(feed_packets(f, sink, s, n), E);
            BOOST_TEST(sink.messages == want, boost::test_tools::per_element());
            BOOST_TEST(escape(sink.current) == escape(partial));
            // The framer was reset: nothing kept, and the rule starts a new message.
            BOOST_TEST(f.pending().empty());
            BOOST_TEST(f.collected() == 0u);
        }
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(framing_rules_any_delimiter)

BOOST_AUTO_TEST_CASE(crlf_or_lf_longest_match_first) {
    auto t = [] { return terminator(any_delimiter::make({"\r\n", "\n"})); };
    // "a\r\n" is "a" (not "a\r" ended by "\n"); a bare CR inside a line is payload; adjacent delimiters are empty
    // messages; the trailing CR is kept, as it may start a CRLF.
    expect_messages(t, "a\r\nb\nc\rd\r\n\n\r\npartial\r", v({"a", "b", "c\rd", "", ""}), "partial", "\r");
}

BOOST_AUTO_TEST_CASE(order_of_the_list_does_not_matter) {
    auto t = [] { return terminator(any_delimiter::make({"\n", "\r\n"})); };
    expect_messages(t, "a\r\nb\n", v({"a", "b"}));
}

BOOST_AUTO_TEST_CASE(overlapping_delimiters_wait_for_the_longest) {
    // "b" is complete, but "ab" may still be "abc": the rule must wait, and then take whichever is earliest.
    auto t = [] { return terminator(any_delimiter::make({"abc", "b"})); };
    expect_messages(t, "xabcyabdzb", v({"x", "ya", "dz"}));
    expect_messages(t, "xab", {}, "x", "ab");
}

BOOST_AUTO_TEST_CASE(last_delimiter_says_which_one_ended_the_message) {
    auto rule = any_delimiter::make({"\r\n", "\n", "\0"sv});
    framer f(rule);
    message_sink sink;
    std::vector<std::size_t> which;
    sink.on_found = [&](message_sink&) { which.push_back(rule->last_delimiter()); };
    f.feed("a\nb\r\nc\0"sv, sink);
    BOOST_TEST(sink.messages == v({"a", "b", "c"}), boost::test_tools::per_element());
    BOOST_TEST(which == (std::vector<std::size_t>{1, 0, 2}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_delimiter_absent_from_a_large_read_is_still_correct) {
    // Many short messages in one read, one delimiter never occurring: the windowed search must still find every
    // message (the whole-input search it replaced was quadratic here).
    std::string s;
    for (int i = 0; i < 5000; ++i) s += "message " + std::to_string(i) + "\r\n";
    framer f(any_delimiter::make({"\r\n", "\0\0"sv}));
    message_sink sink;
    f.feed(s, sink);
    BOOST_REQUIRE_EQUAL(sink.messages.size(), 5000u);
    BOOST_TEST(sink.messages[4999] == "message 4999");
    // A message longer than the first search window, ended by the delimiter that comes second in the list.
    const std::string big(10000, 'x');
    f.feed(big + std::string("\0\0", 2) + "tail\r\n", sink);
    BOOST_REQUIRE_EQUAL(sink.messages.size(), 5002u);
    BOOST_TEST(sink.messages[5000] == big);
    BOOST_TEST(sink.messages[5001] == "tail");
}

BOOST_AUTO_TEST_CASE(bytes_unread_after_a_payload_are_searched_again) {
    // The rule remembers the delimiter it found after the payload it delivered; bytes put back from
    // collect_incoming_data come before that delimiter, so it must look again rather than skip it.
    for (const std::string& back : {"X\r\n"s, "\n"s, "\r"s}) {
        framer f(any_delimiter::make({"\r\n", "\n"}));
        message_sink sink;
        bool once = false;
        sink.on_collect = [&](message_sink&, std::string_view) {
            if (!std::exchange(once, true)) f.unread(back);
        };
        f.feed("ab\r\ncd\n", sink);
        const std::vector<std::string> want = back == "X\r\n" ? v({"abX", "", "cd"})
                                              : back == "\n"    ? v({"ab", "", "cd"})
                                                                : v({"ab\r", "cd"}); // "\r" + "\r\n"
        BOOST_TEST(sink.messages == want, boost::test_tools::per_element());
    }
}

BOOST_AUTO_TEST_CASE(bad_lists_are_rejected) {
    BOOST_CHECK_THROW(any_delimiter::make({}), std::invalid_argument);
    BOOST_CHECK_THROW(any_delimiter::make({"\r\n", ""}), std::invalid_argument);
    BOOST_TEST(show(terminator(any_delimiter::make({"\r\n", "\n"}))) == "any_delimiter(b'\\r\\n', b'\\n')");
}

BOOST_AUTO_TEST_CASE(bounded_by_max_message_while_bytes_arrive) {
    // No delimiter ever comes: the bound stops the stream as it arrives, and no collect goes past it.
    for (std::size_t n : packet_sizes()) {
        framer f(any_delimiter::make({"\r\n", "\n"}), 10);
        message_sink sink;
        BOOST_CHECK_THROW(feed_packets(f, sink, "0123456789\r\n0123456789a", n), message_too_long);
        BOOST_TEST(sink.messages == v({"0123456789"}), boost::test_tools::per_element());
        BOOST_TEST(sink.current.size() <= 10u);
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(framing_rules_length_prefixed)

BOOST_AUTO_TEST_CASE(every_header_size_and_byte_order) {
    for (std::size_t h : {1, 2, 4, 8}) {
        for (auto order : {byte_order::big, byte_order::little}) {
            BOOST_TEST_CONTEXT("header " << h << (order == byte_order::big ? " big" : " little")) {
                const std::string payload(200, 'p');
                auto t = [&] { return terminator(length_prefixed::make(h, order)); };
                expect_messages(t, lp("hello", h, order) + lp("", h, order) + lp(payload, h, order) + lp("a\r\n", h, order),
                                v({"hello", "", payload, "a\r\n"}));
                // A partial header is kept; a partial payload is collected as it arrives.
                const std::string head = lp("abc", h, order);
                expect_messages(t, head.substr(0, h - 1), {}, "", head.substr(0, h - 1));
                expect_messages(t, head.substr(0, h + 2), {}, "ab", "");
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(header_bytes_are_what_the_wire_says) {
    using F = length_prefixed::format;
    BOOST_TEST(to_hex(length_prefixed::header(3, F{4, byte_order::big, 0})) == "00000003");
    BOOST_TEST(to_hex(length_prefixed::header(0x0102, F{2, byte_order::little, 0})) == "0201");
    BOOST_TEST(to_hex(length_prefixed::header(1, F{8, byte_order::big, 0})) == "0000000000000001");
    BOOST_TEST(to_hex(length_prefixed::header(255, F{1, byte_order::big, 0})) == "ff");
    // A field that counts the header (adjustment -4): 3 payload bytes are announced as 7.
    BOOST_TEST(to_hex(length_prefixed::header(3, F{4, byte_order::big, -4})) == "00000007");
    BOOST_CHECK_THROW(length_prefixed::header(256, F{1, byte_order::big, 0}), std::length_error);
    BOOST_CHECK_THROW(length_prefixed::header(65536, F{2, byte_order::big, 0}), std::length_error);
    BOOST_CHECK_THROW(length_prefixed::header(252, F{1, byte_order::big, -4}), std::length_error);
    BOOST_CHECK_THROW(length_prefixed::header(1, F{2, byte_order::big, 2}), std::length_error);
    BOOST_CHECK_NO_THROW(length_prefixed::header(65535, F{2, byte_order::big, 0}));
    // A length the adjustment would take past 64 bits, and a format no rule could have (it is a plain struct).
    BOOST_CHECK_THROW(length_prefixed::header(SIZE_MAX, F{8, byte_order::big, -8}), std::length_error);
    BOOST_CHECK_THROW(length_prefixed::header(1, F{16, byte_order::big, 0}), std::invalid_argument);
    BOOST_CHECK_THROW(length_prefixed::header(1, F{3, byte_order::big, 0}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(length_adjustment_for_fields_that_count_the_header) {
    auto counts_itself = [] { return terminator(length_prefixed::make(4, byte_order::big, -4)); };
    expect_messages(counts_itself, lp("hello", 4, byte_order::big, -4) + lp("", 4, byte_order::big, -4),
                    v({"hello", ""}));
    BOOST_TEST(to_hex(lp("", 4, byte_order::big, -4)) == "00000004");
    // A field smaller than the header it counts cannot be: a framing error, not a huge unsigned length.
    expect_error<framing_error>(counts_itself, lp("ok", 4, byte_order::big, -4) + std::string("\0\0\0\3", 4), v({"ok"}));
    // A positive adjustment: the field leaves out a fixed trailer that belongs to the payload.
    auto plus_two = [] { return terminator(length_prefixed::make(2, byte_order::big, 2)); };
    expect_messages(plus_two, std::string("\0\1abc\0\0xy", 9), v({"abc", "xy"}));
    // An 8-byte field that the adjustment would overflow.
    auto plus_one8 = [] { return terminator(length_prefixed::make(8, byte_order::big, 1)); };
    expect_error<framing_error>(plus_one8, std::string(8, '\xff'), {});
}

BOOST_AUTO_TEST_CASE(length_over_max_message_is_refused_before_any_payload) {
    for (std::size_t h : {1, 2, 4, 8}) {
        auto t = [&] { return terminator(length_prefixed::make(h)); };
        const std::string over = length_prefixed::header(11, {h, byte_order::big, 0});
        // Only the header, or the header with all of its payload in the same read: never collected either way.
        expect_error<message_too_long>(t, lp("ten bytes!", h) + over, v({"ten bytes!"}), 10);
        expect_error<message_too_long>(t, over + std::string(11, 'x') + lp("z", h), {}, 10);
        // At the bound exactly it is accepted.
        expect_messages([&] { return terminator(length_prefixed::make(h)); }, lp("ten bytes!", h), v({"ten bytes!"}));
        framer f(length_prefixed::make(h), 10);
        message_sink sink;
        try {
            f.feed(over, sink);
            BOOST_ERROR("no message_too_long");
        } catch (const message_too_long& e) {
            BOOST_TEST(e.limit() == 10u);
            BOOST_TEST(e.attempted() == 11u); // the length announced
        }
        BOOST_TEST(sink.collect_calls == 0u);
    }
    // The largest 8-byte length: refused, and the attempted length saturates instead of wrapping.
    framer f(length_prefixed::make(8), 1 << 20);
    message_sink sink;
    try {
        f.feed(std::string(8, '\xff'), sink);
        BOOST_ERROR("no message_too_long");
    } catch (const message_too_long& e) {
        BOOST_TEST(e.attempted() == std::numeric_limits<std::size_t>::max());
    }
}

BOOST_AUTO_TEST_CASE(a_huge_length_without_a_bound_allocates_nothing) {
    // max_message 0 (unlimited): the rule counts the payload down as it arrives; nothing is reserved for it.
    framer f(length_prefixed::make(8));
    message_sink sink;
    f.feed(std::string("\x7f\xff\xff\xff\xff\xff\xff\xff", 8) + "abc", sink);
    BOOST_TEST(sink.current == "abc");
    BOOST_TEST(f.pending().empty());
    BOOST_TEST(sink.messages.empty());
}

BOOST_AUTO_TEST_CASE(bad_header_sizes_are_rejected) {
    for (std::size_t h : {0, 3, 5, 16}) BOOST_CHECK_THROW(length_prefixed::make(h), std::invalid_argument);
    BOOST_TEST(show(terminator(length_prefixed::make(2, byte_order::little))) == "length_prefixed(2, little)");
    BOOST_TEST(show(terminator(length_prefixed::make(4, byte_order::big, -4))) == "length_prefixed(4, big, -4)");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(framing_rules_netstring)

auto netstrings() { return terminator(netstring::make()); }

BOOST_AUTO_TEST_CASE(valid_netstrings) {
    const std::string big(1234, 'n');
    expect_messages(netstrings, "5:hello,0:,4:1:a,,3:\r\n:," + ns(big) + "3:ab", v({"hello", "", "1:a,", "\r\n:", big}),
                    "ab");
    expect_messages(netstrings, "12", {}, "", "12");   // digits are kept until the ':'
    expect_messages(netstrings, "2:ab", {}, "ab", ""); // the comma is still to come
    BOOST_TEST(ns("hello") == "5:hello,");
    BOOST_TEST(ns("") == "0:,");
}

BOOST_AUTO_TEST_CASE(illegal_netstrings_close_rather_than_hang) {
    expect_error<framing_error>(netstrings, "05:hello,", {});   // a leading zero
    expect_error<framing_error>(netstrings, "00:,", {});
    expect_error<framing_error>(netstrings, ":aaa,", {});       // no length
    expect_error<framing_error>(netstrings, "3aaa,", {});       // no colon
    expect_error<framing_error>(netstrings, "aaa", {});         // only data
    expect_error<framing_error>(netstrings, "-1:a,", {});
    expect_error<framing_error>(netstrings, "1:a,2:aaa,", v({"a"}), 0, "aa"); // a missing comma, after the payload
    expect_error<framing_error>(netstrings, "0:a,", {});
    // A length too long to parse: 21 digits, or 20 that overflow 64 bits. Refused as the digits arrive, with at
    // most 20 of them ever kept.
    expect_error<framing_error>(netstrings, "123456789012345678901", {});
    expect_error<framing_error>(netstrings, "99999999999999999999", {});
    expect_messages(netstrings, "18446744073709551615", {}, "", "18446744073709551615");
}

BOOST_AUTO_TEST_CASE(length_over_max_message_is_refused_as_soon_as_its_digits_say_so) {
    expect_error<message_too_long>(netstrings, "5:hello,51:" + std::string(51, 'a') + ",", v({"hello"}), 50);
    expect_messages(netstrings, ns(std::string(50, 'a')), v({std::string(50, 'a')}));
    // An endless run of digits is refused at the second one (99 > 50), not when a ':' arrives.
    framer f(netstring::make(), 50);
    message_sink sink;
    f.feed("9", sink);
    try {
        f.feed("9", sink);
        BOOST_ERROR("no message_too_long");
    } catch (const message_too_long& e) {
        BOOST_TEST(e.attempted() == 99u);
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(framing_rules_user_rule)

BOOST_AUTO_TEST_CASE(typed_frames_in_every_packet_size) {
    const std::string s = std::string("\x01\x00\x05hello\x02\x00\x00\x07\x01\x00", 14) + std::string(256, 'z') + "\x03\x00";
    for (std::size_t n : packet_sizes()) {
        auto rule = std::make_shared<typed_frames>();
        framer f(rule);
        message_sink sink;
        std::vector<int> types;
        sink.on_found = [&](message_sink&) { types.push_back(rule->type()); };
        feed_packets(f, sink, s, n);
        BOOST_TEST(sink.messages == v({"hello", "", std::string(256, 'z')}), boost::test_tools::per_element());
        BOOST_TEST(types == (std::vector<int>{1, 2, 7}), boost::test_tools::per_element());
        BOOST_TEST(escape(f.pending()) == escape("\x03\x00"));
    }
    expect_error<message_too_long>([] { return terminator(std::make_shared<typed_frames>()); },
                                   std::string("\x01\x00\x0bhello world", 14), {}, 10);
}

// Rules that break the contract: each is std::logic_error from feed, never a hang or an out-of-bounds read.
struct scripted_rule final : asynchat::framing_rule {
    std::function<rule_step(std::string_view)> step;
    std::size_t hold_limit = 4;
    rule_step next(std::string_view input, std::size_t) override { return step(input); }
    std::size_t max_hold() const noexcept override { return hold_limit; }
    void start() noexcept override {}
    std::string describe() const override { return "scripted"; }
};

BOOST_AUTO_TEST_CASE(contract_violations_are_logic_errors) {
    auto feed_with = [](std::function<rule_step(std::string_view)> step, std::string_view input,
                        std::size_t hold_limit = 4) {
        auto rule = std::make_shared<scripted_rule>();
        rule->step = std::move(step);
        rule->hold_limit = hold_limit;
        framer f(rule);
        message_sink sink;
        f.feed(input, sink);
    };
    // Holds max_hold() bytes or more: the framer would keep an unbounded amount.
    BOOST_CHECK_THROW(feed_with([](std::string_view) { return rule_step::hold(); }, "abcd"), std::logic_error);
    // Ends a message without consuming anything: would loop for ever.
    BOOST_CHECK_THROW(feed_with([](std::string_view) { return rule_step::end(); }, "abc"), std::logic_error);
    // Steps over bytes it was not given, or over none.
    BOOST_CHECK_THROW(feed_with([](std::string_view i) { return rule_step::deliver(i.size() + 1); }, "abc"),
                      std::logic_error);
    BOOST_CHECK_THROW(feed_with([](std::string_view i) { return rule_step::skip(i.size() + 1); }, "abc"),
                      std::logic_error);
    BOOST_CHECK_THROW(feed_with([](std::string_view) { return rule_step::deliver(0); }, "abc"), std::logic_error);
    BOOST_CHECK_THROW(feed_with([](std::string_view) { return rule_step::skip(0); }, "abc"), std::logic_error);
    // Within the contract: holding fewer than max_hold() bytes, and holding nothing even when max_hold() is 0.
    BOOST_CHECK_NO_THROW(feed_with([](std::string_view) { return rule_step::hold(); }, "abc"));
    BOOST_CHECK_NO_THROW(feed_with(
        [](std::string_view i) { return i.empty() ? rule_step::hold() : rule_step::deliver(i.size()); }, "abc", 0));
}

BOOST_AUTO_TEST_CASE(fail_is_a_framing_error_with_the_rules_reason_and_resets) {
    auto rule = std::make_shared<scripted_rule>();
    rule->step = [](std::string_view i) {
        if (i.find('X') != std::string_view::npos) return rule_step::fail("an X");
        return i.size() < 2 ? rule_step::hold() : rule_step::deliver(1);
    };
    framer f(rule);
    message_sink sink;
    f.feed("ab", sink);
    BOOST_TEST(f.pending() == "b");
    try {
        f.feed("X", sink);
        BOOST_ERROR("no framing_error");
    } catch (const framing_error& e) {
        BOOST_TEST(std::string(e.what()).find("an X") != std::string::npos);
    }
    BOOST_TEST(sink.current == "a");
    BOOST_TEST(f.pending().empty());
    BOOST_TEST(f.collected() == 0u);
    BOOST_TEST(f.get_terminator().get_rule() == rule.get()); // the terminator is kept, as reset() keeps it
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(framing_rules_switching)

// A line protocol whose "BIN n" line announces a binary section framed by a rule, then back to lines: the rule is
// set inside found_terminator and applies to the bytes already received in the same read.
BOOST_AUTO_TEST_CASE(lines_then_a_rule_then_lines_inside_found_terminator) {
    const std::string s = "hello\r\nBIN 2\r\n" + lp("a\r\nb", 2) + lp("", 2) + "bye\r\n" + "NS\r\n" + ns("x\r\n") + "end\r\n";
    for (std::size_t n : packet_sizes()) {
        framer f("\r\n");
        message_sink sink;
        int frames_left = 0;
        sink.on_found = [&](message_sink& k) {
            const std::string& m = k.messages.back();
            if (frames_left > 0) {
                if (--frames_left == 0) f.set_terminator("\r\n");
            } else if (m.starts_with("BIN ")) {
                frames_left = std::stoi(m.substr(4));
                f.set_terminator(length_prefixed::make(2));
            } else if (m == "NS") {
                frames_left = 1;
                f.set_terminator(netstring::make());
            }
        };
        feed_packets(f, sink, s, n);
        BOOST_TEST(sink.messages == v({"hello", "BIN 2", "a\r\nb", "", "bye", "NS", "x\r\n", "end"}),
                   boost::test_tools::per_element());
        BOOST_TEST(f.pending().empty());
    }
}

BOOST_AUTO_TEST_CASE(rule_to_rule_and_to_counts_inside_found_terminator) {
    // Each message says what frames the next one.
    const std::string s = ns("lp1") + lp("count", 1) + "abc" + ns("any") + "x\ny\r\n" + ns("done");
    for (std::size_t n : packet_sizes()) {
        framer f(netstring::make());
        message_sink sink;
        sink.on_found = [&](message_sink& k) {
            const std::string& m = k.messages.back();
            if (m == "lp1") f.set_terminator(length_prefixed::make(1));
            else if (m == "count") f.set_terminator(terminator::count(3));
            else if (m == "abc") f.set_terminator(netstring::make());
            else if (m == "any") f.set_terminator(any_delimiter::make({"\r\n", "\n"}));
            else if (m == "y") f.set_terminator(netstring::make());
        };
        feed_packets(f, sink, s, n);
        BOOST_TEST(sink.messages == v({"lp1", "count", "abc", "any", "x", "y", "done"}),
                   boost::test_tools::per_element());
    }
}

BOOST_AUTO_TEST_CASE(leaving_a_rule_from_collect_incoming_data) {
    // A header-only frame: its one-digit payload is the length of a raw count that follows. The protocol switches
    // in collect_incoming_data as soon as it has that payload, so the rule's found_terminator never comes and the
    // bytes after it are framed by the count; the count's found_terminator sets the rule again.
    const std::string s = lp("3", 1) + "a\r\n" + lp("5", 1) + "01234" + lp("1", 1) + "z" + lp("2", 1) + "x";
    for (std::size_t n : packet_sizes()) {
        framer f(length_prefixed::make(1));
        message_sink sink;
        bool in_rule = true;
        sink.on_collect = [&](message_sink& k, std::string_view) {
            if (!in_rule) return;
            in_rule = false;
            const std::size_t count = std::stoul(k.current);
            k.messages.push_back("len " + std::exchange(k.current, std::string()));
            f.set_terminator(terminator::count(count));
        };
        sink.on_found = [&](message_sink&) {
            f.set_terminator(length_prefixed::make(1));
            in_rule = true;
        };
        feed_packets(f, sink, s, n);
        BOOST_TEST(sink.messages == v({"len 3", "a\r\n", "len 5", "01234", "len 1", "z", "len 2"}),
                   boost::test_tools::per_element());
        BOOST_TEST(sink.current == "x");
        BOOST_TEST(f.get_terminator().remaining() == 1u);
    }
}

BOOST_AUTO_TEST_CASE(set_between_feeds_frames_the_kept_bytes) {
    // A partial header kept by length_prefixed, then a delimiter set from outside: the kept bytes are framed by
    // the delimiter, as Python frames its ac_in_buffer by a new terminator.
    framer f(length_prefixed::make(4));
    message_sink sink;
    f.feed(std::string("ab\r", 3), sink);
    BOOST_TEST(f.pending() == "ab\r");
    f.set_terminator("\r\n");
    f.feed("\ncd\r\n", sink);
    BOOST_TEST(sink.messages == v({"ab", "cd"}), boost::test_tools::per_element());
    // The other way: a partial delimiter kept, then a rule.
    f.feed("\r", sink);
    BOOST_TEST(f.pending() == "\r");
    f.set_terminator(length_prefixed::make(1));
    f.feed("xyz", sink); // '\r' is a length of 13: "xyz" is its start
    BOOST_TEST(sink.current == "xyz");
}

BOOST_AUTO_TEST_CASE(setting_the_same_rule_again_restarts_it) {
    auto rule = length_prefixed::make(1);
    framer f(rule);
    message_sink sink;
    f.feed("\x05he", sink);
    f.set_terminator(rule); // start(): the message in progress is forgotten
    sink.current.clear();
    f.feed("\x02ok", sink);
    BOOST_TEST(sink.messages == v({"ok"}), boost::test_tools::per_element());
    BOOST_TEST((f.get_terminator() == terminator(rule)));
    BOOST_TEST(!(f.get_terminator() == terminator(length_prefixed::make(1)))); // another object, another terminator
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(framing_rules_unread_and_reset)

BOOST_AUTO_TEST_CASE(raw_mode_to_a_rule_with_the_rest_unread) {
    // Twisted's setLineMode(extra), with a rule: raw bytes until a '!', then netstrings from the byte after it.
    const std::string s = "raw bytes!" + ns("hello") + ns("!") + "12";
    for (std::size_t n : packet_sizes()) {
        framer f(terminator::none());
        message_sink sink;
        bool raw = true;
        std::string raw_bytes;
        sink.on_collect = [&](message_sink& k, std::string_view d) {
            if (!raw) return;
            k.current.clear();
            const std::size_t bang = d.find('!');
            raw_bytes.append(d.substr(0, bang));
            if (bang == std::string_view::npos) return;
            raw = false;
            f.set_terminator(netstring::make());
            f.unread(d.substr(bang + 1));
        };
        feed_packets(f, sink, s, n);
        BOOST_TEST(raw_bytes == "raw bytes");
        BOOST_TEST(sink.messages == v({"hello", "!"}), boost::test_tools::per_element());
        BOOST_TEST(f.pending() == "12");
    }
}

BOOST_AUTO_TEST_CASE(unread_inside_found_terminator_is_framed_next) {
    const std::string s = lp("one", 2) + lp("two", 2) + lp("three", 2);
    for (std::size_t n : packet_sizes()) {
        framer f(length_prefixed::make(2));
        message_sink sink;
        sink.on_found = [&](message_sink& k) {
            if (k.messages.size() == 1) f.unread(lp("inserted", 2) + lp("", 2));
        };
        feed_packets(f, sink, s, n);
        BOOST_TEST(sink.messages == v({"one", "inserted", "", "two", "three"}), boost::test_tools::per_element());
    }
}

BOOST_AUTO_TEST_CASE(unread_when_a_payload_completes_in_collect_incoming_data) {
    // The bytes go in front of the rest of the input and the rule (still in its message) reads them next: its
    // message ends, and the unread bytes are the next frame.
    const std::string s = lp("hello", 1) + lp("rest", 1);
    for (std::size_t n : packet_sizes()) {
        framer f(length_prefixed::make(1));
        message_sink sink;
        bool done = false;
        sink.on_collect = [&](message_sink& k, std::string_view) {
            if (!done && k.current == "hello") {
                done = true;
                f.unread(lp("hi", 1));
            }
        };
        feed_packets(f, sink, s, n);
        BOOST_TEST(sink.messages == v({"hello", "hi", "rest"}), boost::test_tools::per_element());
    }
}

BOOST_AUTO_TEST_CASE(unread_outside_a_callback_goes_before_the_kept_bytes) {
    framer f(length_prefixed::make(4));
    message_sink sink;
    f.feed(std::string("\0\0", 2), sink);
    f.unread(lp("first"));
    f.feed(std::string("\0\2ok", 4), sink);
    BOOST_TEST(sink.messages == v({"first", "ok"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(reset_restarts_the_rule) {
    // Outside a callback (discard_buffers mid-message) and inside found_terminator (the rest of the read dropped).
    framer f(length_prefixed::make(2));
    message_sink sink;
    f.feed(std::string("\0\5he", 4), sink);
    f.reset();
    sink.current.clear();
    f.feed(lp("ok", 2), sink);
    BOOST_TEST(sink.messages == v({"ok"}), boost::test_tools::per_element());

    // Inside found_terminator: the rest of that read is dropped (discard_buffers), and the rule starts afresh.
    framer g(netstring::make());
    message_sink k;
    k.on_found = [&](message_sink& m) {
        if (m.messages.size() == 1) g.reset();
    };
    g.feed(ns("a") + "3:ab", k);
    BOOST_TEST(k.current.empty());
    BOOST_TEST(g.pending().empty());
    g.feed(ns("b"), k);
    BOOST_TEST(k.messages == v({"a", "b"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

// ---- through async_chat, with string_transport

namespace test_framing_rules {

// Echoes every frame back in the same framing: what a protocol reads, it writes with the matching push helper.
class frame_echo : public asynchat::async_chat {
public:
    explicit frame_echo(bool netstrings, length_prefixed::format f = {}) : netstrings_(netstrings), format_(f) {
        if (netstrings) set_terminator(netstring::make());
        else set_terminator(std::make_shared<length_prefixed>(f));
    }
    std::vector<std::string> frames;
    void collect_incoming_data(std::string_view data) override { frame_.append(data); }
    void found_terminator() override {
        frames.push_back(std::exchange(frame_, std::string()));
        if (netstrings_) push_netstring(frames.back());
        else push_length_prefixed(frames.back(), format_);
    }

private:
    bool netstrings_;
    length_prefixed::format format_;
    std::string frame_;
};

} // namespace test_framing_rules

BOOST_AUTO_TEST_SUITE(framing_rules_async_chat)

BOOST_AUTO_TEST_CASE(echo_round_trips_through_push_length_prefixed_and_push_netstring) {
    using test_framing_rules::frame_echo;
    const std::vector<std::string> payloads{"hello", "", "a\r\nb", std::string(300, 'x'), ":,"};
    const std::vector<length_prefixed::format> formats{
        {1, byte_order::big, 0}, {2, byte_order::big, 0}, {4, byte_order::little, 0}, {8, byte_order::big, 0},
        {4, byte_order::big, -4}};
    for (std::size_t n : packet_sizes()) {
        for (const auto& fmt : formats) {
            if (fmt.header_bytes == 1) continue; // 300 bytes do not fit a 1-byte length
            frame_echo chat(false, fmt);
            asynchat::string_transport t(chat);
            std::string in;
            for (const auto& p : payloads) in += length_prefixed::header(p.size(), fmt) + p;
            t.receive(in, n);
            BOOST_TEST(chat.frames == payloads, boost::test_tools::per_element());
            BOOST_TEST(chat_test::to_hex(t.written()) == chat_test::to_hex(in)); // written exactly as read
        }
        frame_echo chat(true);
        asynchat::string_transport t(chat);
        std::string in;
        for (const auto& p : payloads) in += ns(p);
        t.receive(in, n);
        BOOST_TEST(chat.frames == payloads, boost::test_tools::per_element());
        BOOST_TEST(t.written() == in);
    }
}

BOOST_AUTO_TEST_CASE(errors_reach_the_channel_from_handle_incoming) {
    // Over a socket these go to handle_error, which closes the channel (test_async_chat.cpp covers that path).
    using test_framing_rules::frame_echo;
    frame_echo chat(true);
    chat.set_max_message(8);
    asynchat::string_transport t(chat);
    BOOST_CHECK_THROW(t.receive("9:"), message_too_long);
    frame_echo other(true);
    asynchat::string_transport u(other);
    BOOST_CHECK_THROW(u.receive("1:ab"), framing_error);
    BOOST_TEST(other.frames.empty());
}

BOOST_AUTO_TEST_SUITE_END()
