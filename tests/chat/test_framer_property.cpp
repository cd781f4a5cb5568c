// Seeded random streams, randomly segmented, against a reference model that frames the whole concatenated
// stream at once with naive searches: if the framer's handling of segment boundaries (carried bytes, counts
// spanning feeds, terminators changed mid-buffer) is wrong anywhere, the two disagree.
//
// The seed is fixed so failures reproduce; ASYNCHAT_PROPERTY_SEED=<n> explores others. A failure prints the
// seed, the case number and the whole case.
#include <cstdlib>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "chat_test_util.hpp"

using namespace chat_test;
using asynchat::terminator;

namespace {

std::uint64_t base_seed() {
    if (const char* s = std::getenv("ASYNCHAT_PROPERTY_SEED")) return std::strtoull(s, nullptr, 10);
    return 20240611;
}

// Python's find_prefix_at_end, literally.
std::size_t naive_prefix_at_end(std::string_view h, std::string_view n) {
    if (n.empty()) return 0;
    std::size_t l = n.size() - 1;
    while (l && !h.ends_with(n.substr(0, l))) --l;
    return l;
}

std::size_t naive_find(std::string_view s, std::string_view d, std::size_t from) {
    for (std::size_t i = from; i + d.size() <= s.size(); ++i)
        if (s.substr(i, d.size()) == d) return i;
    return std::string_view::npos;
}

// Python's handle_read loop run once over the whole stream: no segmentation, so nothing to carry.
struct model_result {
    outcome out;
    std::size_t longest_message = 0;   // most bytes collected between two found_terminator calls
};

model_result model(const stream_case& c) {
    std::string s;
    for (const auto& ch : c.chunks) s += ch;
    terminator t = c.initial;
    model_result r;
    std::string msg;
    std::size_t pos = 0, found = 0;
    auto take = [&](std::string_view bytes) {
        msg += bytes;
        r.longest_message = std::max(r.longest_message, msg.size());
    };
    auto on_found = [&] {
        if (!msg.empty()) r.out.ev.push_back({false, std::exchange(msg, {})});
        r.out.ev.push_back({true, {}});
        if (!c.plan.empty()) {
            const action& a = c.plan[found % c.plan.size()];
            if (a.kind == action::set) t = a.term;
        }
        ++found;
    };
    while (pos < s.size()) {
        const std::string_view rest = std::string_view(s).substr(pos);
        if (!t) {
            take(rest);
            pos = s.size();
        } else if (t.is_count()) {
            const std::size_t n = t.remaining();
            if (rest.size() < n) {
                take(rest);
                t = terminator::count(n - rest.size());
                pos = s.size();
            } else {
                take(rest.substr(0, n));
                pos += n;
                t = terminator::count(0);
                on_found();
            }
        } else {
            const std::string d(t.bytes());
            const std::size_t i = naive_find(s, d, pos);
            if (i != std::string_view::npos) {
                take(rest.substr(0, i - pos));
                pos = i + d.size();
                on_found();
            } else {
                const std::size_t keep = naive_prefix_at_end(rest, d);
                take(rest.substr(0, rest.size() - keep));
                r.out.pending = rest.substr(rest.size() - keep);
                pos = s.size();
            }
        }
    }
    if (!msg.empty()) r.out.ev.push_back({false, msg});
    r.out.final_term = t;
    return r;
}

enum class family { delimiters, counts, none, changes };

stream_case generate(rng_t& rng, family fam) {
    stream_case c;
    switch (fam) {
    case family::delimiters: c.initial = terminator(delimiters()[pick(rng, delimiters().size())]); break;
    case family::counts: c.initial = terminator::count(pick(rng, 16)); break;
    case family::none:
        c.initial = pick(rng, 2) ? terminator::none() : terminator(std::string_view{});
        break;
    case family::changes:
        c.initial = random_terminator(rng);
        c.plan = random_plan(rng, false);
        break;
    }
    if (fam == family::counts) {
        // Counts are re-armed on every found_terminator, or the rest of the stream is one unframed message.
        c.plan.push_back({action::set, terminator::count(1 + pick(rng, 9))});
        if (pick(rng, 2)) c.plan.push_back({action::set, terminator::count(pick(rng, 30))});
    }
    c.chunks = random_split(rng, random_stream(rng, 1 + pick(rng, 40)));
    return c;
}

void check_family(family fam, std::size_t cases) {
    const std::uint64_t seed = base_seed() + static_cast<std::uint64_t>(fam) * 1000003;
    BOOST_TEST_MESSAGE("property seed " << seed << ", " << cases << " cases");
    std::size_t failures = 0, founds = 0;
    for (std::size_t i = 0; i < cases && failures < 5; ++i) {
        rng_t rng(seed + i);
        const stream_case c = generate(rng, fam);

        // Ours, checking after every feed that only a partial delimiter is ever kept.
        asynchat::framer f(c.initial);
        recorder r;
        r.framer = &f;
        r.plan = c.plan;
        bool kept_too_much = false;
        for (const auto& ch : c.chunks) {
            f.feed(ch, r);
            const terminator& t = f.get_terminator();
            const bool framing = t && t.is_delimiter();
            if (c.plan.empty() && (framing ? f.pending().size() >= t.bytes().size() : !f.pending().empty()))
                kept_too_much = true;
        }
        const model_result want = model(c);
        founds += r.found_count;
        const bool same = r.ev == want.out.ev && f.pending() == want.out.pending &&
                          f.get_terminator() == want.out.final_term && r.empty_collects == 0 && !kept_too_much;
        if (!same) {
            ++failures;
            BOOST_ERROR("seed " << seed << " + case " << i << ": " << c.describe() << "\n  got:  " << render(r.ev)
                                << " pending=\"" << escape(f.pending()) << "\" term=" << f.get_terminator()
                                << " empty_collects=" << r.empty_collects << " kept_too_much=" << kept_too_much
                                << "\n  want: " << render(want.out.ev) << " pending=\""
                                << escape(want.out.pending) << "\" term=" << want.out.final_term);
        }
    }
    BOOST_TEST(failures == 0u);
    // Guards against a generator that stopped producing anything worth checking.
    if (fam != family::none) BOOST_TEST(founds > cases);
}

} // namespace

BOOST_AUTO_TEST_SUITE(framer_property)

BOOST_AUTO_TEST_CASE(delimiter_terminators) { check_family(family::delimiters, 3000); }
BOOST_AUTO_TEST_CASE(count_terminators) { check_family(family::counts, 3000); }
BOOST_AUTO_TEST_CASE(none_terminators) { check_family(family::none, 500); }
BOOST_AUTO_TEST_CASE(terminator_changes_inside_found_terminator) { check_family(family::changes, 4000); }

// max_message: the framer throws exactly when the model's longest message is over the limit, and the sink never
// sees more than the limit of any message nor anything the model would not have delivered.
BOOST_AUTO_TEST_CASE(max_message_limit) {
    const std::uint64_t seed = base_seed() + 77;
    BOOST_TEST_MESSAGE("property seed " << seed);
    std::size_t failures = 0, threw_count = 0;
    for (std::size_t i = 0; i < 3000 && failures < 5; ++i) {
        rng_t rng(seed + i);
        const stream_case c = generate(rng, pick(rng, 2) ? family::changes : family::delimiters);
        const std::size_t limit = 1 + pick(rng, 24);
        const model_result want = model(c);

        asynchat::framer f(c.initial, limit);
        recorder r;
        r.framer = &f;
        r.plan = c.plan;
        bool threw = false;
        try {
            for (const auto& ch : c.chunks) f.feed(ch, r);
        } catch (const asynchat::message_too_long& e) {
            threw = true;
            ++threw_count;
            if (e.limit() != limit || e.attempted() <= limit) {
                ++failures;
                BOOST_ERROR("bad exception " << e.what());
            }
        }
        // Collect calls between two found_terminator calls are merged into one event: its size is the message's.
        std::size_t worst = 0;
        for (const auto& e : r.ev)
            if (!e.found) worst = std::max(worst, e.data.size());

        bool prefix = r.ev.size() <= want.out.ev.size();
        for (std::size_t k = 0; prefix && k < r.ev.size(); ++k) {
            const event &got = r.ev[k], &exp = want.out.ev[k];
            prefix = got.found == exp.found &&
                     (k + 1 == r.ev.size() ? exp.data.starts_with(got.data) : got.data == exp.data);
        }
        const bool ok = threw == (want.longest_message > limit) && worst <= limit && prefix &&
                        (threw || r.ev == want.out.ev);
        if (!ok) {
            ++failures;
            BOOST_ERROR("seed " << seed << " + case " << i << " limit=" << limit << ": " << c.describe()
                                << "\n  threw=" << threw << " worst=" << worst << " got: " << render(r.ev)
                                << "\n  want longest=" << want.longest_message << ": " << render(want.out.ev));
        }
    }
    BOOST_TEST(failures == 0u);
    BOOST_TEST(threw_count > 100u);
    BOOST_TEST(threw_count < 2900u);
}

BOOST_AUTO_TEST_SUITE_END()
