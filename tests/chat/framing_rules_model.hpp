#pragma once
// The reference model of the framing suites: a whole stream framed at once, with naive, obviously-correct code,
// by the built-in kinds (none, delimiter, count) and the framing rules (any_delimiter, length_prefixed,
// netstring), with the terminator switched inside found_terminator by a plan (and, optionally, bytes given back
// with framer::unread there), and a bound on messages. run_ours drives the real framer over the same case cut into
// pieces; agrees compares the two. Used by tests/chat/test_framing_rules_property.cpp (seeded random cases) and by
// tests/fuzz/fuzz_framer.cpp (libFuzzer's cases); it needs no test framework.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <asynchat/framer.hpp>
#include <asynchat/framing_rules.hpp>

#include "chat_test_util.hpp"

namespace chat_test::rules_model {

using asynchat::terminator;
using byte_order = asynchat::length_prefixed::byte_order;

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
    std::string unread; // given back with framer::unread inside that found_terminator, after the switch
};

struct rule_case {
    spec initial;
    std::vector<plan_entry> plan; // cycled over the found_terminator calls
    std::string stream;
    std::size_t max_message = 0;
    // Most unread() calls made, in all: a plan whose every found_terminator gives a whole message back would
    // otherwise never end.
    std::size_t max_unreads = 64;
};

enum class error { none, framing, too_long_announced, too_long_collected };

inline const char* name(error e) {
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

inline std::size_t naive_prefix_at_end(std::string_view h, std::string_view n) {
    if (n.empty()) return 0;
    std::size_t l = n.size() - 1;
    while (l && !h.ends_with(n.substr(0, l))) --l;
    return l;
}

inline std::uint64_t read_field(std::string_view h, byte_order order) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < h.size(); ++i)
        v = v << 8 | static_cast<unsigned char>(h[order == byte_order::big ? i : h.size() - 1 - i]);
    return v;
}

inline result model(const rule_case& c) {
    std::string s = c.stream; // bytes given back by unread() are put in it where they are framed
    std::size_t L = s.size();
    const std::size_t max = c.max_message;
    spec cur = c.initial;
    std::size_t count_left = cur.count;
    result r;
    std::string msg;
    std::size_t pos = 0, found = 0, unreads = 0;
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
            // Framed next, before everything not yet framed.
            if (!p.unread.empty() && unreads < c.max_unreads) {
                ++unreads;
                s.insert(pos, p.unread);
                L = s.size();
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
            // |adj| computed unsigned: -adj overflows for INT64_MIN.
            const std::uint64_t magnitude = adj < 0 ? 0 - static_cast<std::uint64_t>(adj) : static_cast<std::uint64_t>(adj);
            std::uint64_t length;
            if (adj < 0 && field < magnitude) {
                fail(error::framing);
                break;
            }
            if (adj > 0 && field > std::numeric_limits<std::uint64_t>::max() - magnitude) {
                fail(error::framing);
                break;
            }
            length = adj < 0 ? field - magnitude : field + magnitude;
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

// ---- ours

struct run_result {
    result r;
    std::size_t empty_collects = 0;
    bool kept_too_much = false; // a rule held max_hold() bytes or more between feeds
};

// recorder's events, following the case's plan (unread() included) on each found_terminator.
struct plan_recorder : asynchat::framer_sink {
    asynchat::framer& framer;
    const std::vector<plan_entry>& plan;
    std::size_t max_unreads;
    std::size_t unreads = 0;
    std::vector<terminator> terms; // each entry's terminator, made once (a rule object is reused when cycled)
    events ev;
    std::size_t found_count = 0;
    std::size_t empty_collects = 0;

    plan_recorder(asynchat::framer& f, const std::vector<plan_entry>& p, std::size_t unread_limit)
        : framer(f), plan(p), max_unreads(unread_limit) {
        for (const auto& e : plan) terms.push_back(e.keep ? terminator{} : e.s.make());
    }
    void collect_incoming_data(std::string_view d) override {
        if (d.empty()) ++empty_collects;
        if (!ev.empty() && !ev.back().found) ev.back().data += d;
        else ev.push_back({false, std::string(d)});
    }
    void found_terminator() override {
        ev.push_back({true, {}});
        if (plan.empty()) return;
        const std::size_t i = found_count++ % plan.size();
        if (!plan[i].keep) framer.set_terminator(terms[i]);
        if (!plan[i].unread.empty() && unreads < max_unreads) {
            ++unreads;
            framer.unread(plan[i].unread);
        }
    }
};

inline run_result run_ours(const rule_case& c, const std::vector<std::string>& chunks) {
    asynchat::framer f(c.initial.make(), c.max_message);
    plan_recorder rec(f, c.plan, c.max_unreads);
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
inline bool agrees(const run_result& got, const result& want) {
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

} // namespace chat_test::rules_model
