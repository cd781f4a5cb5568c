// Differential test against Twisted, live: the same streams, in the same reads, go through Twisted's
// NetstringReceiver and Int8/Int16/Int32StringReceiver (twisted_oracle.py) and through our netstring and
// length_prefixed(1, 2, 4) rules, with MAX_LENGTH = max_message. The messages received, whether the connection was
// closed, why (too long or malformed) and during which read must all be the same.
//
// Skipped (reported as such) when Twisted is not importable (Debian: python3-twisted, for /usr/bin/python3).
// ASYNCHAT_TWISTED_PYTHON=<interpreter> picks another interpreter.
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "framing_rules_test_util.hpp"

using namespace chat_test;

#ifndef ASYNCHAT_TWISTED_ORACLE_SCRIPT
#error "ASYNCHAT_TWISTED_ORACLE_SCRIPT must name twisted_oracle.py"
#endif

namespace {

boost::test_tools::assertion_result twisted_available(boost::unit_test::test_unit_id) {
    if (python_can(twisted_python(), "from twisted.protocols import basic; from twisted.internet.testing import StringTransport"))
        return true;
    boost::test_tools::assertion_result r(false);
    r.message() << twisted_python() << " cannot import Twisted (Debian package python3-twisted)";
    return r;
}

struct twisted_case {
    std::string proto; // netstring, int8, int16, int32
    std::size_t max_length = 99999;
    std::vector<std::string> chunks;
};

asynchat::terminator rule_for(const std::string& proto) {
    if (proto == "netstring") return asynchat::netstring::make();
    return asynchat::length_prefixed::make(proto == "int8" ? 1 : proto == "int16" ? 2 : 4);
}

// Ours, in the oracle's output format.
std::string run_ours(const twisted_case& c) {
    asynchat::framer f(rule_for(c.proto), c.max_length);
    message_sink sink;
    std::string out;
    std::size_t reported = 0;
    auto report = [&] {
        for (; reported < sink.messages.size(); ++reported) out += "M " + to_hex(sink.messages[reported]) + "\n";
    };
    for (std::size_t i = 0; i < c.chunks.size(); ++i) {
        try {
            f.feed(c.chunks[i], sink);
        } catch (const asynchat::message_too_long&) {
            report();
            return out + "E too_long " + std::to_string(i) + "\nend\n";
        } catch (const asynchat::framing_error&) {
            report();
            return out + "E framing " + std::to_string(i) + "\nend\n";
        }
        report();
    }
    return out + "end\n";
}

std::string describe(const twisted_case& c) {
    std::string out = c.proto + " MAX_LENGTH=" + std::to_string(c.max_length) + " chunks=[";
    for (const auto& ch : c.chunks) out += "\"" + escape(ch) + "\" ";
    return out + "]";
}

// The one known difference. NetstringReceiver checks a length that is still arriving only when a read ends inside
// it, so a read holding both the digits of a too-long length and then a malformation ("3abc" with MAX_LENGTH 1) is
// "malformed" for Twisted, while the same bytes in two reads ("3", "abc") are "too long". The rule checks byte by
// byte, in stream order, so for it the length is too long whatever the reads. Same messages, same read closed.
bool same_but_reported_in_stream_order(const std::string& ours, const std::string& twisted) {
    const std::size_t a = ours.find("E too_long "), b = twisted.find("E framing ");
    return a != std::string::npos && a == b &&
           ours.substr(a + std::string_view("E too_long ").size()) ==
               twisted.substr(b + std::string_view("E framing ").size());
}

void compare(const std::vector<twisted_case>& cases) {
    std::ostringstream os;
    for (const auto& c : cases) {
        os << "case " << c.proto << ' ' << c.max_length << '\n';
        for (const auto& ch : c.chunks) os << "chunk " << to_hex(ch) << '\n';
        os << "end\n";
    }
    const std::vector<std::string> want = run_oracle(twisted_python(), ASYNCHAT_TWISTED_ORACLE_SCRIPT, os.str());
    BOOST_REQUIRE_EQUAL(want.size(), cases.size());
    std::size_t failures = 0, errors = 0, messages = 0, reordered = 0;
    for (std::size_t i = 0; i < cases.size() && failures < 5; ++i) {
        const std::string got = run_ours(cases[i]);
        if (want[i].find("\nE ") != std::string::npos || want[i].starts_with("E ")) ++errors;
        for (std::size_t p = 0; (p = want[i].find("M ", p)) != std::string::npos; ++p) ++messages;
        if (got != want[i] && same_but_reported_in_stream_order(got, want[i])) {
            ++reordered;
            continue;
        }
        if (got != want[i]) {
            ++failures;
            BOOST_ERROR("case " << i << ": " << describe(cases[i]) << "\n--- ours:\n" << got << "--- twisted:\n"
                                << want[i]);
        }
    }
    BOOST_TEST(failures == 0u);
    BOOST_TEST_MESSAGE(cases.size() << " cases, " << messages << " messages, " << errors << " closed connections ("
                                    << reordered << " too long for us, malformed for Twisted)");
    // The streams must exercise both outcomes, or the comparison says little.
    BOOST_TEST(errors > cases.size() / 20);
    BOOST_TEST(messages > cases.size());
}

// Streams mostly well-formed, with the malformed and oversized inputs Twisted guards against mixed in.
std::string random_stream(rng_t& rng, const std::string& proto, std::size_t max_length) {
    std::string s;
    const std::size_t header = proto == "int8" ? 1 : proto == "int16" ? 2 : 4;
    for (std::size_t m = 0, n = 1 + pick(rng, 12); m < n; ++m) {
        std::string payload;
        for (std::size_t k = pick(rng, 8) == 0 ? pick(rng, 80) : pick(rng, 10); k-- > 0;)
            payload += "ab:,09\r\n"[pick(rng, 8)];
        const std::size_t r = pick(rng, 30);
        if (proto == "netstring") {
            static const std::vector<std::string> bad{"05:", "00:", ":", "x", "-1:", "3abc,", "2:abc,", "0:a,", "1:a;",
                                                      "123456789012345678901", "99999999999999999999:", "12a:"};
            if (r == 0) s += bad[pick(rng, bad.size())];
            else if (r == 1) s += std::to_string(max_length + 1 + pick(rng, 3)) + ":";
            else if (r == 2) s += std::to_string(max_length) + ":" + std::string(max_length, 'm') + ",";
            else s += ns(payload);
        } else {
            if (r == 0) {
                for (std::size_t k = 0; k < header; ++k) s += static_cast<char>(pick(rng, 256));
            } else if (r == 1 && max_length + 1 < (std::size_t{1} << (8 * header))) {
                s += asynchat::length_prefixed::header(max_length + 1, {header, asynchat::length_prefixed::byte_order::big, 0});
            } else {
                if (header == 1 && payload.size() > 255) payload.resize(255);
                s += lp(payload, header);
            }
        }
    }
    if (pick(rng, 4) == 0) s.resize(pick(rng, s.size() + 1));
    return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(framing_twisted_oracle)

BOOST_AUTO_TEST_CASE(random_streams_random_cuts_and_packets_1_to_9, *boost::unit_test::precondition(twisted_available)) {
    const std::uint64_t seed = 1010;
    std::vector<twisted_case> cases;
    for (const std::string proto : {"netstring", "int8", "int16", "int32"}) {
        for (std::size_t i = 0; i < 300; ++i) {
            rng_t rng(seed + i + (proto.size() << 20) + static_cast<std::uint64_t>(proto[3]) * 7919);
            static constexpr std::size_t bounds[] = {1, 5, 50, 99999};
            const std::size_t max_length = bounds[pick(rng, 4)];
            const std::string s = random_stream(rng, proto, max_length);
            cases.push_back({proto, max_length, random_split(rng, s)});
            for (std::size_t n = 1; n <= 9; ++n) cases.push_back({proto, max_length, packets(s, n)});
        }
    }
    compare(cases);
}

BOOST_AUTO_TEST_SUITE_END()
