// Differential test against CPython's own asynchat: the same cases (random streams, random segmentation,
// terminators changed inside found_terminator and between reads, discard_buffers inside found_terminator) go
// through asynchat_oracle.py and through our framer, and the event sequences must be identical, as must the
// bytes left buffered and the final terminator.
//
// Skipped (reported as such) when python3 or its asynchat module (removed in Python 3.12) is not available.
// ASYNCHAT_TEST_PYTHON=<interpreter> picks the interpreter.
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "chat_test_util.hpp"

using namespace chat_test;
using asynchat::terminator;

#ifndef ASYNCHAT_ORACLE_SCRIPT
#error "ASYNCHAT_ORACLE_SCRIPT must name asynchat_oracle.py"
#endif

namespace {

std::string python() {
    const char* p = std::getenv("ASYNCHAT_TEST_PYTHON");
    return p && *p ? p : "python3";
}

boost::test_tools::assertion_result python_with_asynchat(boost::unit_test::test_unit_id) {
    if (python_can(python(), "import warnings; warnings.simplefilter('ignore'); import asynchat")) return true;
    boost::test_tools::assertion_result r(false);
    r.message() << python() << " with the asynchat module (Python < 3.12) is not available";
    return r;
}

std::string token(const terminator& t) {
    switch (t.type()) {
    case terminator::kind::none: return "N";
    case terminator::kind::count: return "C" + std::to_string(t.remaining());
    case terminator::kind::delimiter: break;
    case terminator::kind::rule: throw std::logic_error("Python's asynchat has no framing rules");
    }
    return "D" + to_hex(t.bytes());
}

std::string token(const action& a) {
    return a.kind == action::keep ? "K" : a.kind == action::reset ? "R" : token(a.term);
}

void write_case(std::ostream& os, const stream_case& c) {
    os << "case\ninit " << token(c.initial) << "\nplan";
    for (const auto& a : c.plan) os << ' ' << token(a);
    os << '\n';
    for (const auto& [i, t] : c.between) os << "between " << i << ' ' << token(t) << '\n';
    for (const auto& ch : c.chunks) os << "chunk " << to_hex(ch) << '\n';
    os << "end\n";
}

// Our outcome in the oracle's output format.
std::string format(const outcome& o) {
    std::string s;
    for (const auto& e : o.ev) s += e.found ? "F\n" : "D " + to_hex(e.data) + "\n";
    return s + "P " + to_hex(o.pending) + "\nT " + token(o.final_term) + "\nend\n";
}

// The oracle's output, one string per case.
std::vector<std::string> run_python(const std::vector<stream_case>& cases) {
    std::ostringstream os;
    for (const auto& c : cases) write_case(os, c);
    return run_oracle(python(), ASYNCHAT_ORACLE_SCRIPT, os.str());
}

void compare(const std::vector<stream_case>& cases, std::uint64_t seed) {
    const std::vector<std::string> want = run_python(cases);
    BOOST_REQUIRE_EQUAL(want.size(), cases.size());
    std::size_t failures = 0;
    for (std::size_t i = 0; i < cases.size() && failures < 5; ++i) {
        const outcome o = run(cases[i]);
        const std::string got = format(o);
        if (got != want[i] || o.empty_collects != 0) {
            ++failures;
            BOOST_ERROR("seed " << seed << " case " << i << ": " << cases[i].describe() << "\n--- ours:\n"
                                << got << "--- python:\n" << want[i]);
        }
    }
    BOOST_TEST(failures == 0u);
}

} // namespace

BOOST_AUTO_TEST_SUITE(framer_python_oracle)

BOOST_AUTO_TEST_CASE(fixed_protocols_in_every_packet_size, *boost::unit_test::precondition(python_with_asynchat)) {
    std::vector<stream_case> cases;
    const std::vector<std::pair<terminator, std::string>> streams{
        {"\n", "hello world\nI'm not dead yet!\nQUIT\n"},
        {"\r\n", "hello world\r\n\r\nI'm not\r dead\n yet!\r\n\r"},
        {"qqq", "helloqqqqworldqqqqqqqq"},
        {terminator::count(6), "hello world, I'm not dead yet!\n"},
        {terminator::none(), "hello world, I'm not dead yet!\n"},
        {terminator(""), "abc"},
        {"\r\n.\r\n", "a\r\n.\r\r\n.\r\n\r\n.\r\n.\r\n\r\n.\r\nrest\r\n."},
    };
    for (const auto& [t, s] : streams)
        for (std::size_t n = 1; n <= 10; ++n) cases.push_back({t, {}, packets(s, n), {}});
    compare(cases, 0);
}

BOOST_AUTO_TEST_CASE(random_streams, *boost::unit_test::precondition(python_with_asynchat)) {
    const std::uint64_t seed = 424242;
    std::vector<stream_case> cases;
    for (std::size_t i = 0; i < 3000; ++i) {
        rng_t rng(seed + i);
        stream_case c;
        c.initial = random_terminator(rng);
        c.plan = random_plan(rng, true);
        c.chunks = random_split(rng, random_stream(rng, 1 + pick(rng, 30)));
        // Terminators set between reads frame whatever partial delimiter is still buffered.
        for (std::size_t k = 0; k < c.chunks.size(); ++k)
            if (pick(rng, 6) == 0) c.between.emplace_back(k, random_terminator(rng));
        cases.push_back(std::move(c));
    }
    compare(cases, seed);
}

BOOST_AUTO_TEST_SUITE_END()
