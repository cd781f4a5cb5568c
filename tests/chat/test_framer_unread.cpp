// framer::unread: bytes a callback gives back are framed next, before everything not yet handed out (the carried
// partial delimiter and the rest of the buffer being fed). This is what line_receiver's set_line_mode(rest) is
// built on, so every case is run across every segmentation of its input: the framer's state at a feed boundary
// (a carried partial delimiter, a count in progress, bytes already re-framed) must never change the outcome.
#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "chat_test_util.hpp"

using namespace chat_test;
using asynchat::framer;
using asynchat::terminator;

namespace {

// A protocol in the style of Twisted's LineTester, at the framer level. Lines end with `delim`; a line "rN"
// (N > 0) is followed by N raw bytes, received with no terminator: collect_incoming_data takes what it needs and
// gives the rest back with set_terminator(delim) + unread(rest). A line "uTEXT" makes found_terminator unread
// "TEXT" + delim, a line injected in front of the rest of the stream.
struct switcher : asynchat::framer_sink {
    framer f;
    std::string delim;
    std::vector<std::pair<char, std::string>> got;   // ('L', line) and ('R', raw block), in order
    std::string line;                                // the line being collected
    std::string raw;                                 // the raw block being collected
    std::size_t raw_left = 0;
    std::size_t empty_collects = 0;

    explicit switcher(std::string d) : f(terminator(d)), delim(std::move(d)) {}

    bool raw_mode() const { return raw_left != 0; }

    void collect_incoming_data(std::string_view data) override {
        if (data.empty()) ++empty_collects;
        if (!raw_mode()) {
            line.append(data);
            return;
        }
        const std::size_t take = std::min(raw_left, data.size());
        raw.append(data.substr(0, take));
        raw_left -= take;
        if (raw_left == 0) {
            got.emplace_back('R', std::exchange(raw, {}));
            f.set_terminator(terminator(delim));
            f.unread(data.substr(take));
        }
    }
    void found_terminator() override {
        std::string l = std::exchange(line, {});
        got.emplace_back('L', l);
        if (l.size() > 1 && l[0] == 'r' && l.find_first_not_of("0123456789", 1) == std::string::npos) {
            raw_left = std::strtoul(l.c_str() + 1, nullptr, 10);
            if (raw_left != 0) f.set_terminator(terminator::none());
        } else if (!l.empty() && l[0] == 'u') {
            f.unread(l.substr(1) + delim);
        }
    }

    void feed_all(const std::vector<std::string>& chunks) {
        for (const auto& c : chunks) f.feed(c, *this);
    }
    // What is received but not yet a whole line or raw block: the line so far plus the carried bytes, or the
    // raw block so far.
    std::string unfinished() const { return raw_mode() ? raw : line + std::string(f.pending()); }
};

struct expected {
    std::vector<std::pair<char, std::string>> got;
    std::string unfinished;
};

// The same protocol over the whole stream at once, with the injections spliced into it: no feeds, no carry, no
// unread.
expected model(std::string s, const std::string& delim) {
    expected e;
    std::size_t pos = 0;
    while (pos <= s.size()) {
        const std::size_t i = s.find(delim, pos);
        if (i == std::string::npos) {
            e.unfinished = s.substr(pos);
            return e;
        }
        std::string l = s.substr(pos, i - pos);
        pos = i + delim.size();
        e.got.emplace_back('L', l);
        if (l.size() > 1 && l[0] == 'r' && l.find_first_not_of("0123456789", 1) == std::string::npos) {
            const std::size_t n = std::strtoul(l.c_str() + 1, nullptr, 10);
            if (n == 0) continue;
            if (s.size() - pos < n) {
                e.unfinished = s.substr(pos);
                return e;
            }
            e.got.emplace_back('R', s.substr(pos, n));
            pos += n;
        } else if (!l.empty() && l[0] == 'u') {
            s.insert(pos, l.substr(1) + delim);
        }
    }
    return e;
}

std::string render_got(const std::vector<std::pair<char, std::string>>& got) {
    std::string out;
    for (const auto& [k, v] : got) out += std::string(1, k) + "\"" + escape(v) + "\" ";
    return out;
}

void check_against_model(const std::string& delim, const std::vector<std::string>& chunks,
                         const std::string& context) {
    std::string whole;
    for (const auto& c : chunks) whole += c;
    const expected want = model(whole, delim);
    switcher s(delim);
    s.feed_all(chunks);
    BOOST_TEST_CONTEXT(context) {
        BOOST_TEST(render_got(s.got) == render_got(want.got));
        BOOST_TEST(escape(s.unfinished()) == escape(want.unfinished));
        BOOST_TEST(s.empty_collects == 0u);
    }
}

// LineTester's shape: raw blocks that hold the delimiter, end inside one, are followed at once by a line, by
// another header, or by nothing.
const std::string scripted_stream =
    "r10\r\n0123456789r5\r\n\r\n\r\nxfirst line\r\nr3\r\nab\rr20\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"
    "uinjected\r\nafter\r\nuuu\r\nr1\r\n\nend\r\n";

} // namespace

BOOST_AUTO_TEST_SUITE(framer_unread)

BOOST_AUTO_TEST_CASE(scripted_stream_matches_the_model) {
    // The model itself, spelled out once, so that a wrong model cannot make both sides agree on nonsense.
    const expected want = model(scripted_stream, "\r\n");
    BOOST_TEST(render_got(want.got) ==
               render_got({{'L', "r10"}, {'R', "0123456789"}, {'L', "r5"}, {'R', "\r\n\r\nx"},
                       {'L', "first line"}, {'L', "r3"}, {'R', "ab\r"}, {'L', "r20"},
                       {'R', "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"}, {'L', "uinjected"},
                       {'L', "injected"}, {'L', "after"}, {'L', "uuu"}, {'L', "uu"}, {'L', "u"}, {'L', ""},
                       {'L', "r1"}, {'R', "\n"}, {'L', "end"}}));
    BOOST_TEST(want.unfinished == "");
}

// Twisted's LineReceiverTests.test_buffer way: the same stream in packets of 1 to 9 bytes (and in one piece).
BOOST_AUTO_TEST_CASE(unread_from_collect_in_none_mode_for_every_packet_size) {
    for (std::size_t n = 1; n <= 9; ++n) check_against_model("\r\n", packets(scripted_stream, n), "packet " +
                                                                                                     std::to_string(n));
    check_against_model("\r\n", {scripted_stream}, "one piece");
}

// Every way of cutting the stream in two and in three places: each boundary lands once inside a raw block, on
// its last byte, inside a carried delimiter and just after an injection.
BOOST_AUTO_TEST_CASE(unread_for_every_two_and_three_piece_split) {
    const std::string& s = scripted_stream;
    for (std::size_t a = 0; a <= s.size(); ++a) {
        check_against_model("\r\n", {s.substr(0, a), s.substr(a)}, "cut " + std::to_string(a));
        for (std::size_t b = a; b <= s.size(); b += 3)
            check_against_model("\r\n", {s.substr(0, a), s.substr(a, b - a), s.substr(b)},
                                "cuts " + std::to_string(a) + "," + std::to_string(b));
    }
}

// A long delimiter, so that a carried partial delimiter is there when a raw block ends and gives bytes back.
BOOST_AUTO_TEST_CASE(unread_with_a_long_delimiter_for_every_packet_size) {
    const std::string d = "\r\n.\r\n";
    const std::string s = "r4" + d + "\r\n.\r" + "\n" + d + "r2" + d + "\r\n" + ".\r\n" + d + "uzz" + d + "\r\n.";
    for (std::size_t n = 1; n <= 9; ++n) check_against_model(d, packets(s, n), "packet " + std::to_string(n));
    for (std::size_t a = 0; a <= s.size(); ++a)
        check_against_model(d, {s.substr(0, a), s.substr(a)}, "cut " + std::to_string(a));
}

// unread inside collect_incoming_data while the rest of the piece ends in a partial delimiter: the framer keeps
// that partial delimiter after the callback returns, and the unread bytes must still come before it.
BOOST_AUTO_TEST_CASE(unread_in_collect_goes_before_the_carried_partial_delimiter) {
    framer f{terminator("\r\n")};
    recorder r;
    r.framer = &f;
    bool given = false;
    r.on_collect = [&](std::string_view) {
        if (!given) {
            given = true;
            f.unread("XY");
        }
    };
    f.feed("ab\r", r);   // collects "ab", keeps "\r"; then "XY" comes before the "\r"
    BOOST_TEST(render(r.ev) == render(events{{false, "abXY"}}));
    BOOST_TEST(f.pending() == "\r");
    f.feed("\ncd\r\n", r);
    BOOST_TEST(render(r.ev) == render(events{{false, "abXY"}, {true, {}}, {false, "cd"}, {true, {}}}));
    BOOST_TEST(f.pending().empty());
}

// unread inside found_terminator, when that terminator was reached through the carried bytes (the fast path
// that completes a delimiter split across feeds): the bytes go before the rest of the new piece.
BOOST_AUTO_TEST_CASE(unread_in_found_terminator_after_a_delimiter_split_across_feeds) {
    for (std::size_t cut = 1; cut < 5; ++cut) {
        const std::string d = "\r\n.\r\n";
        const std::string s = "one" + d + "two" + d;
        framer f{terminator(d)};
        recorder r;
        r.framer = &f;
        bool given = false;
        struct : asynchat::framer_sink {
            recorder* rec;
            framer* fr;
            bool* given;
            void collect_incoming_data(std::string_view d) override { rec->collect_incoming_data(d); }
            void found_terminator() override {
                rec->found_terminator();
                if (!*given) {
                    *given = true;
                    fr->unread("ins\r\n.\r\n");
                }
            }
        } sink;
        sink.rec = &r;
        sink.fr = &f;
        sink.given = &given;
        f.feed(s.substr(0, 3 + cut), sink);   // "one" + a partial delimiter, carried
        f.feed(s.substr(3 + cut), sink);
        BOOST_TEST_CONTEXT("cut " << cut) {
            BOOST_TEST(render(r.ev) == render(events{{false, "one"}, {true, {}}, {false, "ins"}, {true, {}},
                                               {false, "two"}, {true, {}}}));
            BOOST_TEST(f.pending().empty());
        }
    }
}

// From a count terminator's found_terminator: the counted bytes are handed out, then the given-back bytes are
// framed by the terminator set with them, then the rest.
BOOST_AUTO_TEST_CASE(unread_in_found_terminator_of_a_count) {
    for (std::size_t n = 1; n <= 9; ++n) {
        framer f{terminator::count(4)};
        recorder r;
        r.framer = &f;
        struct : asynchat::framer_sink {
            recorder* rec;
            framer* fr;
            int founds = 0;
            void collect_incoming_data(std::string_view d) override { rec->collect_incoming_data(d); }
            void found_terminator() override {
                rec->found_terminator();
                if (founds++ == 0) {
                    fr->set_terminator("\n");
                    fr->unread("x\ny");
                }
            }
        } sink;
        sink.rec = &r;
        sink.fr = &f;
        for (const auto& p : packets("abcdz\n", n)) f.feed(p, sink);
        BOOST_TEST_CONTEXT("packet " << n) {
            BOOST_TEST(render(r.ev) ==
                       render(events{{false, "abcd"}, {true, {}}, {false, "x"}, {true, {}}, {false, "yz"}, {true, {}}}));
        }
    }
}

// Outside a callback the bytes wait for the next feed, and go before the carried bytes and that feed's bytes.
BOOST_AUTO_TEST_CASE(unread_outside_a_callback_waits_for_the_next_feed) {
    framer f{terminator("\r\n")};
    recorder r;
    r.framer = &f;
    f.feed("ab\r", r);
    BOOST_TEST(f.pending() == "\r");
    f.unread("<U>");
    BOOST_TEST(render(r.ev) == render(events{{false, "ab"}}));   // nothing framed yet
    f.feed("", r);                                         // an empty feed frames them
    BOOST_TEST(render(r.ev) == render(events{{false, "ab<U>"}}));
    BOOST_TEST(f.pending() == "\r");
    f.unread("\r\nL2");
    f.feed("\n", r);
    // Stream order: "ab" "<U>" "\r\nL2" "\r" "\n".
    BOOST_TEST(render(r.ev) == render(events{{false, "ab<U>"}, {true, {}}, {false, "L2"}, {true, {}}}));
    BOOST_TEST(f.pending().empty());
}

BOOST_AUTO_TEST_CASE(unread_several_times_in_one_callback_keeps_call_order) {
    framer f{terminator("\n")};
    recorder r;
    r.framer = &f;
    struct : asynchat::framer_sink {
        recorder* rec;
        framer* fr;
        bool done = false;
        void collect_incoming_data(std::string_view d) override { rec->collect_incoming_data(d); }
        void found_terminator() override {
            rec->found_terminator();
            if (!done) {
                done = true;
                fr->unread("1\n");
                fr->unread("2\n");
            }
        }
    } sink;
    sink.rec = &r;
    sink.fr = &f;
    f.feed("a\nb\n", sink);
    BOOST_TEST(render(r.ev) == render(events{{false, "a"}, {true, {}}, {false, "1"}, {true, {}}, {false, "2"}, {true, {}},
                                       {false, "b"}, {true, {}}}));
}

// unread() of bytes of the buffer being fed is not copied when they end where the framing stopped (the framer
// steps back over them); every other case must give the same result as a copy would.
BOOST_AUTO_TEST_CASE(unread_of_the_fed_buffers_own_bytes) {
    struct giver : asynchat::framer_sink {
        recorder rec;
        framer f{terminator::none()};
        std::function<void(std::string_view)> on_collect, on_found;
        void collect_incoming_data(std::string_view d) override {
            rec.collect_incoming_data(d);
            if (auto c = std::exchange(on_collect, {})) c(d);
        }
        void found_terminator() override {
            rec.found_terminator();
            if (auto c = std::exchange(on_found, {})) c({});
        }
    };
    const std::string input = "abc\ndef\nghi";
    {   // The tail given back, then more bytes: the tail first, then the extra bytes, then the rest. (The
        // recorder merges the first piece and the re-framed "bc": no terminator between them.)
        giver g;
        g.on_collect = [&](std::string_view d) {
            g.f.set_terminator("\n");
            g.f.unread(d.substr(1));
            g.f.unread("X\n");
        };
        g.f.feed(input, g);
        BOOST_TEST(render(g.rec.ev) == render(events{{false, "abc\ndef\nghibc"}, {true, {}},
                                                     {false, "def"}, {true, {}}, {false, "ghiX"}, {true, {}}}));
    }
    {   // Bytes from the middle of the buffer, not where the framing stopped: framed, then the rest.
        giver g;
        g.f.set_terminator("\n");
        g.on_found = [&](std::string_view) { g.f.unread(std::string_view(input).substr(1, 2)); };
        g.f.feed(input, g);
        BOOST_TEST(render(g.rec.ev) ==
                   render(events{{false, "abc"}, {true, {}}, {false, "bcdef"}, {true, {}}, {false, "ghi"}}));
    }
    {   // The tail of a piece that ended at a delimiter: the delimiter is not framed again.
        giver g;
        g.f.set_terminator("\n");
        g.on_collect = [&](std::string_view d) { g.f.unread(d.substr(2)); };
        g.f.feed(input, g);
        BOOST_TEST(render(g.rec.ev) ==
                   render(events{{false, "abc"}, {true, {}}, {false, "cdef"}, {true, {}}, {false, "ghi"}}));
    }
    {   // An exception after a step back was arranged leaves nothing behind for the next feed.
        giver g;
        g.on_collect = [&](std::string_view d) {
            g.f.unread(d);
            throw std::runtime_error("sink failed");
        };
        BOOST_CHECK_THROW(g.f.feed(input, g), std::runtime_error);
        g.f.feed("z", g);
        BOOST_TEST(render(g.rec.ev) == render(events{{false, input + "z"}}));
    }
}

BOOST_AUTO_TEST_CASE(reset_drops_unread_bytes) {
    // Outside a callback.
    framer f{terminator("\n")};
    recorder r;
    r.framer = &f;
    f.feed("ab\r", r);
    f.unread("lost\n");
    f.reset();
    f.feed("c\n", r);
    BOOST_TEST(render(r.ev) == render(events{{false, "ab\rc"}, {true, {}}}));

    // Inside a callback: unread then reset drops both the unread bytes and the rest of the buffer.
    framer g{terminator("\n")};
    recorder q;
    q.framer = &g;
    struct : asynchat::framer_sink {
        recorder* rec;
        framer* fr;
        void collect_incoming_data(std::string_view d) override { rec->collect_incoming_data(d); }
        void found_terminator() override {
            rec->found_terminator();
            fr->unread("lost\n");
            fr->reset();
        }
    } sink;
    sink.rec = &q;
    sink.fr = &g;
    g.feed("one\ntwo\n", sink);
    BOOST_TEST(render(q.ev) == render(events{{false, "one"}, {true, {}}}));
    BOOST_TEST(g.pending().empty());
}

// Seeded random streams of lines, raw blocks and injections over the self-overlapping delimiters, randomly
// segmented, against the model. ASYNCHAT_PROPERTY_SEED=<n> explores other seeds.
BOOST_AUTO_TEST_CASE(random_streams_against_the_model) {
    std::uint64_t seed = 20261201;
    if (const char* e = std::getenv("ASYNCHAT_PROPERTY_SEED")) seed = std::strtoull(e, nullptr, 10);
    BOOST_TEST_MESSAGE("property seed " << seed);
    // Delimiters without 'r', 'u' or digits, so that the headers are never cut by one.
    std::vector<std::string> delims;
    for (const auto& d : delimiters())
        if (d.find_first_of("ru0123456789") == std::string::npos) delims.push_back(d);
    std::size_t raws = 0, injections = 0, failures = 0;
    for (std::size_t i = 0; i < 3000 && failures < 5; ++i) {
        rng_t rng(seed + i);
        const std::string d = delims[pick(rng, delims.size())];
        std::string s;
        for (std::size_t items = 1 + pick(rng, 12); items-- > 0;) {
            switch (pick(rng, 4)) {
            case 0: {
                const std::size_t n = pick(rng, 12);
                s += "r" + std::to_string(n) + d;
                for (std::size_t k = 0; k < n; ++k)
                    s += pick(rng, 3) ? d[pick(rng, d.size())] : "ab\r\n."[pick(rng, 5)];
                break;
            }
            case 1: s += "u" + std::string(pick(rng, 4), 'x') + d; break;
            default: s += random_stream(rng, pick(rng, 4)) + d;
            }
        }
        if (pick(rng, 3) == 0) s += d.substr(0, pick(rng, d.size()));   // end inside a delimiter
        const auto chunks = random_split(rng, s);
        const expected want = model(s, d);
        for (const auto& [k, v] : want.got) {
            raws += k == 'R';
            injections += k == 'L' && !v.empty() && v[0] == 'u';
        }
        switcher sw(d);
        sw.feed_all(chunks);
        if (render_got(sw.got) != render_got(want.got) || sw.unfinished() != want.unfinished || sw.empty_collects != 0) {
            ++failures;
            std::string cuts;
            for (const auto& c : chunks) cuts += "\"" + escape(c) + "\" ";
            BOOST_ERROR("seed " << seed << " + case " << i << " delimiter \"" << escape(d) << "\" chunks " << cuts
                                << "\n  got:  " << render_got(sw.got) << " unfinished \"" << escape(sw.unfinished())
                                << "\"\n  want: " << render_got(want.got) << " unfinished \""
                                << escape(want.unfinished) << "\"");
        }
    }
    BOOST_TEST(failures == 0u);
    // The generator really exercised both kinds of give-back.
    BOOST_TEST(raws > 1000u);
    BOOST_TEST(injections > 1000u);
}

BOOST_AUTO_TEST_SUITE_END()
