// The framing rules against reference models: seeded random streams (mostly well-formed for whatever framing is
// active, sometimes corrupted, truncated or announcing too much), cut at random and into packets of every size
// 1..9, with the terminator switched inside found_terminator between rules and the built-in kinds. The model
// (framing_rules_model.hpp, which tests/fuzz/fuzz_framer.cpp shares) parses the whole stream at once with naive,
// obviously-correct code; the framer sees it in pieces. Messages,
// errors (framing_error, message_too_long and where they happen), the bytes kept and the final terminator must
// agree.
//
// The seed is fixed so failures reproduce; ASYNCHAT_PROPERTY_SEED=<n> explores others.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "framing_rules_model.hpp"
#include "framing_rules_test_util.hpp"

using namespace chat_test;
using namespace chat_test::rules_model;
using asynchat::terminator;
using byte_order = asynchat::length_prefixed::byte_order;

namespace {

std::uint64_t base_seed() {
    if (const char* s = std::getenv("ASYNCHAT_PROPERTY_SEED")) return std::strtoull(s, nullptr, 10);
    return 20261201;
}

// ---- the generator: it encodes each message for the framing the model will have active, so most streams are
// well-formed; then it sometimes breaks them.

std::string random_bytes(rng_t& rng, std::size_t n, std::string_view alphabet) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i)
        out += pick(rng, 8) == 0 ? static_cast<char>(pick(rng, 256)) : alphabet[pick(rng, alphabet.size())];
    return out;
}

spec random_spec(rng_t& rng) {
    static const std::vector<std::vector<std::string>> any_lists{
        {"\r\n", "\n"}, {"\n", "\r\n"}, {"\r\n.\r\n", "\r\n"}, {"abc", "b"}, {"\0"s, "\xff\xfe"s, "\r\n"}, {"aa", "a"}};
    static const std::vector<std::string> delims{"\r\n", "\n", "ab", "\r\n\r\n"};
    spec s;
    switch (pick(rng, 12)) {
    case 0:
        s.kind = spec::delimiter;
        s.delim = delims[pick(rng, delims.size())];
        break;
    case 1:
        s.kind = spec::counted;
        s.count = 1 + pick(rng, 9);
        break;
    case 2:
    case 3:
    case 4:
        s.kind = spec::any;
        s.delims = any_lists[pick(rng, any_lists.size())];
        break;
    case 5: case 6: case 7: case 8: {
        s.kind = spec::length;
        static constexpr std::size_t sizes[] = {1, 2, 4, 8};
        s.fmt.header_bytes = sizes[pick(rng, 4)];
        s.fmt.order = pick(rng, 2) ? byte_order::big : byte_order::little;
        const std::size_t a = pick(rng, 5);
        s.fmt.length_adjustment = a == 0 ? -static_cast<std::int64_t>(s.fmt.header_bytes) : a == 1 ? 2 : 0;
        break;
    }
    default: s.kind = spec::netstring;
    }
    return s;
}

// One message in framing s, occasionally malformed. count_left is the count terminator's state.
std::string encode(rng_t& rng, const spec& s, std::size_t max_message) {
    const bool binary = s.kind == spec::length || s.kind == spec::netstring;
    std::size_t n = pick(rng, 10) == 0 ? pick(rng, 60) : pick(rng, 12);
    std::string payload = random_bytes(rng, n, binary ? "ab:,09\r\n"sv : "xyab\r"sv);
    const bool broken = pick(rng, 25) == 0;
    switch (s.kind) {
    case spec::none: return payload;
    case spec::counted: return random_bytes(rng, s.count, "xy\r\n"sv);
    case spec::delimiter: return payload + s.delim;
    case spec::any: return payload + s.delims[pick(rng, s.delims.size())];
    case spec::length: {
        const std::int64_t adj = s.fmt.length_adjustment;
        if (adj > 0 && payload.size() < static_cast<std::size_t>(adj)) payload.resize(static_cast<std::size_t>(adj), 'p');
        if (s.fmt.header_bytes == 1 && payload.size() > 200) payload.resize(200);
        if (broken || (max_message != 0 && pick(rng, 20) == 0)) {
            // A length over any bound, or (with the header counting itself) smaller than the header.
            std::string h(s.fmt.header_bytes, '\0');
            for (auto& c : h) c = static_cast<char>(pick(rng, 256));
            return h + payload;
        }
        return asynchat::length_prefixed::header(payload.size(), s.fmt) + payload;
    }
    case spec::netstring: {
        if (broken) {
            static const std::vector<std::string> bad{"05:", "00:", ":", "x", "-1:", "3abc,", "2:abc,", "0:a,",
                                                      "123456789012345678901", "99999999999999999999:"};
            return bad[pick(rng, bad.size())];
        }
        if (max_message != 0 && pick(rng, 20) == 0) return std::to_string(max_message + 1 + pick(rng, 1000)) + ":";
        return asynchat::netstring::encode(payload);
    }
    }
    return payload;
}

// With unread: some plan entries also give a whole message (encoded for the terminator they set) back with
// framer::unread inside found_terminator; it is framed before the rest of the stream, so the encoding follows.
rule_case generate(rng_t& rng, bool unread = false) {
    rule_case c;
    c.initial = random_spec(rng);
    for (std::size_t n = 1 + pick(rng, 4); n-- > 0;) {
        plan_entry e;
        if (pick(rng, 4) == 0) e.keep = true;
        else e.s = random_spec(rng);
        c.plan.push_back(e);
    }
    if (pick(rng, 3) == 0) c.max_message = 1 + pick(rng, 40);
    if (unread)
        for (auto& e : c.plan)
            if (!e.keep && pick(rng, 2) == 0) e.unread = encode(rng, e.s, c.max_message);
    // Encode message after message, following the plan as the framer will.
    spec cur = c.initial;
    std::size_t found = 0, unreads = 0;
    for (std::size_t m = 0, messages = 1 + pick(rng, 25); m < messages; ++m) {
        c.stream += encode(rng, cur, c.max_message);
        for (;;) {
            const plan_entry& p = c.plan[found++ % c.plan.size()];
            if (!p.keep) cur = p.s;
            else if (cur.kind == spec::counted) cur.kind = spec::none; // a kept count stays at 0: no terminator
            // The message given back ends with a found_terminator of its own, which takes the next entry.
            if (p.unread.empty() || unreads == c.max_unreads) break;
            ++unreads;
        }
    }
    if (pick(rng, 3) == 0) c.stream.resize(pick(rng, c.stream.size() + 1)); // a truncated last message
    if (pick(rng, 8) == 0 && !c.stream.empty()) c.stream[pick(rng, c.stream.size())] = static_cast<char>(pick(rng, 256));
    return c;
}

std::string describe(const rule_case& c) {
    std::string out = "initial=" + show(c.initial.make()) + " plan=[";
    for (const auto& p : c.plan)
        out += (p.keep ? std::string("keep") : show(p.s.make())) +
               (p.unread.empty() ? std::string() : "+unread\"" + escape(p.unread) + "\"") + " ";
    return out + "] max_message=" + std::to_string(c.max_message) + " stream=\"" + escape(c.stream) + "\"";
}

std::vector<std::string> random_cuts(rng_t& rng, std::string_view s) { return random_split(rng, s); }

void check_against_the_model(bool unread, std::size_t cases) {
    const std::uint64_t seed = base_seed() + (unread ? 1000003 : 0);
    BOOST_TEST_MESSAGE("property seed " << seed);
    std::size_t failures = 0, founds = 0, errors[4] = {};
    for (std::size_t i = 0; i < cases && failures < 5; ++i) {
        rng_t rng(seed + i);
        const rule_case c = generate(rng, unread);
        const result want = model(c);
        founds += static_cast<std::size_t>(std::count_if(want.ev.begin(), want.ev.end(), [](const event& e) { return e.found; }));
        ++errors[static_cast<int>(want.err)];
        // Random cuts (with empty reads), then every packet size 1..9.
        std::vector<std::vector<std::string>> cuts{random_cuts(rng, c.stream), random_cuts(rng, c.stream)};
        for (std::size_t n = 1; n <= 9; ++n) cuts.push_back(packets(c.stream, n));
        for (const auto& chunks : cuts) {
            const run_result got = run_ours(c, chunks);
            if (!agrees(got, want)) {
                ++failures;
                std::string cut;
                for (const auto& ch : chunks) cut += std::to_string(ch.size()) + " ";
                BOOST_ERROR("seed " << seed << " + case " << i << ": " << describe(c) << "\n  cuts: " << cut
                                    << "\n  got:  " << render(got.r.ev) << " err=" << name(got.r.err) << " pending=\""
                                    << escape(got.r.pending) << "\" term=" << got.r.final_term
                                    << " empty_collects=" << got.empty_collects << " kept_too_much="
                                    << got.kept_too_much << "\n  want: " << render(want.ev) << " err="
                                    << name(want.err) << " pending=\"" << escape(want.pending)
                                    << "\" term=" << want.final_term);
                break;
            }
        }
    }
    BOOST_TEST(failures == 0u);
    // Guards against a generator that stopped producing anything worth checking: many messages, and every kind
    // of outcome well represented.
    BOOST_TEST_MESSAGE("messages " << founds << ", outcomes none/framing/announced/collected " << errors[0] << "/"
                                   << errors[1] << "/" << errors[2] << "/" << errors[3]);
    BOOST_TEST(founds > 5 * cases);
    for (std::size_t e : errors) BOOST_TEST(e > cases / 50);
}

} // namespace

BOOST_AUTO_TEST_SUITE(framing_rules_property)

BOOST_AUTO_TEST_CASE(rules_and_builtin_kinds_against_the_model) { check_against_the_model(false, 2500); }

// framer::unread inside found_terminator: the bytes given back are framed next, by the terminator just set, before
// the carried bytes and the rest of the read (what line_receiver's set_line_mode(rest) and the HTTP/SMTP channels
// rely on). Also run by tests/fuzz/fuzz_framer on the fuzzer's cases.
BOOST_AUTO_TEST_CASE(unread_inside_found_terminator_against_the_model) { check_against_the_model(true, 2000); }

BOOST_AUTO_TEST_SUITE_END()
