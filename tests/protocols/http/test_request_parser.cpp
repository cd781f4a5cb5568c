// asynchat::http::request_parser through request_reader: bytes in, requests or an error status out. Every stream
// is also fed in reads of 1..9 bytes and at seeded random cuts, and must give the same result.
#include <string>
#include <string_view>
#include <vector>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <asynchat/http/parser.hpp>

#include "http_test_util.hpp"

namespace bdata = boost::unit_test::data;
using namespace asynchat::http;
using http_test::escape;

namespace test_request_parser {

request_reader read(std::string_view bytes, std::size_t segment = 0, parser_limits limits = {}) {
    request_reader r(limits);
    for (auto piece : http_test::cut(bytes, segment)) r.feed(piece);
    return r;
}

// Pipelined requests of every kind the parser frames differently: a GET with a query and escapes, a POST whose
// body holds CR, LF and what looks like a request line, a bare-LF HTTP/1.0 request, a body-less request after a
// blank line (RFC 9112 §2.2), and an absolute-form target.
const std::string stream =
    "GET /a%20b/c.txt?x=1&y=%41 HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n"
    "POST /echo HTTP/1.1\r\nhost: example\r\nCONTENT-LENGTH: 26\r\n\r\nline one\r\nGET / HTTP/1.1\r\n"
    "GET /lf HTTP/1.0\nConnection: keep-alive\n\n"
    "\r\nHEAD / HTTP/1.0\r\n\r\n"
    "GET http://example/abs?q HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n";

void check_stream(std::vector<request>& reqs) {
    BOOST_TEST_REQUIRE(reqs.size() == 5u);
    BOOST_TEST(reqs[0].method == "GET");
    BOOST_TEST(reqs[0].target == "/a%20b/c.txt?x=1&y=%41");
    BOOST_TEST(reqs[0].path == "/a b/c.txt");
    BOOST_TEST(reqs[0].query == "x=1&y=%41");
    BOOST_TEST(reqs[0].version_minor == 1);
    BOOST_TEST(reqs[0].keep_alive);
    BOOST_TEST(reqs[0].headers.size() == 2u);
    BOOST_TEST(reqs[1].method == "POST");
    BOOST_TEST(reqs[1].body == "line one\r\nGET / HTTP/1.1\r\n");
    BOOST_TEST(reqs[2].path == "/lf");
    BOOST_TEST(reqs[2].version_minor == 0);
    BOOST_TEST(reqs[2].keep_alive);
    BOOST_TEST(reqs[3].method == "HEAD");
    BOOST_TEST(!reqs[3].keep_alive);
    BOOST_TEST(reqs[4].path == "/abs");
    BOOST_TEST(reqs[4].query == "q");
    BOOST_TEST(!reqs[4].keep_alive);
}

BOOST_AUTO_TEST_SUITE(request_parser_suite)

BOOST_DATA_TEST_CASE(pipelined_requests_at_every_segment_size, bdata::make(http_test::segment_sizes()), segment) {
    auto r = read(stream, segment);
    BOOST_TEST(!r.failed());
    check_stream(r.requests());
}

BOOST_DATA_TEST_CASE(pipelined_requests_at_random_cuts, bdata::xrange(50), seed) {
    request_reader r;
    for (auto piece : http_test::random_cut(stream, static_cast<std::uint32_t>(seed))) r.feed(piece);
    BOOST_TEST(!r.failed());
    check_stream(r.requests());
}

BOOST_AUTO_TEST_CASE(a_request_split_at_every_byte_boundary) {
    const std::string one = "POST /echo HTTP/1.0\r\nContent-Length: 5\r\n\r\nab\r\nc";
    for (std::size_t i = 0; i <= one.size(); ++i) {
        request_reader r;
        r.feed(std::string_view(one).substr(0, i));
        r.feed(std::string_view(one).substr(i));
        BOOST_TEST_REQUIRE(r.requests().size() == 1u, "cut at " << i);
        BOOST_TEST(r.requests()[0].body == "ab\r\nc");
    }
}

BOOST_AUTO_TEST_CASE(header_lookup_ignores_case_and_keeps_order) {
    auto r = read("GET / HTTP/1.1\r\nHost: h\r\nX-Thing:  one \r\nx-thing:two\r\n\r\n");
    BOOST_TEST_REQUIRE(r.requests().size() == 1u);
    const auto& h = r.requests()[0].headers;
    BOOST_TEST(h.get("HOST").value() == "h");
    BOOST_TEST(h.get("x-THING").value() == "one"); // OWS around the value is not part of it
    BOOST_TEST(h.count("X-Thing") == 2u);
    BOOST_TEST(!h.get("Content-Length"));
    std::vector<std::string> names;
    for (const auto& f : h) names.push_back(f.name);
    BOOST_TEST(names == (std::vector<std::string>{"Host", "X-Thing", "x-thing"}), boost::test_tools::per_element());
}

struct keep_alive_case {
    const char* name;
    std::string request;
    bool keep_alive;
};
std::ostream& operator<<(std::ostream& os, const keep_alive_case& c) { return os << c.name; }

const std::vector<keep_alive_case> keep_alive_cases{
    {"1.1 by default", "GET / HTTP/1.1\r\nHost: h\r\n\r\n", true},
    {"1.1 with close", "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false},
    {"1.1 with a list holding Close", "GET / HTTP/1.1\r\nHost: h\r\nConnection: TE, Close\r\n\r\n", false},
    {"1.0 by default", "GET / HTTP/1.0\r\n\r\n", false},
    {"1.0 with keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
    {"1.0 with KEEP-ALIVE", "GET / HTTP/1.0\r\nconnection: KEEP-ALIVE\r\n\r\n", true},
    {"1.1 with close in a second Connection field",
     "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false},
    {"1.0 with keep-alive and close", "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
};

BOOST_DATA_TEST_CASE(keep_alive_rules, bdata::make(keep_alive_cases), c) {
    auto r = read(c.request);
    BOOST_TEST_REQUIRE(r.requests().size() == 1u);
    BOOST_TEST(r.requests()[0].keep_alive == c.keep_alive);
}

struct error_case {
    const char* name;
    std::string request;
    int status;
};
std::ostream& operator<<(std::ostream& os, const error_case& c) { return os << c.name; }

const std::vector<error_case> error_cases{
    {"HTTP/0.9 request line", "GET /\r\n\r\n", 400},
    {"two spaces in the request line", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"method not a token", "G(T / HTTP/1.0\r\n\r\n", 400},
    {"target not a path", "GET index.html HTTP/1.0\r\n\r\n", 400},
    {"lower-case version", "GET / http/1.1\r\nHost: h\r\n\r\n", 400},
    {"version without minor", "GET / HTTP/1\r\n\r\n", 400},
    {"version with garbage", "GET / HTTP/1.1x\r\nHost: h\r\n\r\n", 400},
    {"HTTP/1.2", "GET / HTTP/1.2\r\n\r\n", 505},
    {"HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 505},
    {"malformed percent escape", "GET /%zz HTTP/1.0\r\n\r\n", 400},
    {"control character in the target", "GET /a\x01 HTTP/1.0\r\n\r\n", 400},
    {"header line without a colon", "GET / HTTP/1.0\r\nNoColonHere\r\n\r\n", 400},
    {"empty header name", "GET / HTTP/1.0\r\n: value\r\n\r\n", 400},
    // RFC 9112 §5.1: whitespace between name and colon must be refused; proxies that strip it and servers that
    // do not disagree on which field the line is (request smuggling: CVE-2019-16276, Go's net/http accepted it).
    {"space before the colon (smuggling, RFC 9112 §5.1)", "GET / HTTP/1.0\r\nContent-Length : 5\r\n\r\nhello", 400},
    // RFC 9112 §5.2: obs-fold continuation lines are refused in requests.
    {"obs-fold (RFC 9112 §5.2)", "GET / HTTP/1.0\r\nX-A: a\r\n b\r\n\r\n", 400},
    {"NUL in a header value", std::string("GET / HTTP/1.0\r\nX-A: a\0b\r\n\r\n", 27), 400},
    {"bare CR in a header value", "GET / HTTP/1.0\r\nX-A: a\rb\r\n\r\n", 400},
    // RFC 9112 §6.3 (3): Transfer-Encoding with Content-Length is the CL.TE / TE.CL smuggling set-up
    // (CVE-2020-7238 in Netty, CVE-2019-18277 in HAProxy and many more).
    {"CL.TE request smuggling (RFC 9112 §6.3)",
     "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", 400},
    {"TE.CL request smuggling (RFC 9112 §6.3)",
     "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400},
    // RFC 9112 §6.3 (5) and RFC 9110 §8.6: two different lengths (CL.CL smuggling, CVE-2015-8852 in Varnish), signs,
    // lists and whitespace inside the number are invalid framing.
    {"two different Content-Lengths (CL.CL smuggling)",
     "POST /echo HTTP/1.0\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400},
    {"Content-Length: +5", "POST /echo HTTP/1.0\r\nContent-Length: +5\r\n\r\nhello", 400},
    {"Content-Length: -1", "POST /echo HTTP/1.0\r\nContent-Length: -1\r\n\r\n", 400},
    {"Content-Length: 5,6", "POST /echo HTTP/1.0\r\nContent-Length: 5,6\r\n\r\nhello!", 400},
    {"Content-Length: 5, 5", "POST /echo HTTP/1.0\r\nContent-Length: 5, 5\r\n\r\nhello", 400},
    {"Content-Length: 5 5", "POST /echo HTTP/1.0\r\nContent-Length: 5 5\r\n\r\nhello", 400},
    {"Content-Length: vertical tab 5", "POST /echo HTTP/1.0\r\nContent-Length: \x0b" "5\r\n\r\nhello", 400},
    {"Content-Length: 0x5", "POST /echo HTTP/1.0\r\nContent-Length: 0x5\r\n\r\nhello", 400},
    {"empty Content-Length", "POST /echo HTTP/1.0\r\nContent-Length:\r\n\r\n", 400},
    {"Transfer-Encoding alone", "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501},
    {"HTTP/1.1 without Host (RFC 9112 §3.2)", "GET / HTTP/1.1\r\n\r\n", 400},
    {"HTTP/1.1 with two Hosts (RFC 9112 §3.2)", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
    {"POST without Content-Length", "POST /echo HTTP/1.0\r\n\r\n", 411},
    {"Content-Length over max_body", "POST /echo HTTP/1.0\r\nContent-Length: 16777217\r\n\r\n", 413},
    {"Content-Length past 2^64", "POST /echo HTTP/1.0\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413},
};

BOOST_DATA_TEST_CASE(refused_requests, bdata::make(error_cases) * bdata::make(http_test::segment_sizes()), c, segment) {
    auto r = read(c.request + "GET /after HTTP/1.0\r\n\r\n", segment);
    BOOST_TEST(r.failed(), escape(c.request));
    BOOST_TEST(r.error_status() == c.status, escape(c.request) << ": " << r.parser().error_reason());
    // Nothing after a framing error is read as a request: the stream is out of step.
    BOOST_TEST(r.requests().empty());
}

BOOST_AUTO_TEST_CASE(identical_repeated_content_lengths_are_one) {
    auto r = read("POST /echo HTTP/1.0\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\nhello");
    BOOST_TEST_REQUIRE(r.requests().size() == 1u);
    BOOST_TEST(r.requests()[0].body == "hello");
}

BOOST_AUTO_TEST_CASE(ows_around_content_length_is_allowed) {
    // RFC 9110 §5.5: optional whitespace around a field value is not part of it.
    auto r = read("POST /echo HTTP/1.0\r\nContent-Length: \t 5 \t\r\n\r\nhello");
    BOOST_TEST_REQUIRE(r.requests().size() == 1u);
    BOOST_TEST(r.requests()[0].body == "hello");
}

BOOST_AUTO_TEST_CASE(request_line_too_long_is_refused_before_it_ends) {
    // 9 KiB of request line and no newline yet: the limit is 8 KiB, so the parser must not wait for the end.
    request_reader r;
    r.feed("GET /" + std::string(9 * 1024, 'a'));
    BOOST_TEST(r.failed());
    BOOST_TEST(r.error_status() == 414);
}

BOOST_AUTO_TEST_CASE(request_line_at_the_limit_is_accepted) {
    parser_limits limits;
    limits.max_request_line = 64;
    std::string line = "GET /" + std::string(64 - 14, 'a') + " HTTP/1.0";
    BOOST_TEST_REQUIRE(line.size() == 64u);
    auto ok = read(line + "\r\n\r\n", 1, limits);
    BOOST_TEST(ok.requests().size() == 1u);
    auto over = read("GET /a" + line.substr(5) + "\r\n\r\n", 1, limits);
    BOOST_TEST(over.error_status() == 414);
}

BOOST_AUTO_TEST_CASE(headers_too_large_are_refused_before_they_end) {
    request_reader r;
    r.feed("GET / HTTP/1.0\r\n");
    for (int i = 0; i < 1000 && !r.failed(); ++i) r.feed("X-Filler-" + std::to_string(i) + ": " + std::string(100, 'x') + "\r\n");
    BOOST_TEST(r.failed());
    BOOST_TEST(r.error_status() == 431);
    // One header line longer than the whole allowance, still without its end.
    request_reader one;
    one.feed("GET / HTTP/1.0\r\nX-Big: " + std::string(70000, 'y'));
    BOOST_TEST(one.error_status() == 431);
}

// The count of header lines is bounded as well as their bytes: 100 by default (as nginx and http.client), 431
// past it, in one read or line by line; the blank line ending the head is not counted, and the count starts again
// with each request of a keep-alive connection.
BOOST_DATA_TEST_CASE(header_lines_past_max_header_lines_get_431, bdata::make({0u, 1u, 7u}), segment) {
    std::string head = "GET / HTTP/1.1\r\nHost: h\r\n";
    for (int i = 1; i < 100; ++i) head += "X-" + std::to_string(i) + ": v\r\n";
    auto at_limit = read(head + "\r\n" + head + "\r\n", segment);
    BOOST_TEST(at_limit.requests().size() == 2u);
    BOOST_TEST(!at_limit.failed());
    auto over = read(head + "X-100: v\r\n\r\n", segment);
    BOOST_TEST(over.failed());
    BOOST_TEST(over.error_status() == 431);
    BOOST_TEST(over.parser().error_reason() == "too many header fields");
    parser_limits three;
    three.max_header_lines = 3;
    BOOST_TEST(read("GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", segment, three).requests().size() == 1u);
    BOOST_TEST(read("GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", segment, three).error_status() == 431);
}

BOOST_AUTO_TEST_CASE(body_too_large_is_refused_before_the_body_arrives) {
    parser_limits limits;
    limits.max_body = 10;
    request_reader r(limits);
    r.feed("POST /echo HTTP/1.0\r\nContent-Length: 11\r\n\r\n"); // and no body yet
    BOOST_TEST(r.failed());
    BOOST_TEST(r.error_status() == 413);
    request_reader ok(limits);
    ok.feed("POST /echo HTTP/1.0\r\nContent-Length: 10\r\n\r\n0123456789");
    BOOST_TEST(ok.requests().size() == 1u);
}

BOOST_AUTO_TEST_CASE(decoded_path_keeps_encoded_dots_and_slashes_as_bytes) {
    auto r = read("GET /%2e%2e/x%2fy%00z HTTP/1.0\r\n\r\n");
    BOOST_TEST_REQUIRE(r.requests().size() == 1u);
    BOOST_TEST(r.requests()[0].path == std::string("/../x/y\0z", 9));
}

BOOST_AUTO_TEST_CASE(empty_lines_before_a_request_are_ignored) {
    auto r = read("\r\n\n\r\nGET / HTTP/1.0\r\n\r\n");
    BOOST_TEST(r.requests().size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

} // namespace test_request_parser
