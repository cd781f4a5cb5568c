// The framer against the framing cases of CPython's test_asynchat.py (there run over a real socket with the server
// echoing in 1-, 2- and 3-byte pieces; here the pieces are fed directly), plus the guarantees Python does not make.
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "chat_test_util.hpp"

using namespace chat_test;
using asynchat::framer;
using asynchat::terminator;

namespace {

// Python's echo_client: contents gets each message at found_terminator, buffer holds the one in progress.
struct echo_client : asynchat::framer_sink {
    framer f;
    std::vector<std::string> contents;
    std::string buffer;
    std::size_t empty_collects = 0;

    explicit echo_client(terminator t) : f(std::move(t)) {}
    void collect_incoming_data(std::string_view d) override {
        if (d.empty()) ++empty_collects;
        buffer += d;
    }
    void found_terminator() override {
        contents.push_back(buffer);
        buffer.clear();
    }
    void feed_in(std::string_view data, std::size_t packet) {
        for (const auto& p : packets(data, packet)) f.feed(p, *this);
    }
};

const std::string server_quit = "QUIT\n";

std::vector<std::string> v(std::initializer_list<std::string> l) { return l; }

} // namespace

BOOST_AUTO_TEST_SUITE(framer_cases)

// test_line_terminator1/2/3: one-, two- and three-byte terminators, received in 1-, 2- and 3-byte pieces.
BOOST_AUTO_TEST_CASE(line_terminator) {
    for (std::string term : {"\n", "\r\n", "qqq"}) {
        for (std::size_t chunk : {1, 2, 3, 1000}) {
            BOOST_TEST_CONTEXT("term=\"" << escape(term) << "\" chunk=" << chunk) {
                echo_client c{terminator(term)};
                c.feed_in("hello world" + term + "I'm not dead yet!" + term, chunk);
                BOOST_TEST(c.contents == v({"hello world", "I'm not dead yet!"}), boost::test_tools::per_element());
                BOOST_TEST(c.buffer.empty());
                BOOST_TEST(c.f.pending().empty());
                BOOST_TEST(c.empty_collects == 0u);
            }
        }
    }
}

// test_numeric_terminator1/2, and 0, 2, 3, 4: the first n bytes are one message; after it the count is 0, which
// is "no terminator", so the rest is collected and never terminated.
BOOST_AUTO_TEST_CASE(numeric_terminator) {
    const std::string data = "hello world, I'm not dead yet!\n";
    for (int n : {0, 1, 2, 3, 4, 6}) {
        for (std::size_t chunk : {1, 2, 3, 5, 1000}) {
            BOOST_TEST_CONTEXT("n=" << n << " chunk=" << chunk) {
                echo_client c{terminator::count(n)};
                c.feed_in(data + server_quit, chunk);
                if (n == 0) {
                    BOOST_TEST(c.contents.empty());
                    BOOST_TEST(c.buffer == data + server_quit);
                } else {
                    BOOST_TEST(c.contents == v({data.substr(0, n)}), boost::test_tools::per_element());
                    BOOST_TEST(c.buffer == data.substr(n) + server_quit);
                }
                BOOST_TEST(c.f.get_terminator() == terminator::count(0));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(count_counts_down_across_feeds) {
    echo_client c{terminator::count(10)};
    c.f.feed("abc", c);
    BOOST_TEST(c.f.get_terminator().remaining() == 7u);
    c.f.feed("defg", c);
    BOOST_TEST(c.f.get_terminator().remaining() == 3u);
    BOOST_TEST(c.contents.empty());
    c.f.feed("hijKLM", c);
    BOOST_TEST(c.contents == v({"abcdefghij"}), boost::test_tools::per_element());
    BOOST_TEST(c.f.get_terminator() == terminator::count(0));
    BOOST_TEST(c.buffer == "KLM");
}

// test_none_terminator: everything is collected, nothing is found; b'' and 0 behave the same way.
BOOST_AUTO_TEST_CASE(none_terminator) {
    const std::string data = "hello world, I'm not dead yet!\n" + server_quit;
    for (const terminator& t : {terminator::none(), terminator(""), terminator::count(0), terminator(nullptr)}) {
        BOOST_TEST_CONTEXT("term=" << t) {
            echo_client c{t};
            c.feed_in(data, 3);
            BOOST_TEST(c.contents.empty());
            BOOST_TEST(c.buffer == data);
            BOOST_TEST(c.f.pending().empty());
            BOOST_TEST(c.f.get_terminator() == t);
        }
    }
}

BOOST_AUTO_TEST_CASE(empty_string_terminator_is_none_but_keeps_its_value) {
    const terminator t("");
    BOOST_TEST(t.is_delimiter());
    BOOST_TEST(!t);
    BOOST_TEST(!(t == terminator::none()));
    BOOST_TEST(!terminator::none());
    BOOST_TEST(!terminator::count(0));
    BOOST_TEST(static_cast<bool>(terminator::count(1)));
    BOOST_TEST(static_cast<bool>(terminator("\n")));
    BOOST_TEST(show(terminator::none()) == "None");
    BOOST_TEST(show(terminator("\r\n\0\x7f'"s)) == "b'\\r\\n\\x00\\x7f\\''");
    BOOST_TEST(show(terminator::count(42u)) == "42");
}

// test_disallow_negative_terminator.
BOOST_AUTO_TEST_CASE(negative_count_rejected) {
    BOOST_CHECK_THROW(terminator::count(-1), std::invalid_argument);
    BOOST_CHECK_THROW(terminator::count(std::numeric_limits<std::int64_t>::min()), std::invalid_argument);
    BOOST_CHECK_THROW(terminator::count(static_cast<signed char>(-5)), std::invalid_argument);
    BOOST_TEST(terminator::count(0).remaining() == 0u);
    BOOST_TEST(terminator::count(std::numeric_limits<std::uint64_t>::max()).remaining() ==
               std::numeric_limits<std::size_t>::max());
    framer f("\n");
    BOOST_CHECK_THROW(f.set_terminator(terminator::count(-3)), std::invalid_argument);
    BOOST_TEST(f.get_terminator() == terminator("\n"));   // unchanged
}

// test_empty_line: two adjacent terminators make an empty message, without an empty collect call.
BOOST_AUTO_TEST_CASE(empty_line) {
    for (std::size_t chunk : {1, 2, 3, 1000}) {
        echo_client c{terminator("\n")};
        c.feed_in("hello world\n\nI'm not dead yet!\n" + server_quit, chunk);
        BOOST_TEST(c.contents == v({"hello world", "", "I'm not dead yet!", "QUIT"}), boost::test_tools::per_element());
        BOOST_TEST(c.empty_collects == 0u);
    }
    echo_client c{terminator("\r\n")};
    c.f.feed("\r\n\r\n\r\n", c);
    BOOST_TEST(c.contents == v({"", "", ""}), boost::test_tools::per_element());
    BOOST_TEST(c.empty_collects == 0u);
}

BOOST_AUTO_TEST_CASE(terminator_longer_than_data) {
    echo_client c{terminator("\r\n.\r\n")};
    c.f.feed("ab", c);   // no prefix of the terminator at the end: collected at once
    BOOST_TEST(c.buffer == "ab");
    BOOST_TEST(c.f.pending().empty());
    c.f.feed("\r", c);
    c.f.feed("\n.", c);
    BOOST_TEST(c.buffer == "ab");
    BOOST_TEST(c.f.pending() == "\r\n.");
    c.f.feed("\r", c);
    BOOST_TEST(c.f.pending() == "\r\n.\r");
    c.f.feed("", c);   // an empty read changes nothing
    BOOST_TEST(c.f.pending() == "\r\n.\r");
    c.f.feed("\n", c);
    BOOST_TEST(c.contents == v({"ab"}), boost::test_tools::per_element());
    BOOST_TEST(c.f.pending().empty());
}

// A delimiter split at every possible place, and carried bytes that turn out not to be a delimiter: they are
// delivered, in order, before the bytes after them.
BOOST_AUTO_TEST_CASE(terminator_split_across_feeds) {
    const std::string term = "\r\n.\r\n";
    const std::string stream = "first" + term + "sec\r\n.ond" + term + "end\r\n" + term;
    for (std::size_t a = 0; a <= stream.size(); ++a) {
        for (std::size_t b = a; b <= stream.size(); ++b) {
            echo_client c{terminator(term)};
            c.f.feed(std::string_view(stream).substr(0, a), c);
            BOOST_TEST(c.f.pending().size() < term.size());
            c.f.feed(std::string_view(stream).substr(a, b - a), c);
            BOOST_TEST(c.f.pending().size() < term.size());
            c.f.feed(std::string_view(stream).substr(b), c);
            BOOST_TEST_CONTEXT("cuts " << a << "," << b) {
                BOOST_TEST(c.contents == v({"first", "sec\r\n.ond", "end\r\n"}), boost::test_tools::per_element());
                BOOST_TEST(c.buffer.empty());
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(carried_bytes_delivered_in_order) {
    std::vector<std::string> calls;
    recorder r;
    r.on_collect = [&](std::string_view d) { calls.emplace_back(d); };
    framer f("\r\n");
    r.framer = &f;
    f.feed("abc\r", r);
    BOOST_TEST(calls == v({"abc"}), boost::test_tools::per_element());
    f.feed("x\r\n", r);
    BOOST_TEST(calls == v({"abc", "\r", "x"}), boost::test_tools::per_element());
    BOOST_TEST(render(r.ev) == render({{false, "abc\rx"}, {true, {}}}));
    // A self-overlapping delimiter: "aa" carried, then "b" completes "aab" starting inside the carried bytes.
    recorder r2;
    framer g("aab");
    r2.framer = &g;
    g.feed("xaaa", r2);
    BOOST_TEST(g.pending() == "aa");
    g.feed("by", r2);
    BOOST_TEST(render(r2.ev) == render({{false, "xa"}, {true, {}}, {false, "y"}}));
}

// Header/body switch: the terminator set inside found_terminator frames the rest of the same buffer.
BOOST_AUTO_TEST_CASE(terminator_changed_inside_found_terminator) {
    struct http : asynchat::framer_sink {
        framer f{"\r\n\r\n"};
        std::string buffer;
        std::vector<std::string> heads, bodies;
        bool in_body = false;
        void collect_incoming_data(std::string_view d) override { buffer += d; }
        void found_terminator() override {
            if (in_body) {
                bodies.push_back(std::exchange(buffer, {}));
                f.set_terminator("\r\n\r\n");
                in_body = false;
                return;
            }
            heads.push_back(buffer);
            const auto at = buffer.find("Content-Length: ");
            const std::size_t n = at == std::string::npos ? 0 : std::stoul(buffer.substr(at + 16));
            buffer.clear();
            if (n == 0) {
                bodies.emplace_back();
                return;
            }
            f.set_terminator(terminator::count(n));
            in_body = true;
        }
    };
    const std::string stream = "POST /a HTTP/1.1\r\nContent-Length: 9\r\n\r\nbody\r\n\r\n!"
                               "GET /b HTTP/1.1\r\n\r\n"
                               "POST /c HTTP/1.1\r\nContent-Length: 2\r\n\r\n\r\n";
    for (std::size_t chunk = 1; chunk <= stream.size(); ++chunk) {
        http h;
        for (const auto& p : packets(stream, chunk)) h.f.feed(p, h);
        BOOST_TEST_CONTEXT("chunk=" << chunk) {
            BOOST_TEST(h.heads == v({"POST /a HTTP/1.1\r\nContent-Length: 9", "GET /b HTTP/1.1",
                                     "POST /c HTTP/1.1\r\nContent-Length: 2"}),
                       boost::test_tools::per_element());
            BOOST_TEST(h.bodies == v({"body\r\n\r\n!", "", "\r\n"}), boost::test_tools::per_element());
            BOOST_TEST(h.buffer.empty());
        }
    }
}

// Python keeps carried bytes in ac_in_buffer, so a terminator set between two reads frames them too.
BOOST_AUTO_TEST_CASE(terminator_changed_between_feeds_frames_carried_bytes) {
    recorder r;
    framer f("\r\n");
    r.framer = &f;
    f.feed("abc\r", r);
    f.set_terminator(terminator::count(2));
    f.feed("xy", r);
    BOOST_TEST(render(r.ev) == render({{false, "abc\rx"}, {true, {}}, {false, "y"}}));
    BOOST_TEST(f.get_terminator() == terminator::count(0));

    recorder r2;
    framer g("\r\n.\r\n");
    r2.framer = &g;
    g.feed("m\r\n.\r", r2);
    BOOST_TEST(g.pending() == "\r\n.\r");
    g.set_terminator(".");   // now a whole delimiter sits inside the carried bytes
    g.feed("", r2);
    BOOST_TEST(render(r2.ev) == render({{false, "m\r\n"}, {true, {}}, {false, "\r"}}));
}

// Python re-reads the terminator on every turn of its loop, so one set inside collect_incoming_data frames the
// bytes still buffered, including a partial delimiter kept for the old terminator.
BOOST_AUTO_TEST_CASE(terminator_changed_inside_collect_incoming_data) {
    recorder r;
    framer f("\r\n");
    r.framer = &f;
    bool changed = false;
    r.on_collect = [&](std::string_view) {
        if (!std::exchange(changed, true)) f.set_terminator("X");
    };
    f.feed("abc\r", r);
    BOOST_TEST(f.pending() == "\r");
    f.feed("\nX", r);
    BOOST_TEST(render(r.ev) == render({{false, "abc\r\n"}, {true, {}}}));
}

// find_prefix_at_end: the cases of TestHelperFunctions, then every small case against Python's own loop.
BOOST_AUTO_TEST_CASE(find_prefix_at_end_cases) {
    using asynchat::find_prefix_at_end;
    BOOST_TEST(find_prefix_at_end("qwerty\r", "\r\n") == 1u);
    BOOST_TEST(find_prefix_at_end("qwertydkjf", "\r\n") == 0u);
    BOOST_TEST(find_prefix_at_end("", "\r\n") == 0u);
    BOOST_TEST(find_prefix_at_end("a\r\n.", "\r\n.\r\n") == 3u);
    BOOST_TEST(find_prefix_at_end("xaaa", "aab") == 2u);
    BOOST_TEST(find_prefix_at_end("abc", "c") == 0u);
    BOOST_TEST(find_prefix_at_end("abc", "") == 0u);
    BOOST_TEST(find_prefix_at_end("aba", "abab") == 3u);
    BOOST_TEST(find_prefix_at_end("\0\0"sv, "\0\0\0"sv) == 2u);

    // Python: l = len(needle) - 1; while l and not haystack.endswith(needle[:l]): l -= 1
    auto python = [](std::string_view h, std::string_view n) {
        std::size_t l = n.size() - 1;
        while (l && !h.ends_with(n.substr(0, l))) --l;
        return l;
    };
    auto all = [](std::size_t max_len) {
        std::vector<std::string> out{""};
        for (std::size_t i = 0; i < out.size(); ++i)
            if (out[i].size() < max_len)
                for (char c : {'a', 'b'}) out.push_back(out[i] + c);
        return out;
    };
    for (const auto& h : all(6))
        for (const auto& n : all(5))
            if (!n.empty()) BOOST_TEST(find_prefix_at_end(h, n) == python(h, n), "h=" << h << " n=" << n);
}

BOOST_AUTO_TEST_CASE(max_message_enforced_before_any_delimiter) {
    std::size_t delivered = 0;
    recorder r;
    r.on_collect = [&](std::string_view d) { delivered += d.size(); };
    framer f("\r\n", 10);
    r.framer = &f;
    f.feed("12345678", r);
    BOOST_TEST(f.collected() == 8u);
    try {
        f.feed("901", r);   // 11 bytes and no delimiter in sight
        BOOST_FAIL("no message_too_long");
    } catch (const asynchat::message_too_long& e) {
        BOOST_TEST(e.limit() == 10u);
        BOOST_TEST(e.attempted() == 11u);
    }
    BOOST_TEST(delivered == 8u);   // none of the offending bytes reached the sink
    BOOST_TEST(f.collected() == 0u);
    BOOST_TEST(f.pending().empty());

    // Exactly the limit is fine, a partial delimiter does not count, and the count restarts per message.
    framer g("\r\n", 10);
    recorder r2;
    r2.framer = &g;
    g.feed("0123456789\r", r2);
    g.feed("\n0123456789\r\n", r2);
    BOOST_TEST(r2.found_count == 2u);

    // A message that would end in this very buffer is still refused before it is delivered.
    framer h("\r\n", 5);
    recorder r3;
    r3.framer = &h;
    BOOST_CHECK_THROW(h.feed("ok\r\n123456\r\n", r3), std::length_error);
    BOOST_TEST(render(r3.ev) == render({{false, "ok"}, {true, {}}}));

    // Counts and none are bounded the same way.
    framer k(terminator::count(100), 10);
    recorder r4;
    r4.framer = &k;
    BOOST_CHECK_THROW(k.feed("01234567890", r4), asynchat::message_too_long);
    BOOST_TEST(r4.ev.empty());
    BOOST_TEST(k.get_terminator() == terminator::count(100));
    framer n(terminator::none(), 4);
    recorder r5;
    r5.framer = &n;
    n.feed("abcd", r5);
    BOOST_CHECK_THROW(n.feed("e", r5), asynchat::message_too_long);
    BOOST_TEST(render(r5.ev) == render({{false, "abcd"}}));
}

// discard_buffers from inside a callback: the rest of the buffer being fed is dropped, nothing is touched after.
BOOST_AUTO_TEST_CASE(reset_inside_callbacks) {
    recorder r;
    framer f("\n");
    r.framer = &f;
    r.plan = {{action::reset, {}}};
    f.feed("a\nb\nc\r", r);
    BOOST_TEST(render(r.ev) == render({{false, "a"}, {true, {}}}));
    f.feed("d\ne\n", r);
    BOOST_TEST(render(r.ev) == render({{false, "a"}, {true, {}}, {false, "d"}, {true, {}}}));

    // From collect_incoming_data, with a carried partial delimiter about to be kept.
    framer g("\r\n");
    recorder r2;
    r2.framer = &g;
    r2.on_collect = [&](std::string_view) { g.reset(); };
    g.feed("abc\r", r2);
    BOOST_TEST(g.pending().empty());
    BOOST_TEST(r2.collect_calls == 1u);

    // From found_terminator while the carried bytes of the previous feed are being framed.
    framer h("aab");
    recorder r3;
    r3.framer = &h;
    r3.plan = {{action::reset, {}}};
    h.feed("aa", r3);
    h.set_terminator("a");
    h.feed("xyz", r3);
    BOOST_TEST(render(r3.ev) == render({{true, {}}}));
    BOOST_TEST(h.pending().empty());
}

BOOST_AUTO_TEST_CASE(feed_from_inside_a_callback_is_refused) {
    struct nested : asynchat::framer_sink {
        framer f{"\n"};
        bool threw = false;
        void collect_incoming_data(std::string_view) override {}
        void found_terminator() override {
            try {
                f.feed("x\n", *this);
            } catch (const std::logic_error&) {
                threw = true;
            }
        }
    } s;
    s.f.feed("a\n", s);
    BOOST_TEST(s.threw);
    s.threw = false;
    s.f.feed("b\n", s);   // the guard was released
    BOOST_TEST(s.threw);
}

// Messages are handed over as views into the fed buffer; only a few carried bytes are ever copied.
BOOST_AUTO_TEST_CASE(collect_gets_views_into_the_fed_buffer) {
    const std::string term = "\r\n.\r\n";
    std::string big(100000, 'x');
    const std::string stream = big + term + big + "\r\n." + big + term;
    for (std::size_t chunk : {std::size_t{7}, std::size_t{4096}, stream.size()}) {
        const char* lo = nullptr;
        const char* hi = nullptr;
        std::size_t foreign = 0;
        recorder r;
        framer f(term);
        r.framer = &f;
        r.on_collect = [&](std::string_view d) {
            const std::less<const char*> before;
            if (before(d.data(), lo) || before(hi, d.data() + d.size())) {
                ++foreign;
                BOOST_TEST(d.size() < 2 * term.size());
            }
        };
        for (const auto& p : packets(stream, chunk)) {
            lo = p.data();
            hi = p.data() + p.size();
            f.feed(p, r);
            BOOST_TEST(f.pending().size() < term.size());
        }
        if (chunk == stream.size()) BOOST_TEST(foreign == 0u);
        BOOST_TEST(r.found_count == 2u);
        BOOST_TEST(r.ev.size() == 4u);
        BOOST_TEST(r.ev[2].data == big + "\r\n." + big);
    }
}

// Twisted's style: one stream, fed whole and in packets of 1..9 bytes, must give the same events.
BOOST_AUTO_TEST_CASE(same_events_for_every_packet_size) {
    struct proto {
        terminator initial;
        std::vector<action> plan;
        std::string stream;
    };
    const std::vector<proto> protos{
        {"\r\n", {}, "hello world\r\nI'm not dead yet!\r\n\r\n\r\r\n\n\r\rtail\r"},
        {"\r\n.\r\n", {}, "a\r\n.\r\r\n.\r\n\r\n.\r\n.\r\n\r\n.\r\nrest\r\n."},
        {"aab", {}, "aaab aab aaaab aabaab aa"},
        {terminator::count(3), {{action::set, terminator::count(1)}, {action::set, terminator::count(5)}},
         "0123456789abcdefghijklmnop"},
        {"\0"s, {}, "a\0\0b\0c"s},
        {"\n", {{action::set, terminator::count(4)}, {action::set, terminator("\n")}}, "4\nbody5\nxxxxy\nz"},
        {"\n", {{action::set, terminator::count(2)}, {action::set, terminator::none()}}, "x\nabcd\nrest"},
        {"--b--", {{action::set, terminator("\r\n")}, {action::set, terminator("--b--")}},
         "pre--b--line\r\n--b--b--b--x--b-"},
        {"abab", {{action::set, terminator("aab")}, {action::keep, {}}, {action::set, terminator("abab")}},
         "ababab aabab abababab aaab"},
    };
    for (const auto& p : protos) {
        const outcome whole = run({p.initial, p.plan, {p.stream}, {}});
        BOOST_TEST(whole.empty_collects == 0u);
        for (std::size_t n = 1; n <= 9; ++n) {
            const outcome split = run({p.initial, p.plan, packets(p.stream, n), {}});
            BOOST_TEST_CONTEXT("stream=\"" << escape(p.stream) << "\" initial=" << p.initial << " packet=" << n) {
                BOOST_TEST(render(split.ev) == render(whole.ev));
                BOOST_TEST(split.pending == whole.pending);
                BOOST_TEST(split.final_term == whole.final_term);
                BOOST_TEST(split.empty_collects == 0u);
            }
        }
    }
}

// Linear in the input however it arrives: a large stream byte by byte (Python's buffer concatenation would be
// quadratic here; this finishes in well under a second).
BOOST_AUTO_TEST_CASE(large_stream_in_small_packets) {
    std::string stream;
    for (int i = 0; i < 2000; ++i) stream += std::string(static_cast<std::size_t>(i % 97) * 13, 'z') + "\r\n\r";
    stream += std::string(1 << 20, 'y');
    const outcome whole = run({"\r\n", {}, {stream}, {}});
    for (std::size_t n : {1, 3}) {
        const outcome split = run({"\r\n", {}, packets(stream, n), {}});
        BOOST_TEST(split.ev == whole.ev);
    }
    BOOST_TEST(whole.ev.size() == 4000u);
    BOOST_TEST(whole.ev.back().data == "\r" + std::string(1 << 20, 'y'));
}

// A long delimiter arriving a byte at a time, carried across 65K feeds: the framing must not change (each byte
// extends the carried prefix; the carry is checked against the delimiter only where the new bytes are).
BOOST_AUTO_TEST_CASE(long_delimiter_byte_by_byte) {
    rng_t rng(3);
    std::string boundary = "--";
    for (int i = 0; i < 65536; ++i) boundary += static_cast<char>('A' + pick(rng, 26));
    const std::string stream = "part one" + boundary + boundary.substr(0, 1000) + "part two" + boundary + "tail";
    const outcome whole = run({terminator(boundary), {}, {stream}, {}});
    const outcome bytes = run({terminator(boundary), {}, packets(stream, 1), {}});
    BOOST_TEST(render(whole.ev) == render({{false, "part one"}, {true, {}},
                                           {false, boundary.substr(0, 1000) + "part two"}, {true, {}},
                                           {false, "tail"}}));
    BOOST_TEST(bytes.ev == whole.ev);
}

BOOST_AUTO_TEST_SUITE_END()
