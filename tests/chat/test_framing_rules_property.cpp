// The framing rules against reference models: seeded random streams (mostly well-formed for whatever framing is
// active, sometimes corrupted, truncated or announcing too much), cut at random and into packets of every size
// 1..9, with the terminator switched inside found_terminator between rules and the built-in kinds. The model
// parses the whole stream at once with naive, obviously-correct code; the framer sees it in pieces. Messages,
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

#include "framing_rules_test_util.hpp"

using namespace chat_test;
using asynchat::terminator;
using byte_order = asynchat::length_prefixed::byte_order;

namespace {

std::uint64_t base_seed() {
    if (const char* s = std::getenv("ASYNCHAT_PROPERTY_SEED")) return std::strtoull(s, nullptr, 10);
    return 20261201;
}

// What frames a message, as data: the test makes the real terminator from it and the model reads it.
struct spec {
    enum kind_t { none, delimiter, counted, any, length, netstring } kind = none;
    std::string delim;
    std::size_t count = 0;
    std::vector<std::string> delims;
    asynchat::length_prefixed::format fmt{};

    terminator make() const {
        switch (kind) {
        case none: return terminator::none();
        case delimiter: return terminator(std::string_view(delim));
        case counted: return terminator::count(count);
        case any: return std::make_shared<asynchat::any_delimiter>(delims);
        case length: return std::make_shared<asynchat::length_prefixed>(fmt);
        case netstring: return asynchat::netstring::make();
        }
        return {};
    }
};

struct plan_entry {
    bool keep = false;
    spec s;
};

struct rule_case {
    spec initial;
    std::vector<plan_entry> plan; // cycled over the found_terminator calls
    std::string stream;
    std::size_t max_message = 0;
};

enum class error { none, framing, too_long_announced, too_long_collected };

const char* name(error e) {
    switch (e) {
    case error::none: return "none";
    case error::framing: return "framing_error";
    case error::too_long_announced: return "message_too_long (announced)";
    case error::too_long_collected: return "message_too_long (collected)";
    }
    return "?";
}

struct result {
    events ev;
    std::string pending;
    std::string final_term;
    error err = error::none;
};

// ---- the model

std::size_t naive_prefix_at_end(std::string_view h, std::string_view n) {
    if (n.empty()) return 0;
    std::size_t l = n.size() - 1;
    while (l && !h.ends_with(n.substr(0, l))) --l;
    return l;
}

std::uint64_t read_field(std::string_view h, byte_order order) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < h.size(); ++i)
        v = v << 8 | static_cast<unsigned char>(h[order == byte_order::big ? i : h.size() - 1 - i]);
    return v;
}

result model(const rule_case& c) {
    const std::string& s = c.stream;
    const std::size_t L = s.size(), max = c.max_message;
    spec cur = c.initial;
    std::size_t count_left = cur.count;
    result r;
    std::string msg;
    std::size_t pos = 0, found = 0;
    bool stop = false;
    // Collects bytes of the current message; past max_message the model keeps what the framer may have delivered
    // (up to the bound) and stops.
    auto take = [&](std::string_view b) {
        if (max != 0 && msg.size() + b.size() > max) {
            msg += b.substr(0, max - msg.size());
            r.err = error::too_long_collected;
            stop = true;
            return false;
        }
        msg += b;
        return true;
    };
    auto fail = [&](error e) {
        r.err = e;
        stop = true;
    };
    auto on_found = [&] {
        if (!msg.empty()) r.ev.push_back({false, std::exchange(msg, {})});
        r.ev.push_back({true, {}});
        if (!c.plan.empty()) {
            const plan_entry& p = c.plan[found % c.plan.size()];
            if (!p.keep) {
                cur = p.s;
                count_left = cur.count;
            }
        }
        ++found;
    };
    while (pos < L && !stop) {
        const std::string_view rest = std::string_view(s).substr(pos);
        const bool inactive = cur.kind == spec::none || (cur.kind == spec::counted && count_left == 0) ||
                              (cur.kind == spec::delimiter && cur.delim.empty());
        if (inactive) {
            if (take(rest)) pos = L;
            continue;
        }
        switch (cur.kind) {
        case spec::none: break;
        case spec::counted:
            if (rest.size() < count_left) {
                if (!take(rest)) break;
                count_left -= rest.size();
                pos = L;
            } else {
                if (!take(rest.substr(0, count_left))) break;
                pos += count_left;
                count_left = 0;
                on_found();
            }
            break;
        case spec::delimiter: {
            std::size_t i = pos;
            while (i + cur.delim.size() <= L && s.compare(i, cur.delim.size(), cur.delim) != 0) ++i;
            if (i + cur.delim.size() <= L) {
                if (!take(s.substr(pos, i - pos))) break;
                pos = i + cur.delim.size();
                on_found();
            } else {
                const std::size_t keep = naive_prefix_at_end(rest, cur.delim);
                if (!take(rest.substr(0, rest.size() - keep))) break;
                r.pending = rest.substr(rest.size() - keep);
                pos = L;
            }
            break;
        }
        case spec::any: {
            // The first place where a delimiter occurs, the longest one there...
            std::size_t at = L, len = 0;
            for (std::size_t p = pos; p < L && len == 0; ++p) {
                for (const auto& d : cur.delims)
                    if (p + d.size() <= L && s.compare(p, d.size(), d) == 0 && d.size() > len) {
                        at = p;
                        len = d.size();
                    }
            }
            // ...unless a delimiter may start at or before it and run past the end of the stream.
            std::size_t undecided = L;
            for (std::size_t p = pos; p < L && undecided == L; ++p)
                for (const auto& d : cur.delims)
                    if (L - p < d.size() && std::string_view(d).starts_with(std::string_view(s).substr(p)))
                        undecided = p;
            if (len != 0 && at < undecided) {
                if (!take(s.substr(pos, at - pos))) break;
                pos = at + len;
                on_found();
            } else {
                if (!take(s.substr(pos, undecided - pos))) break;
                r.pending = s.substr(undecided);
                pos = L;
            }
            break;
        }
        case spec::length: {
            const std::size_t h = cur.fmt.header_bytes;
            if (rest.size() < h) {
                r.pending = rest;
                pos = L;
                break;
            }
            const std::uint64_t field = read_field(rest.substr(0, h), cur.fmt.order);
            const std::int64_t adj = cur.fmt.length_adjustment;
            std::uint64_t length;
            if (adj < 0 && field < static_cast<std::uint64_t>(-adj)) {
                fail(error::framing);
                break;
            }
            if (adj > 0 && field > std::numeric_limits<std::uint64_t>::max() - static_cast<std::uint64_t>(adj)) {
                fail(error::framing);
                break;
            }
            length = adj < 0 ? field - static_cast<std::uint64_t>(-adj) : field + static_cast<std::uint64_t>(adj);
            if (max != 0 && length > max) {
                fail(error::too_long_announced);
                break;
            }
            if (rest.size() - h < length) {
                take(rest.substr(h));
                pos = L;
            } else {
                take(rest.substr(h, length));
                pos += h + length;
                on_found();
            }
            break;
        }
        case spec::netstring: {
            std::size_t i = pos;
            std::uint64_t length = 0;
            bool bad = false;
            for (; i < L && s[i] != ':' && !bad; ++i) {
                const char ch = s[i];
                const std::size_t digits = i - pos;
                if (ch < '0' || ch > '9' || (digits == 1 && s[pos] == '0') || digits == 20 ||
                    length > (std::numeric_limits<std::uint64_t>::max() - (ch - '0')) / 10) {
                    fail(error::framing);
                    bad = true;
                    break;
                }
                length = length * 10 + static_cast<std::uint64_t>(ch - '0');
                if (max != 0 && length > max) {
                    fail(error::too_long_announced);
                    bad = true;
                }
            }
            if (bad) break;
            if (i == L) {
                r.pending = rest;
                pos = L;
                break;
            }
            if (i == pos) {
                fail(error::framing);
                break;
            }
            const std::size_t p = i + 1;
            if (L - p < length) {
                take(s.substr(p));
                pos = L;
                break;
            }
            take(s.substr(p, length));
            const std::size_t q = p + length;
            if (q == L) {
                pos = L;
                break;
            }
            if (s[q] != ',') {
                fail(error::framing);
                break;
            }
            pos = q + 1;
            on_found();
            break;
        }
        }
    }
    if (!msg.empty()) r.ev.push_back({false, msg});
    r.final_term = cur.kind == spec::counted ? std::to_string(count_left) : show(cur.make());
    return r;
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

rule_case generate(rng_t& rng) {
    rule_case c;
    c.initial = random_spec(rng);
    for (std::size_t n = 1 + pick(rng, 4); n-- > 0;) {
        plan_entry e;
        if (pick(rng, 4) == 0) e.keep = true;
        else e.s = random_spec(rng);
        c.plan.push_back(e);
    }
    if (pick(rng, 3) == 0) c.max_message = 1 + pick(rng, 40);
    // Encode message after message, following the plan as the framer will.
    spec cur = c.initial;
    for (std::size_t m = 0, messages = 1 + pick(rng, 25), found = 0; m < messages; ++m) {
        c.stream += encode(rng, cur, c.max_message);
        const plan_entry& p = c.plan[found++ % c.plan.size()];
        if (!p.keep) cur = p.s;
        else if (cur.kind == spec::counted) cur.kind = spec::none; // a kept count stays at 0: no terminator
    }
    if (pick(rng, 3) == 0) c.stream.resize(pick(rng, c.stream.size() + 1)); // a truncated last message
    if (pick(rng, 8) == 0 && !c.stream.empty()) c.stream[pick(rng, c.stream.size())] = static_cast<char>(pick(rng, 256));
    return c;
}

std::string describe(const rule_case& c) {
    std::string out = "initial=" + show(c.initial.make()) + " plan=[";
    for (const auto& p : c.plan) out += (p.keep ? std::string("keep") : show(p.s.make())) + " ";
    return out + "] max_message=" + std::to_string(c.max_message) + " stream=\"" + escape(c.stream) + "\"";
}

// ---- ours

struct run_result {
    result r;
    std::size_t empty_collects = 0;
    bool kept_too_much = false; // a rule held max_hold() bytes or more between feeds
};

run_result run_ours(const rule_case& c, const std::vector<std::string>& chunks) {
    asynchat::framer f(c.initial.make(), c.max_message);
    recorder rec;
    rec.framer = &f;
    for (const auto& p : c.plan) rec.plan.push_back(p.keep ? action{} : action{action::set, p.s.make()});
    run_result out;
    try {
        for (const auto& ch : chunks) {
            f.feed(ch, rec);
            if (const auto* rule = f.get_terminator().get_rule(); rule && f.pending().size() >= rule->max_hold())
                out.kept_too_much = true;
        }
    } catch (const asynchat::framing_error&) {
        out.r.err = error::framing;
    } catch (const asynchat::message_too_long& e) {
        out.r.err = e.attempted() > f.max_message() && e.limit() == c.max_message ? error::too_long_announced
                                                                                  : error::framing; // a bad exception
    }
    out.r.ev = std::move(rec.ev);
    out.r.pending = f.pending();
    out.r.final_term = show(f.get_terminator());
    out.empty_collects = rec.empty_collects;
    return out;
}

// Exact agreement, except where the bound stopped a message being collected: how much of it reached the sink
// before the throw depends on the cuts, so that last piece must only be a prefix of the model's (bounded) one.
bool agrees(const run_result& got, const result& want) {
    if (got.empty_collects != 0 || got.kept_too_much) return false;
    if (want.err == error::too_long_collected) {
        if (got.r.err != error::too_long_announced) return false; // message_too_long, whichever way
        const events &g = got.r.ev, &w = want.ev;
        if (g.size() > w.size() || g.size() + 1 < w.size()) return false;
        for (std::size_t k = 0; k < g.size(); ++k) {
            const bool last = k + 1 == g.size();
            if (g[k].found != w[k].found) return false;
            if (!(last ? w[k].data.starts_with(g[k].data) : g[k].data == w[k].data)) return false;
        }
        // Missing at most the model's last, partial piece.
        return g.size() == w.size() || !w.back().found;
    }
    if (got.r.err != want.err || got.r.ev != want.ev) return false;
    return want.err != error::none || (got.r.pending == want.pending && got.r.final_term == want.final_term);
}

std::vector<std::string> random_cuts(rng_t& rng, std::string_view s) { return random_split(rng, s); }

} // namespace

BOOST_AUTO_TEST_SUITE(framing_rules_property)

BOOST_AUTO_TEST_CASE(rules_and_builtin_kinds_against_the_model) {
    const std::uint64_t seed = base_seed();
    BOOST_TEST_MESSAGE("property seed " << seed);
    std::size_t failures = 0, founds = 0, errors[4] = {};
    const std::size_t cases = 2500;
    for (std::size_t i = 0; i < cases && failures < 5; ++i) {
        rng_t rng(seed + i);
        const rule_case c = generate(rng);
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

BOOST_AUTO_TEST_SUITE_END()
