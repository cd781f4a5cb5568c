// framer's on_overflow::discard (issue 11, input limits): a message over max_message is reported once through
// framer_sink::message_length_exceeded as soon as the bound is crossed, the rest of it is dropped, and the next
// message is delivered as usual — for every terminator kind, however the stream is segmented. This is the
// defence against a peer that sends an endless line (memory exhaustion by an unterminated message, the
// "long line" denial of service Twisted's lineLengthExceeded and Netty's TooLongFrameException exist for) without
// giving up the connection.
#include <cstdlib>
#include <string>
#include <vector>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <asynchat/framing_rules.hpp>

#include "chat_test_util.hpp"

using namespace chat_test;
using asynchat::on_overflow;
using asynchat::terminator;
namespace bdata = boost::unit_test::data;

namespace {

// Records messages as the protocol sees them: the pieces of a message dropped in message_length_exceeded (as
// the hook's contract asks), and an 'X' event for each over-long one. Also checks the bound itself: no message
// the sink holds ever exceeds max_message.
struct discard_recorder : asynchat::framer_sink {
    asynchat::framer* framer = nullptr;
    std::size_t max_message = 0;
    std::string current;
    std::vector<std::string> ev;   // "D<bytes>" then "F" per message, "X" per over-long message
    std::vector<std::size_t> lengths;   // what each message_length_exceeded was told
    terminator reset_count;             // count terminators: set again in found_terminator, as a protocol would
    std::size_t held_too_much = 0;

    void collect_incoming_data(std::string_view d) override {
        current.append(d);
        if (current.size() > max_message) ++held_too_much;
    }
    void found_terminator() override {
        if (!current.empty()) ev.push_back("D" + std::exchange(current, {}));
        ev.push_back("F");
        if (reset_count.is_count()) framer->set_terminator(reset_count);
    }
    void message_length_exceeded(std::size_t length) override {
        current.clear();
        ev.push_back("X");
        lengths.push_back(length);
    }
};

struct discard_result {
    std::vector<std::string> ev;
    std::vector<std::size_t> lengths;
    std::string tail;   // the sink's partial message at the end
    std::size_t held_too_much = 0;
};

discard_result run_discard(const terminator& t, std::size_t max, const std::vector<std::string>& chunks) {
    asynchat::framer f(t, 0);
    f.set_max_message(max, on_overflow::discard);
    discard_recorder r;
    r.framer = &f;
    r.max_message = max;
    if (t.is_count()) r.reset_count = t;
    for (const auto& c : chunks) f.feed(c, r);
    return {std::move(r.ev), std::move(r.lengths), std::move(r.current), r.held_too_much};
}

std::string join(const std::vector<std::string>& ev) {
    std::string out;
    for (const auto& e : ev) out += escape(e) + ' ';
    return out;
}

std::vector<std::string> random_cuts(rng_t& rng, std::string_view s) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = 1 + pick(rng, 12);
        out.emplace_back(s.substr(i, n));
        i += n;
    }
    return out;
}

// Every segmentation a test checks: byte by byte up to 9-byte pieces, then random cuts.
std::vector<std::vector<std::string>> segmentations(std::string_view s, std::uint64_t seed) {
    std::vector<std::vector<std::string>> out;
    for (std::size_t n = 1; n <= 9; ++n) out.push_back(packets(s, n));
    out.push_back({std::string(s)});
    rng_t rng(seed);
    for (int i = 0; i < 5; ++i) out.push_back(random_cuts(rng, s));
    return out;
}

void check_every_segmentation(const terminator& t, std::size_t max, std::string_view stream,
                              const std::vector<std::string>& expected, std::string_view expected_tail = {}) {
    for (const auto& chunks : segmentations(stream, 7)) {
        const discard_result r = run_discard(t, max, chunks);
        BOOST_TEST_CONTEXT("terminator " << show(t) << " max " << max << " pieces " << chunks.size()) {
            BOOST_TEST(join(r.ev) == join(expected));
            BOOST_TEST(escape(r.tail) == escape(expected_tail));
            BOOST_TEST(r.held_too_much == 0u);
            for (std::size_t len : r.lengths) BOOST_TEST(len > max);
        }
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(framer_discard)

BOOST_AUTO_TEST_CASE(default_mode_is_close) {
    asynchat::framer f("\r\n", 4);
    BOOST_TEST((f.overflow_mode() == on_overflow::close));
    discard_recorder r;
    r.max_message = 4;
    BOOST_CHECK_THROW(f.feed("hello\r\n", r), asynchat::message_too_long);
}

BOOST_AUTO_TEST_CASE(delimiter_drops_the_long_line_and_goes_on) {
    check_every_segmentation(terminator("\r\n"), 4, "ab\r\nTOOLONG\r\ncd\r\n\r\nxyzzy\r\nok\r\n",
                             {"Dab", "F", "X", "Dcd", "F", "F", "X", "Dok", "F"});
}

BOOST_AUTO_TEST_CASE(long_delimiter_split_everywhere) {
    // The over-long message ends with a delimiter that itself begins inside the dropped bytes' last piece.
    check_every_segmentation(terminator("\r\n.\r\n"), 3, "abc\r\n.\r\n\r\n\r\n\r\n.\r\nx\r\n.\r\n",
                             {"Dabc", "F", "X", "Dx", "F"});
}

BOOST_AUTO_TEST_CASE(count_drops_the_rest_of_the_count) {
    // Each 5-byte message is over a bound of 4; found_terminator is not called for them, so the framer sets the
    // same count again itself and the stream stays in step.
    check_every_segmentation(terminator::count(5), 4, "aaaaabbbbbccccc", {"X", "X", "X"});
    check_every_segmentation(terminator::count(5), 5, "aaaaabbbbb", {"Daaaaa", "F", "Dbbbbb", "F"});
}

BOOST_AUTO_TEST_CASE(count_overflow_keeps_the_count) {
    asynchat::framer f(terminator::count(6), 0);
    f.set_max_message(3, on_overflow::discard);
    discard_recorder r;
    r.max_message = 3;
    f.feed("123456", r);
    BOOST_TEST(join(r.ev) == "X ");
    BOOST_TEST(f.get_terminator().remaining() == 6u);
    BOOST_TEST(!f.discarding());
}

BOOST_AUTO_TEST_CASE(no_terminator_drops_the_rest_of_the_stream) {
    check_every_segmentation(terminator::none(), 4, "abcdefghijkl", {"X"});
    // set_terminator ends the discard.
    asynchat::framer f(terminator::none(), 0);
    f.set_max_message(2, on_overflow::discard);
    discard_recorder r;
    r.max_message = 2;
    f.feed("abc", r);
    BOOST_TEST(f.discarding());
    f.set_terminator("\n");
    BOOST_TEST(!f.discarding());
    f.feed("ok\n", r);
    BOOST_TEST(join(r.ev) == "X Dok F ");
}

BOOST_AUTO_TEST_CASE(length_prefixed_payload_skipped_uncollected) {
    // The 2-byte header announces 10 bytes, over the bound of 4: reported with the announced length, before any
    // payload, and the payload is stepped over as it arrives.
    const std::string stream = "\x00\x02hi"s + "\x00\x0a"s + "0123456789" + "\x00\x03"s + "abc";
    check_every_segmentation(asynchat::length_prefixed::make(2), 4, stream, {"Dhi", "F", "X", "Dabc", "F"});
    const auto r = run_discard(asynchat::length_prefixed::make(2), 4, {"\x00\x0a"s});
    BOOST_TEST(join(r.ev) == "X ");
    BOOST_TEST(r.lengths == std::vector<std::size_t>{10}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(netstring_payload_skipped_uncollected) {
    check_every_segmentation(asynchat::netstring::make(), 3, "2:hi,12:hello world!,3:abc,0:,",
                             {"Dhi", "F", "X", "Dabc", "F", "F"});
    // Reported at the digit that crosses the bound, before the ':' arrives.
    const auto r = run_discard(asynchat::netstring::make(), 3, {"12"});
    BOOST_TEST(join(r.ev) == "X ");
}

BOOST_AUTO_TEST_CASE(netstring_out_of_step_after_discard_still_fails) {
    // A discard does not excuse a broken frame: the ',' after the dropped payload is still checked.
    asynchat::framer f(asynchat::netstring::make(), 0);
    f.set_max_message(2, on_overflow::discard);
    discard_recorder r;
    r.max_message = 2;
    BOOST_CHECK_THROW(f.feed("5:helloX", r), asynchat::framing_error);
}

BOOST_AUTO_TEST_CASE(any_delimiter_rule_discards_to_its_delimiter) {
    check_every_segmentation(asynchat::any_delimiter::make({"\r\n", "\n"}), 4, "ab\nTOOLONG\r\ncd\r\n",
                             {"Dab", "F", "X", "Dcd", "F"});
}

BOOST_AUTO_TEST_CASE(bound_holds_while_bytes_arrive) {
    // 1 MiB of a line that never ends: the hook fires once, at the crossing, and nothing beyond the bound is
    // ever held by the sink (the framer keeps at most a partial delimiter).
    asynchat::framer f("\r\n", 0);
    f.set_max_message(1000, on_overflow::discard);
    discard_recorder r;
    r.max_message = 1000;
    const std::string chunk(4096, 'a');
    for (int i = 0; i < 256; ++i) f.feed(chunk, r);
    BOOST_TEST(join(r.ev) == "X ");
    BOOST_TEST(r.lengths.size() == 1u);
    BOOST_TEST(r.lengths[0] > 1000u);
    BOOST_TEST(r.current.empty());
    BOOST_TEST(f.pending().size() < 2u);
    f.feed("\r\nnext\r\n", r);
    BOOST_TEST(join(r.ev) == "X Dnext F ");
}

BOOST_AUTO_TEST_CASE(hook_may_reset) {
    struct resetting : discard_recorder {
        void message_length_exceeded(std::size_t n) override {
            discard_recorder::message_length_exceeded(n);
            framer->reset();   // discard_buffers: the rest of this read is dropped
        }
    } r;
    asynchat::framer f("\n", 0);
    f.set_max_message(2, on_overflow::discard);
    r.framer = &f;
    r.max_message = 2;
    f.feed("abc\nde\n", r);
    BOOST_TEST(join(r.ev) == "X ");
    BOOST_TEST(!f.discarding());
    f.feed("de\n", r);
    BOOST_TEST(join(r.ev) == "X Dde F ");
}

// Reference model: the whole stream framed at once with naive searches. A message longer than max is one 'X';
// for a delimiter, the bytes after the last delimiter are a message in progress: over max (not counting a
// possible delimiter start at the very end, which the framer keeps back) they are an 'X', else the sink's tail.
struct model_out {
    std::vector<std::string> ev;
    std::string tail;
};

model_out delimiter_model(std::string_view s, std::string_view d, std::size_t max) {
    model_out m;
    std::size_t pos = 0;
    for (;;) {
        std::size_t idx = std::string_view::npos;
        for (std::size_t i = pos; i + d.size() <= s.size(); ++i)
            if (s.substr(i, d.size()) == d) {
                idx = i;
                break;
            }
        if (idx == std::string_view::npos) break;
        const std::string_view msg = s.substr(pos, idx - pos);
        if (msg.size() > max) {
            m.ev.push_back("X");
        } else {
            if (!msg.empty()) m.ev.push_back("D" + std::string(msg));
            m.ev.push_back("F");
        }
        pos = idx + d.size();
    }
    const std::string_view rest = s.substr(pos);
    std::size_t keep = d.empty() ? 0 : d.size() - 1;
    while (keep && !rest.ends_with(d.substr(0, keep))) --keep;
    const std::string_view delivered = rest.substr(0, rest.size() - keep);
    if (delivered.size() > max) m.ev.push_back("X");
    else m.tail = std::string(delivered);
    return m;
}

BOOST_AUTO_TEST_CASE(random_streams_match_the_reference_model) {
    const char* env = std::getenv("ASYNCHAT_PROPERTY_SEED");
    const std::uint64_t seed = env ? std::strtoull(env, nullptr, 10) : 20261201;
    rng_t rng(seed);
    for (int n = 0; n < 400; ++n) {
        const std::string& d = delimiters()[pick(rng, delimiters().size())];
        const std::size_t max = 1 + pick(rng, 8);
        const std::string s = random_stream(rng, 4 + pick(rng, 30));
        const model_out m = delimiter_model(s, d, max);
        for (const auto& chunks : {random_cuts(rng, s), packets(s, 1 + pick(rng, 9))}) {
            const discard_result r = run_discard(terminator(d), max, chunks);
            BOOST_TEST_CONTEXT("seed " << seed << " case " << n << " delimiter \"" << escape(d) << "\" max " << max
                                       << " stream \"" << escape(s) << "\"") {
                BOOST_TEST(join(r.ev) == join(m.ev));
                BOOST_TEST(escape(r.tail) == escape(m.tail));
                BOOST_TEST(r.held_too_much == 0u);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(random_framed_messages_match_the_reference_model) {
    // Length-prefixed, netstring and count streams built from known payloads: each payload over max is one 'X'.
    rng_t rng(20261202);
    for (int n = 0; n < 300; ++n) {
        const std::size_t max = 1 + pick(rng, 8);
        const std::size_t kind = pick(rng, 3);
        const std::size_t count = 1 + pick(rng, 12);
        std::string s;
        std::vector<std::string> expected;
        for (std::size_t i = 0, msgs = 1 + pick(rng, 8); i < msgs; ++i) {
            std::string payload;
            const std::size_t len = kind == 2 ? count : pick(rng, 14);
            for (std::size_t j = 0; j < len; ++j) payload += static_cast<char>('a' + pick(rng, 26));
            if (kind == 0) s += asynchat::length_prefixed::header(payload.size(), {2}) + payload;
            else if (kind == 1) s += asynchat::netstring::encode(payload);
            else s += payload;
            if (payload.size() > max) {
                expected.push_back("X");
            } else {
                if (!payload.empty()) expected.push_back("D" + payload);
                expected.push_back("F");
            }
        }
        const terminator t = kind == 0   ? terminator(asynchat::length_prefixed::make(2))
                             : kind == 1 ? terminator(asynchat::netstring::make())
                                         : terminator::count(count);
        for (const auto& chunks : {random_cuts(rng, s), packets(s, 1 + pick(rng, 9))}) {
            // A fresh rule per run: a rule's state is part of the framer's.
            const terminator fresh = kind == 0   ? terminator(asynchat::length_prefixed::make(2))
                                     : kind == 1 ? terminator(asynchat::netstring::make())
                                                 : t;
            const discard_result r = run_discard(fresh, max, chunks);
            BOOST_TEST_CONTEXT("case " << n << " " << show(t) << " max " << max << " stream \"" << escape(s) << "\"") {
                BOOST_TEST(join(r.ev) == join(expected));
                BOOST_TEST(r.tail.empty());
                BOOST_TEST(r.held_too_much == 0u);
            }
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
