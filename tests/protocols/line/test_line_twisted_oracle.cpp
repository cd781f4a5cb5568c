// Differential test against Twisted's own LineReceiver: the same LineTester protocol (line_test_util.hpp and
// twisted_line_oracle.py), the same byte streams cut the same way, and the sequence of lines and raw blocks must
// be identical. The streams switch between line and raw mode in the middle of reads, end raw blocks inside
// delimiters and hold delimiters inside raw blocks: everything set_raw_mode / set_line_mode(rest) must get right.
// Lines stay under the length bound, where the two differ on purpose (see test_line_receiver.cpp).
//
// Skipped (reported as such) when no interpreter with Twisted is found: ASYNCHAT_TWISTED_PYTHON names one,
// otherwise /usr/bin/python3 and python3 are tried.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <asynchat/string_transport.hpp>

#include "line_test_util.hpp"

#ifndef LINE_ORACLE_SCRIPT
#error "LINE_ORACLE_SCRIPT must name twisted_line_oracle.py"
#endif

using namespace line_test;
using chat_test::from_hex;
using chat_test::python_can;
using chat_test::run_oracle;
using chat_test::twisted_python;
using chat_test::to_hex;

namespace {

boost::test_tools::assertion_result have_twisted(boost::unit_test::test_unit_id) {
    if (python_can(twisted_python(), "import twisted.protocols.basic")) return true;
    boost::test_tools::assertion_result r(false);
    r.message() << twisted_python() << " cannot import Twisted (Debian package python3-twisted)";
    return r;
}

struct line_case {
    std::string delimiter;
    std::size_t max_length = 1000;
    std::vector<std::string> chunks;
};

std::string describe(const line_case& c) {
    std::string s = "delimiter \"" + printable(c.delimiter) + "\" chunks";
    for (const auto& ch : c.chunks) s += " \"" + printable(ch) + "\"";
    return s;
}

// Ours, in the oracle's output format.
std::string ours(const line_case& c) {
    line_tester t(c.delimiter, c.max_length);
    asynchat::string_transport tr(t);
    for (const auto& ch : c.chunks) tr.receive(ch);
    std::string out;
    for (const auto& r : t.received) out += "R " + to_hex(r) + "\n";
    for (std::size_t i = 0; i < t.too_long.size(); ++i) out += "X\n";
    return out + "end\n";
}

std::vector<std::string> theirs(const std::vector<line_case>& cases) {
    std::ostringstream os;
    for (const auto& c : cases) {
        os << "case " << to_hex(c.delimiter) << ' ' << c.max_length << '\n';
        for (const auto& ch : c.chunks) os << "chunk " << to_hex(ch) << '\n';
        os << "end\n";
    }
    return run_oracle(twisted_python(), LINE_ORACLE_SCRIPT, os.str());
}

// The output formats decoded, for a readable failure.
std::string readable(const std::string& result) {
    std::string out;
    std::size_t pos = 0;
    while (pos < result.size()) {
        const std::size_t eol = result.find('\n', pos);
        const std::string line = result.substr(pos, eol - pos);
        pos = eol + 1;
        if (line.starts_with("R ")) out += "\"" + printable(from_hex(line.substr(2))) + "\" ";
        else out += line + " ";
    }
    return out;
}

void compare(const std::vector<line_case>& cases, std::uint64_t seed) {
    const auto want = theirs(cases);
    BOOST_REQUIRE_EQUAL(want.size(), cases.size());
    std::size_t failures = 0;
    for (std::size_t i = 0; i < cases.size() && failures < 5; ++i) {
        const std::string got = ours(cases[i]);
        if (got != want[i]) {
            ++failures;
            BOOST_ERROR("seed " << seed << " case " << i << ": " << describe(cases[i]) << "\n  ours:    "
                                << readable(got) << "\n  twisted: " << readable(want[i]));
        }
    }
    BOOST_TEST(failures == 0u);
}

} // namespace

BOOST_AUTO_TEST_SUITE(line_receiver_twisted_oracle)

// test_buffer's stream (its long line under the bound here), with LF and CRLF, in packets of 1 to 9 bytes.
BOOST_AUTO_TEST_CASE(twisted_buffer_in_every_packet_size, *boost::unit_test::precondition(have_twisted)) {
    std::vector<line_case> cases;
    std::string crlf;
    for (char c : twisted_buffer) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
    for (const auto& [d, s] : {std::pair<std::string, std::string>{"\n", twisted_buffer}, {"\r\n", crlf}})
        for (std::size_t n = 1; n <= 9; ++n) cases.push_back({d, 1000, chat_test::packets(s, n)});
    compare(cases, 0);
}

BOOST_AUTO_TEST_CASE(random_streams, *boost::unit_test::precondition(have_twisted)) {
    std::uint64_t seed = 8023;
    if (const char* e = std::getenv("ASYNCHAT_PROPERTY_SEED")) seed = std::strtoull(e, nullptr, 10);
    BOOST_TEST_MESSAGE("property seed " << seed);
    const std::vector<std::string> delimiters{"\n", "\r\n", "\r\n.\r\n", "--b--", "aab"};
    std::vector<line_case> cases;
    for (std::size_t i = 0; i < 2000; ++i) {
        chat_test::rng_t rng(seed + i);
        line_case c;
        c.delimiter = delimiters[chat_test::pick(rng, delimiters.size())];
        const std::string& d = c.delimiter;
        // Raw bytes mix the delimiter's own bytes (so that raw blocks hold and cut delimiters) with others.
        auto raw_byte = [&] { return chat_test::pick(rng, 2) ? d[chat_test::pick(rng, d.size())] : "xy\r\n-"[chat_test::pick(rng, 5)]; };
        std::string s;
        for (std::size_t items = 1 + chat_test::pick(rng, 10); items-- > 0;) {
            switch (chat_test::pick(rng, 3)) {
            case 0: {
                const std::size_t n = chat_test::pick(rng, 15);
                s += "len " + std::to_string(n) + d + d;
                for (std::size_t k = 0; k < n; ++k) s += raw_byte();
                break;
            }
            case 1: s += d; break;   // an empty line: raw mode with whatever length is left (usually 0)
            default:
                s += "w";   // never empty, never "len "
                for (std::size_t k = chat_test::pick(rng, 12); k-- > 0;) s += "wxyz.\r"[chat_test::pick(rng, 6)];
                s += d;
            }
        }
        if (chat_test::pick(rng, 3) == 0) s += "tail" + d.substr(0, chat_test::pick(rng, d.size()));
        c.chunks = chat_test::random_split(rng, s);
        cases.push_back(std::move(c));
    }
    compare(cases, seed);
}

BOOST_AUTO_TEST_SUITE_END()
