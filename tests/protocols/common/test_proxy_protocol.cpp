// asynchat::proxy::header_parser — HAProxy's PROXY protocol, v1 and v2 (proxy_protocol.hpp): every form a
// balancer sends, taken whole, in every split and byte by byte, never past the header's end; every malformed,
// truncated and oversized header refused, as early as its bytes allow.
#include <boost/test/unit_test.hpp>

#include <string>
#include <string_view>
#include <vector>

#include <asynchat/proxy_protocol.hpp>

using asynchat::proxy::header_parser;
using status = header_parser::status;
using namespace std::string_literals;

namespace {

const std::string v2_signature("\r\n\r\n\0\r\nQUIT\n", 12);

// A v2 header: version/command byte, family/transport byte, then the body (addresses and TLVs) with its length.
std::string v2(unsigned char ver_cmd, unsigned char fam_trans, const std::string& body) {
    std::string out = v2_signature;
    out += static_cast<char>(ver_cmd);
    out += static_cast<char>(fam_trans);
    out += static_cast<char>((body.size() >> 8) & 0xff);
    out += static_cast<char>(body.size() & 0xff);
    return out + body;
}

// 203.0.113.7:56324 -> 192.0.2.1:443 as a v2 IPv4 address block.
const std::string inet_block("\xcb\x00\x71\x07" "\xc0\x00\x02\x01" "\xdc\x04" "\x01\xbb", 12);

std::string inet6_block() {
    std::string b(36, '\0');
    b[0] = '\x20', b[1] = '\x01', b[2] = '\x0d', b[3] = '\xb8', b[15] = '\x01';  // 2001:db8::1
    b[16] = '\x20', b[17] = '\x01', b[18] = '\x0d', b[19] = '\xb8', b[31] = '\x02'; // 2001:db8::2
    b[32] = '\x30', b[33] = '\x39';                                                // 12345
    b[34] = '\x00', b[35] = '\x19';                                                // 25
    return b;
}

struct fed {
    status state;
    std::size_t used; // of the bytes given, how many the parser took
    header_parser parser;
};

// All of `bytes` in one call.
fed feed_whole(const std::string& bytes, std::size_t max_header = asynchat::proxy::default_max_header) {
    header_parser p(max_header);
    const std::size_t used = p.feed(bytes);
    return {p.state(), used, std::move(p)};
}

// `bytes` in pieces cut at `cuts`, the way a socket may deliver them; the parser must take every byte of the header
// and none after it, whatever the cuts.
fed feed_pieces(const std::string& bytes, const std::vector<std::size_t>& cuts) {
    header_parser p;
    std::size_t used = 0, from = 0;
    for (std::size_t i = 0; i <= cuts.size(); ++i) {
        const std::size_t to = i < cuts.size() ? cuts[i] : bytes.size();
        const std::size_t n = p.feed(std::string_view(bytes).substr(from, to - from));
        used += n;
        if (p.state() != status::need_more) break;
        BOOST_TEST_REQUIRE(n == to - from, "an incomplete header takes every byte it is given");
        from = to;
    }
    return {p.state(), used, std::move(p)};
}

// The header alone, then with the stream's first bytes after it: whole, at every single cut, and byte by byte.
// Returns the parser of the whole run for the caller to check its result.
header_parser expect_header(const std::string& header) {
    const std::string stream = header + "EHLO client\r\n";
    auto whole = feed_whole(stream);
    BOOST_TEST_REQUIRE(int(whole.state) == int(status::done), whole.parser.error());
    BOOST_TEST(whole.used == header.size(), "nothing after the header is taken");
    for (std::size_t cut = 1; cut < stream.size(); ++cut) {
        auto r = feed_pieces(stream, {cut});
        BOOST_TEST_REQUIRE(int(r.state) == int(status::done), "cut at " << cut << ": " << r.parser.error());
        BOOST_TEST_REQUIRE(r.used == header.size(), "cut at " << cut);
    }
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < stream.size(); ++i) every.push_back(i);
    auto bytewise = feed_pieces(stream, every);
    BOOST_TEST_REQUIRE(int(bytewise.state) == int(status::done));
    BOOST_TEST(bytewise.used == header.size());
    // Every strict prefix is incomplete, not wrong.
    for (std::size_t n = 1; n < header.size(); ++n) {
        auto r = feed_whole(header.substr(0, n));
        BOOST_TEST_REQUIRE(int(r.state) == int(status::need_more), "prefix of " << n << ": " << r.parser.error());
        BOOST_TEST_REQUIRE(r.used == n);
    }
    return std::move(whole.parser);
}

// Refused, with the error naming what was wrong; `at_most` bytes were enough to know.
void expect_invalid(const std::string& bytes, std::string_view why, std::size_t at_most = std::string::npos,
                    std::size_t max_header = asynchat::proxy::default_max_header) {
    auto r = feed_whole(bytes, max_header);
    BOOST_TEST_REQUIRE(int(r.state) == int(status::invalid), "accepted: " << bytes.size() << " bytes");
    BOOST_TEST(r.used == 0u);
    BOOST_TEST(r.parser.error().find(why) != std::string::npos, r.parser.error() << " (wanted: " << why << ")");
    if (at_most != std::string::npos) {
        auto early = feed_whole(bytes.substr(0, at_most), max_header);
        BOOST_TEST(int(early.state) == int(status::invalid), "known wrong after " << at_most << " bytes");
    }
    // Byte by byte refuses it too, and nothing more is taken afterwards.
    header_parser p(max_header);
    for (const char c : bytes) {
        p.feed(std::string_view(&c, 1));
        if (p.state() != status::need_more) break;
    }
    BOOST_TEST(int(p.state()) == int(status::invalid));
    BOOST_TEST(p.feed("more") == 0u);
}

} // namespace

BOOST_AUTO_TEST_SUITE(proxy_protocol_v1)

BOOST_AUTO_TEST_CASE(tcp4_names_the_client_and_the_address_it_reached) {
    auto p = expect_header("PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\n");
    BOOST_TEST(p.result().version == 1);
    BOOST_TEST(!p.result().local);
    BOOST_TEST(p.result().source->to_string() == "203.0.113.7:56324");
    BOOST_TEST(p.result().destination->to_string() == "192.0.2.1:443");
}

BOOST_AUTO_TEST_CASE(tcp6) {
    auto p = expect_header("PROXY TCP6 2001:db8::1 2001:db8::2 12345 25\r\n");
    BOOST_TEST(p.result().source->to_string() == "[2001:db8::1]:12345");
    BOOST_TEST(p.result().destination->to_string() == "[2001:db8::2]:25");
}

BOOST_AUTO_TEST_CASE(unknown_keeps_the_connection_address_and_ignores_the_rest_of_the_line) {
    auto bare = expect_header("PROXY UNKNOWN\r\n");
    BOOST_TEST(bare.result().local);
    BOOST_TEST(!bare.result().source);
    auto with_rest = expect_header("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n");
    BOOST_TEST(with_rest.result().local);
}

BOOST_AUTO_TEST_CASE(the_longest_line_the_spec_allows_107_bytes_and_one_more) {
    const std::string head = "PROXY UNKNOWN ";
    const std::string longest = head + std::string(107 - head.size() - 2, 'x') + "\r\n";
    BOOST_TEST_REQUIRE(longest.size() == 107u);
    expect_header(longest);
    const std::string too_long = head + std::string(107 - head.size() - 1, 'x') + "\r\n";
    expect_invalid(too_long, "over 107 bytes", 107);
    // Without any CRLF, refused at the 107th byte, not kept waiting for.
    expect_invalid("PROXY TCP4 " + std::string(200, '1'), "over 107 bytes", 107);
}

BOOST_AUTO_TEST_CASE(a_client_speaking_the_protocol_itself_is_refused_at_its_first_byte) {
    expect_invalid("GET / HTTP/1.0\r\n\r\n", "not a PROXY protocol header", 1);
    expect_invalid("EHLO client\r\n", "not a PROXY protocol header", 1);
    expect_invalid("\x16\x03\x01\x02\x00"s, "not a PROXY protocol header", 1); // a TLS ClientHello
    expect_invalid("PROXY\r\n", "not a PROXY protocol header", 6);
    expect_invalid("PRoXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "not a PROXY protocol header", 3);
    expect_invalid("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "not a PROXY protocol header", 1);
}

BOOST_AUTO_TEST_CASE(malformed_lines) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "bare LF"},
        {"PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n", "CR not followed by LF"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", "CR not followed by LF"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1\0 2\r\n"s, "control"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1\t2\r\n", "control"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 \xc3\xa9\r\n", "non-ASCII"},
        {"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "protocol 'TCP5'"},
        {"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "protocol ''"},
        {"PROXY \r\n", "protocol ''"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "3 fields"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "5 fields"},
        {"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "5 fields"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "5 fields"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "port"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 099999\r\n", "port"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", "port"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "port"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", "port"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8  2\r\n", "port"},
        {"PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n", "not IPv4"},
        {"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "not IPv4"},
        {"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", "not IPv4"},
        {"PROXY TCP4 localhost 5.6.7.8 1 2\r\n", "not IPv4"},
        {"PROXY TCP6 1.2.3.4 2001:db8::2 1 2\r\n", "not IPv6"},
        {"PROXY TCP6 fe80::1%eth0 2001:db8::2 1 2\r\n", "not IPv6"},
    };
    for (const auto& [line, why] : cases) {
        BOOST_TEST_CONTEXT("line " << line.size() << " bytes, wanted " << why) { expect_invalid(line, why); }
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(proxy_protocol_v2)

BOOST_AUTO_TEST_CASE(tcp4) {
    auto p = expect_header(v2(0x21, 0x11, inet_block));
    BOOST_TEST(p.result().version == 2);
    BOOST_TEST(!p.result().local);
    BOOST_TEST(p.result().source->to_string() == "203.0.113.7:56324");
    BOOST_TEST(p.result().destination->to_string() == "192.0.2.1:443");
}

BOOST_AUTO_TEST_CASE(tcp6) {
    auto p = expect_header(v2(0x21, 0x21, inet6_block()));
    BOOST_TEST(p.result().source->to_string() == "[2001:db8::1]:12345");
    BOOST_TEST(p.result().destination->to_string() == "[2001:db8::2]:25");
}

BOOST_AUTO_TEST_CASE(unix_stream) {
    std::string block(216, '\0');
    const std::string src = "/run/client.sock";
    block.replace(0, src.size(), src);
    block.replace(108, 108, std::string(108, 'd')); // a path of the full 108 bytes has no NUL
    auto p = expect_header(v2(0x21, 0x31, block));
    BOOST_TEST(p.result().source->to_string() == "unix:/run/client.sock");
    BOOST_TEST(p.result().destination->host() == std::string(108, 'd'));
}

BOOST_AUTO_TEST_CASE(tlvs_after_the_addresses_are_taken_and_skipped) {
    // PP2_TYPE_ALPN "h2" and PP2_TYPE_AUTHORITY "example.com", as HAProxy sends them.
    const std::string tlvs = "\x01\x00\x02h2"s + "\x02\x00\x0b" "example.com"s;
    auto p = expect_header(v2(0x21, 0x11, inet_block + tlvs));
    BOOST_TEST(p.result().source->to_string() == "203.0.113.7:56324");
}

BOOST_AUTO_TEST_CASE(local_a_balancers_health_check_keeps_the_connection_address) {
    auto bare = expect_header(v2(0x20, 0x00, ""));
    BOOST_TEST(bare.result().local);
    BOOST_TEST(!bare.result().source);
    // LOCAL with an address block (HAProxy sends one): the block is ignored.
    auto with_block = expect_header(v2(0x20, 0x11, inet_block));
    BOOST_TEST(with_block.result().local);
    BOOST_TEST(!with_block.result().source);
    // PROXY with family UNSPEC: the balancer could not say; the same.
    auto unspec = expect_header(v2(0x21, 0x00, "\x00\x00\x00"s));
    BOOST_TEST(unspec.result().local);
}

BOOST_AUTO_TEST_CASE(a_wrong_signature_byte_is_refused_where_it_stands) {
    const std::string good = v2(0x21, 0x11, inet_block);
    for (std::size_t i = 1; i < 12; ++i) {
        std::string bad = good;
        bad[i] = static_cast<char>(bad[i] ^ 0x20);
        BOOST_TEST_CONTEXT("byte " << i) { expect_invalid(bad, "not a PROXY protocol header", i + 1); }
    }
}

BOOST_AUTO_TEST_CASE(malformed_fixed_part) {
    expect_invalid(v2(0x11, 0x11, inet_block), "version 1", 13);
    expect_invalid(v2(0x31, 0x11, inet_block), "version 3", 13);
    expect_invalid(v2(0x22, 0x11, inet_block), "command 2", 13);
    expect_invalid(v2(0x2f, 0x11, inet_block), "command 15", 13);
    expect_invalid(v2(0x21, 0x41, inet_block), "address family 4", 14);
    expect_invalid(v2(0x21, 0x13, inet_block), "transport 3", 14);
    expect_invalid(v2(0x21, 0x12, inet_block), "datagram");
    expect_invalid(v2(0x21, 0x10, inet_block), "no transport");
}

BOOST_AUTO_TEST_CASE(an_address_block_shorter_than_its_family_needs) {
    expect_invalid(v2(0x21, 0x11, inet_block.substr(0, 11)), "under 12");
    expect_invalid(v2(0x21, 0x21, inet6_block().substr(0, 35)), "under 36");
    expect_invalid(v2(0x21, 0x31, std::string(215, '\0')), "under 216");
}

BOOST_AUTO_TEST_CASE(a_length_over_the_bound_is_refused_before_its_body_arrives) {
    std::string header = v2_signature + "\x21\x11\xff\xff"s; // 16 + 65,535
    expect_invalid(header, "over the bound of 4096", 16);
    // A smaller bound of the caller's; the bound itself is accepted, one byte over is not.
    const std::string body = inet_block + std::string(300 - 16 - inet_block.size(), '\0');
    BOOST_TEST(int(feed_whole(v2(0x21, 0x11, body), 300).state) == int(status::done));
    expect_invalid(v2(0x21, 0x11, body + "x"), "301 bytes over the bound of 300", 16, 300);
    BOOST_CHECK_THROW(header_parser(231), std::invalid_argument);
    BOOST_CHECK_NO_THROW(header_parser(232));
}

BOOST_AUTO_TEST_SUITE_END()
