// asynchat::http::server_channel driven through asynchat::string_transport: the real channel code with the
// router, the static-file handler and the limits, with no socket and with the input cut as the test chooses. The
// output is read by http_test::split_responses, not by the library's own client parser.
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <random>

#include <sys/stat.h>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <asyncore/socket_map.hpp>
#include <asynchat/http/server.hpp>
#include <asynchat/string_transport.hpp>

#include "http_test_util.hpp"

namespace bdata = boost::unit_test::data;
using namespace asynchat::http;
using http_test::escape;

namespace test_server_channel {

// The routes of `asynchat serve http` (POST /echo, static files) plus a handler that throws.
struct fixture {
    http_test::site site;
    router routes;
    server_options options;
    asynchat::service_stats stats;
    fixture() {
        routes.add("POST", "/echo", [](const request& r) { return response::text(200, r.body, "application/octet-stream"); });
        routes.add("GET", "/throws", [](const request&) -> response { throw std::runtime_error("handler bug"); });
        routes.add_prefix("GET", "/", static_files(site.root));
    }
};

// One conversation: the bytes in, read `segment` bytes at a time; everything written back.
struct conversation {
    server_channel channel;
    asynchat::string_transport transport{channel};
    std::string out;
    conversation(fixture& f) : channel(f.routes, f.options, &f.stats) {}
    std::string send(std::string_view bytes, std::size_t segment = 0) {
        transport.receive(bytes, segment);
        std::string written = transport.written();
        out += written;
        return written;
    }
};

http_test::parsed_response one(fixture& f, std::string_view request, bool head = false) {
    conversation c(f);
    c.send(request);
    auto responses = http_test::split_responses(c.out, {head});
    BOOST_TEST_REQUIRE(responses.size() == 1u, "for " << escape(request) << " got " << escape(c.out));
    return responses[0];
}

std::string get(std::string_view target, std::string_view extra = "") {
    return "GET " + std::string(target) + " HTTP/1.0\r\n" + std::string(extra) + "\r\n";
}

BOOST_FIXTURE_TEST_SUITE(server_channel_suite, fixture)

// A closed channel may outlive the service whose figures it counted into (a ref held past close(), as a handler
// or a test does): nothing it does after close() may touch them. HTTP's close() left its traffic counters and
// stats set while chat and SMTP unset theirs (issue 19's drift); under ASan the input below was a
// heap-use-after-free into the destroyed service_stats.
BOOST_AUTO_TEST_CASE(a_channel_closed_and_kept_never_touches_its_destroyed_service) {
    fixture f;
    auto stats = std::make_unique<asynchat::service_stats>();
    server_channel channel(f.routes, f.options, stats.get());
    asynchat::string_transport transport{channel};
    transport.receive("GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
    BOOST_TEST(stats->messages == 1u);
    BOOST_TEST(stats->traffic.bytes_in > 0u);
    BOOST_TEST(stats->connections_open == 1u);
    channel.close();
    BOOST_TEST(stats->connections_open == 0u);
    stats.reset(); // the service is gone; the channel lives on
    transport.receive("GET /index.html HTTP/1.1\r\nHost: x\r\n\r\nGET /nope\x01 HTTP/1.1\r\n\r\n");
    (void)transport.written();
}

BOOST_AUTO_TEST_CASE(get_a_file) {
    const auto r = one(*this, get("/a.txt"));
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.head.starts_with("HTTP/1.0 200 OK\r\n"));
    BOOST_TEST(r.body == "hello\n");
    BOOST_TEST(r.header("Content-Length") == "6");
    BOOST_TEST(r.header("Content-Type") == "text/plain; charset=utf-8");
    BOOST_TEST(r.header("Connection") == "close");
    struct stat st {};
    ::stat((site.root / "a.txt").c_str(), &st);
    BOOST_TEST(r.header("Last-Modified") == format_http_date(st.st_mtim.tv_sec));
    BOOST_TEST(parse_http_date(r.header("Date")).has_value());
    BOOST_TEST(one(*this, get("/style.css")).header("Content-Type") == "text/css; charset=utf-8");
    BOOST_TEST(one(*this, get("/big.bin")).header("Content-Type") == "application/octet-stream");
}

BOOST_AUTO_TEST_CASE(query_ignored_and_escapes_decoded) {
    site.dir.write("root/with space.txt", "spaced\n");
    BOOST_TEST(one(*this, get("/a.txt?version=2&x=%zz")).body == "hello\n");
    BOOST_TEST(one(*this, get("/with%20space.txt")).body == "spaced\n");
    BOOST_TEST(one(*this, get("/%61.txt")).body == "hello\n");
}

BOOST_AUTO_TEST_CASE(a_large_file_is_streamed_whole) {
    const auto r = one(*this, get("/big.bin"));
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.header("Content-Length") == std::to_string(site.big.size()));
    BOOST_TEST((r.body == site.big));
}

BOOST_AUTO_TEST_CASE(directories_serve_their_index_and_redirect_without_a_slash) {
    BOOST_TEST(one(*this, get("/")).body == "<h1>home</h1>\n");
    BOOST_TEST(one(*this, get("/")).header("Content-Type") == "text/html; charset=utf-8");
    BOOST_TEST(one(*this, get("/sub/")).body == "<p>sub</p>\n");
    const auto moved = one(*this, get("/sub?x=1"));
    BOOST_TEST(moved.status == 301);
    BOOST_TEST(moved.header("Location") == "/sub/?x=1");
    BOOST_TEST(one(*this, get("/empty/")).status == 404); // no index.html, and no listings
}

BOOST_AUTO_TEST_CASE(missing_files_are_404) {
    BOOST_TEST(one(*this, get("/nope.txt")).status == 404);
    BOOST_TEST(one(*this, get("/a.txt/x")).status == 404);
    BOOST_TEST(!one(*this, get("/nope.txt")).body.empty()); // every error has a small body
}

BOOST_AUTO_TEST_CASE(head_has_the_headers_and_no_body) {
    conversation c(*this);
    c.send("HEAD /big.bin HTTP/1.0\r\nConnection: keep-alive\r\n\r\nHEAD /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    // Both heads back to back: a body after the first would show up as garbage before the second status line.
    const auto responses = http_test::split_responses(c.out, {true, true});
    BOOST_TEST_REQUIRE(responses.size() == 2u, escape(c.out));
    BOOST_TEST(responses[0].status == 200);
    BOOST_TEST(responses[0].header("Content-Length") == std::to_string(site.big.size()));
    BOOST_TEST(responses[1].header("Content-Length") == "6");
    BOOST_TEST(c.out.ends_with("\r\n\r\n"));
}

BOOST_AUTO_TEST_CASE(if_modified_since) {
    struct stat st {};
    ::stat((site.root / "a.txt").c_str(), &st);
    const auto mtime = st.st_mtim.tv_sec;
    const auto same = one(*this, get("/a.txt", "If-Modified-Since: " + format_http_date(mtime) + "\r\n"));
    BOOST_TEST(same.status == 304);
    BOOST_TEST(same.body.empty());
    BOOST_TEST(same.header("Content-Length").empty());
    BOOST_TEST(one(*this, get("/a.txt", "If-Modified-Since: " + format_http_date(mtime + 3600) + "\r\n")).status == 304);
    BOOST_TEST(one(*this, get("/a.txt", "If-Modified-Since: " + format_http_date(mtime - 1) + "\r\n")).status == 200);
    BOOST_TEST(one(*this, get("/a.txt", "If-Modified-Since: yesterday\r\n")).status == 200);
}

BOOST_AUTO_TEST_CASE(post_echo) {
    const std::string body("binary\0\r\n\xff body", 15);
    const auto r = one(*this, "POST /echo HTTP/1.0\r\nContent-Length: 15\r\n\r\n" + body);
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.body == body);
}

// Traversal attempts: each must get 403 or 404, and the secret outside the root must never appear.
const std::vector<std::string> traversal_targets{
    "/../outside/secret.txt",     "/../../../../etc/passwd", "/%2e%2e/outside/secret.txt",
    "/%2E%2E/%2e%2e/etc/passwd",   "/..%2foutside%2fsecret.txt", "/sub/..%2f..%2foutside/secret.txt",
    "/a.txt%00.html",             "/%00",                    "/evil",
    "/evildir/secret.txt",        "/evildir/",                "//../outside/secret.txt",
    "/sub/../../outside/secret.txt",
};

BOOST_DATA_TEST_CASE_F(fixture, traversal_is_refused, bdata::make(traversal_targets), target) {
    const auto r = one(*this, get(target));
    BOOST_TEST((r.status == 403 || r.status == 404), target << " -> " << r.status);
    BOOST_TEST(r.body.find(http_test::secret_marker) == std::string::npos);
}

// The same attempts through the fallback for kernels without openat2 (a realpath check under the root).
BOOST_DATA_TEST_CASE_F(fixture, traversal_is_refused_without_openat2, bdata::make(traversal_targets), target) {
    routes = router();
    routes.add_prefix("GET", "/", detail::static_files(site.root, false));
    const auto r = one(*this, get(target));
    BOOST_TEST((r.status == 403 || r.status == 404), target << " -> " << r.status);
    BOOST_TEST(r.body.find(http_test::secret_marker) == std::string::npos);
    BOOST_TEST(one(*this, get("/sub/")).body == "<p>sub</p>\n");
    BOOST_TEST(one(*this, get("/inside")).body == "hello\n");
}

BOOST_AUTO_TEST_CASE(a_symlink_that_stays_inside_is_served) {
    BOOST_TEST(one(*this, get("/inside")).body == "hello\n");
}

BOOST_AUTO_TEST_CASE(other_methods_are_501_and_known_ones_on_other_paths_405) {
    const auto r = one(*this, "DELETE /a.txt HTTP/1.0\r\n\r\n");
    BOOST_TEST(r.status == 501);
    const auto wrong = one(*this, "POST /a.txt HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
    BOOST_TEST(wrong.status == 405);
    BOOST_TEST(wrong.header("Allow") == "GET, HEAD");
    const auto echo_get = one(*this, get("/echo"));
    BOOST_TEST(echo_get.status == 404); // GET /echo falls to the static files: there is no file called echo
}

BOOST_AUTO_TEST_CASE(a_throwing_handler_is_500_and_the_connection_lives) {
    conversation c(*this);
    c.send("GET /throws HTTP/1.1\r\nHost: h\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: h\r\n\r\n");
    const auto responses = http_test::split_responses(c.out);
    BOOST_TEST_REQUIRE(responses.size() == 2u);
    BOOST_TEST(responses[0].status == 500);
    BOOST_TEST(responses[1].body == "hello\n");
}

const std::string pipeline =
    "GET /a.txt HTTP/1.1\r\nHost: h\r\n\r\n"
    "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 21\r\n\r\nGET /x HTTP/1.1\r\n\r\nzz"
    "HEAD /big.bin HTTP/1.1\r\nHost: h\r\n\r\n"
    "GET /nope HTTP/1.1\r\nHost: h\r\n\r\n"
    "GET /sub/ HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    "GET /a.txt HTTP/1.1\r\nHost: h\r\n\r\n"; // after the close: never answered

void check_pipeline(const std::string& out, bool closed) {
    const auto r = http_test::split_responses(out, {false, false, true, false, false});
    BOOST_TEST_REQUIRE(r.size() == 5u, escape(out));
    BOOST_TEST(r[0].body == "hello\n");
    BOOST_TEST(r[0].header("Connection") == "keep-alive");
    BOOST_TEST(r[1].body == "GET /x HTTP/1.1\r\n\r\nzz");
    BOOST_TEST(r[2].header("Content-Length") == "100000");
    BOOST_TEST(r[3].status == 404);
    BOOST_TEST(r[3].header("Connection") == "keep-alive");
    BOOST_TEST(r[4].body == "<p>sub</p>\n");
    BOOST_TEST(r[4].header("Connection") == "close");
    BOOST_TEST(out.ends_with("<p>sub</p>\n")); // nothing after the response that closes
    BOOST_TEST(closed);
}

BOOST_FIXTURE_TEST_SUITE(pipelining, fixture)

BOOST_DATA_TEST_CASE(pipelined_requests_answered_in_order, bdata::make(http_test::segment_sizes()), segment) {
    conversation c(*this);
    c.send(pipeline, segment);
    check_pipeline(c.out, c.transport.closed_when_done());
    BOOST_TEST(stats.messages == 5u);
    BOOST_TEST(stats.errors == 0u);
}

BOOST_DATA_TEST_CASE(pipelined_requests_at_random_cuts, bdata::xrange(30), seed) {
    conversation c(*this);
    for (auto piece : http_test::random_cut(pipeline, static_cast<std::uint32_t>(seed))) c.send(piece);
    check_pipeline(c.out, c.transport.closed_when_done());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(a_streamed_file_holds_the_next_pipelined_request_back) {
    // Backpressure: while a file is being streamed, later pipelined requests wait (parsed, unanswered) and the
    // channel reads nothing more, so a client cannot make the server hold one open file per pipelined request.
    conversation c(*this);
    const std::string big = "GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n";
    c.send(big + big + "GET /a.txt HTTP/1.1\r\nHost: h\r\n\r\n");
    BOOST_TEST(http_test::split_responses(c.out).size() == 1u);
    BOOST_TEST(!c.channel.readable());
    // string_transport drains the queue without write events; the next bytes (an empty line, which a server
    // ignores before a request) are the channel's next chance to go on.
    c.send("\r\n");
    BOOST_TEST(http_test::split_responses(c.out).size() == 2u);
    c.send("\r\n");
    const auto r = http_test::split_responses(c.out);
    BOOST_TEST_REQUIRE(r.size() == 3u);
    BOOST_TEST((r[0].body == site.big));
    BOOST_TEST((r[1].body == site.big));
    BOOST_TEST(r[2].body == "hello\n");
    BOOST_TEST(c.channel.readable());
}

BOOST_AUTO_TEST_CASE(waiting_requests_are_answered_when_the_peer_stops_sending) {
    conversation c(*this);
    const std::string big = "GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n";
    c.send(big + big + "GET /a.txt HTTP/1.1\r\nHost: h\r\n\r\n" + "GET /nope HTTP/1.1\r\nbad\r\n\r\n");
    c.channel.handle_close(); // the read EOF
    c.out += c.transport.written();
    const auto r = http_test::split_responses(c.out);
    BOOST_TEST_REQUIRE(r.size() == 4u, escape(c.out.substr(0, 300)));
    BOOST_TEST(r[2].body == "hello\n");
    BOOST_TEST(r[3].status == 400); // the parse error behind them comes last, in order
}

BOOST_AUTO_TEST_CASE(keep_alive_and_close_follow_the_request) {
    {
        conversation c(*this);
        c.send(get("/a.txt"));
        BOOST_TEST(http_test::split_responses(c.out)[0].header("Connection") == "close");
        BOOST_TEST(c.transport.closed_when_done());
    }
    {
        conversation c(*this);
        c.send(get("/a.txt", "Connection: keep-alive\r\n"));
        BOOST_TEST(http_test::split_responses(c.out)[0].header("Connection") == "keep-alive");
        BOOST_TEST(!c.transport.closed_when_done());
        c.send("GET /a.txt HTTP/1.1\r\nHost: h\r\n\r\n");
        BOOST_TEST(!c.transport.closed_when_done());
        c.send("GET /a.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        const auto r = http_test::split_responses(c.out);
        BOOST_TEST_REQUIRE(r.size() == 3u);
        BOOST_TEST(r[2].header("Connection") == "close");
        BOOST_TEST(c.transport.closed_when_done());
    }
    BOOST_TEST(stats.connections_accepted == 2u);
    BOOST_TEST(stats.connections_open == 0u);
}

struct status_case {
    const char* name;
    std::string request;
    int status;
};
std::ostream& operator<<(std::ostream& os, const status_case& c) { return os << c.name; }

const std::vector<status_case> refused{
    {"malformed request line", "GET\r\n\r\n", 400},
    {"bad version", "GET / HTTP/x.y\r\n\r\n", 400},
    {"HTTP/1.2", "GET / HTTP/1.2\r\n\r\n", 505},
    {"header without colon", "GET / HTTP/1.0\r\nbroken\r\n\r\n", 400},
    {"space before colon (CVE-2019-16276)", "GET / HTTP/1.0\r\nHost : h\r\n\r\n", 400},
    {"obs-fold", "GET / HTTP/1.0\r\nX: a\r\n\tb\r\n\r\n", 400},
    {"CL.TE smuggling (RFC 9112 §6.3)",
     "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
    {"two Content-Lengths", "POST /echo HTTP/1.0\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
    {"Content-Length: +5", "POST /echo HTTP/1.0\r\nContent-Length: +5\r\n\r\nhello", 400},
    {"1.1 without Host", "GET /a.txt HTTP/1.1\r\n\r\n", 400},
    {"POST without length", "POST /echo HTTP/1.1\r\nHost: h\r\n\r\n", 411},
    {"Transfer-Encoding alone", "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501},
    {"body too large", "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 999999999\r\n\r\n", 413},
};

BOOST_DATA_TEST_CASE_F(fixture, refused_requests_get_their_status_and_close,
                       bdata::make(refused) * bdata::make(std::vector<std::size_t>{0, 1, 7}), c, segment) {
    conversation conv(*this);
    // A keep-alive request after the bad one: it must not be answered (the stream is out of step).
    conv.send(c.request + "GET /a.txt HTTP/1.1\r\nHost: h\r\n\r\n", segment);
    const auto r = http_test::split_responses(conv.out);
    BOOST_TEST_REQUIRE(r.size() == 1u, escape(conv.out));
    BOOST_TEST(r[0].status == c.status);
    BOOST_TEST(r[0].header("Connection") == "close");
    BOOST_TEST(r[0].body.starts_with(std::to_string(c.status) + " "));
    BOOST_TEST(conv.transport.closed_when_done());
    BOOST_TEST(stats.errors == 1u);
}

BOOST_AUTO_TEST_CASE(request_line_too_long_gets_414_before_it_ends) {
    conversation c(*this);
    // 9 KiB of a request line and no newline: answered at once, while the client is still "sending".
    c.send("GET /" + std::string(9 * 1024, 'a'), 1024);
    const auto r = http_test::split_responses(c.out);
    BOOST_TEST_REQUIRE(r.size() == 1u);
    BOOST_TEST(r[0].status == 414);
    BOOST_TEST(c.transport.closed_when_done());
}

BOOST_AUTO_TEST_CASE(headers_too_large_get_431) {
    conversation c(*this);
    c.send("GET / HTTP/1.0\r\n");
    for (int i = 0; i < 700 && c.out.empty(); ++i) c.send("X-Filler: " + std::string(100, 'x') + "\r\n");
    const auto r = http_test::split_responses(c.out);
    BOOST_TEST_REQUIRE(r.size() == 1u);
    BOOST_TEST(r[0].status == 431);
}

BOOST_AUTO_TEST_CASE(body_too_large_gets_413_before_the_body_is_sent) {
    options.limits.max_body = 100;
    conversation c(*this);
    c.send("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n");
    const auto r = http_test::split_responses(c.out);
    BOOST_TEST_REQUIRE(r.size() == 1u);
    BOOST_TEST(r[0].status == 413);
    conversation ok(*this);
    ok.send("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'b'));
    BOOST_TEST(http_test::split_responses(ok.out)[0].status == 200);
}

// Random streams: valid keep-alive requests back to back, then (in two thirds of the streams) a few mutations —
// a byte changed, a byte dropped, a fragment inserted. Whatever arrives, the channel answers only with well-formed
// responses, nothing after a response that closes, and never throws (ASan watches the memory side); a stream left
// intact gets one answer per request and stays open.
BOOST_DATA_TEST_CASE_F(fixture, random_input_gives_well_formed_answers, bdata::xrange(400), seed) {
    static const std::vector<std::string> requests{
        "GET /a.txt HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n", // a producer: the requests after it wait (backpressure)
        "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhe\r\no",
        "GET /sub HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "GET /nope?x=%41 HTTP/1.1\r\nHost: h\r\nX-A: b\r\n\r\n",
        "DELETE / HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /%2e%2e/x HTTP/1.1\nHost: h\n\n",
    };
    static const std::vector<std::string> fragments{
        "\r\n", "\n", "\r", " ", ":", "\x00", "\xff", "Content-Length: 3\r\n", "Transfer-Encoding: chunked\r\n",
        "Connection: close\r\n", " folded\r\n", "%zz", "HTTP/1.1", "X: " + std::string(300, 'x') + "\r\n",
    };
    std::mt19937 rng(static_cast<std::uint32_t>(seed));
    std::string input;
    const std::size_t count = 1 + rng() % 8;
    for (std::size_t i = 0; i < count; ++i) input += requests[rng() % requests.size()];
    const std::size_t mutations = rng() % 3 == 0 ? 0 : 1 + rng() % 3;
    for (std::size_t i = 0; i < mutations; ++i) {
        const std::size_t at = rng() % input.size();
        switch (rng() % 3) {
        case 0: input[at] = static_cast<char>(rng() & 0xff); break;
        case 1: input.erase(at, 1); break;
        default: input.insert(at, fragments[rng() % fragments.size()]); break;
        }
    }
    options.limits.max_header_bytes = 2048;
    options.limits.max_request_line = 256;
    conversation c(*this);
    BOOST_CHECK_NO_THROW(for (auto piece : http_test::random_cut(input, static_cast<std::uint32_t>(seed))) c.send(piece));
    // The client is done sending (read EOF): requests still waiting behind a file are answered now.
    BOOST_CHECK_NO_THROW(c.channel.handle_close());
    c.out += c.transport.written();
    // Every byte written is part of a response; a parsed response that says close is the last one.
    std::string_view rest = c.out;
    std::size_t responses = 0;
    while (!rest.empty()) {
        BOOST_TEST_REQUIRE(rest.starts_with("HTTP/1.0 "), escape(rest.substr(0, 40)));
        const auto end = rest.find("\r\n\r\n");
        BOOST_TEST_REQUIRE(end != std::string_view::npos);
        const std::string head(rest.substr(0, end + 2));
        rest.remove_prefix(end + 4);
        ++responses;
        // No HEAD among the requests (a mutation would have to make one): every body is Content-Length long.
        const auto cl = head.find("Content-Length: ");
        if (cl != std::string::npos) rest.remove_prefix(std::min(rest.size(), std::stoul(head.substr(cl + 16))));
        if (head.find("Connection: close") != std::string::npos) {
            BOOST_TEST(rest.empty(), "bytes after a closing response");
            break;
        }
    }
    BOOST_TEST(stats.messages + stats.errors == responses);
    if (mutations == 0) BOOST_TEST(responses == count);
}

BOOST_AUTO_TEST_CASE(serialize_head_builds_the_whole_head) {
    response r = response::text(404, "gone");
    r.headers.emplace_back("X-Extra", "1");
    const std::string head = serialize_head(r, 4, true);
    BOOST_TEST(head.starts_with("HTTP/1.0 404 Not Found\r\nDate: "));
    BOOST_TEST(head.find("\r\nContent-Type: text/plain; charset=utf-8\r\nX-Extra: 1\r\n") != std::string::npos);
    BOOST_TEST(head.ends_with("\r\nContent-Length: 4\r\nConnection: keep-alive\r\n\r\n"));
}

BOOST_AUTO_TEST_CASE(router_prefers_exact_then_longest_prefix) {
    router r;
    auto answer = [](std::string text) { return [text](const request&) { return response::text(200, text); }; };
    r.add_prefix("GET", "/", answer("root"));
    r.add_prefix("GET", "/api/v1/", answer("v1"));
    r.add_prefix("GET", "/api/", answer("api"));
    r.add("GET", "/api/v1/exact", answer("exact"));
    auto route = [&](std::string method, std::string path) {
        request q;
        q.method = std::move(method);
        q.path = std::move(path);
        response resp = r.route(q);
        return std::to_string(resp.status) + " " + resp.body;
    };
    BOOST_TEST(route("GET", "/x") == "200 root");
    BOOST_TEST(route("GET", "/api/x") == "200 api");
    BOOST_TEST(route("GET", "/api/v1/x") == "200 v1");
    BOOST_TEST(route("GET", "/api/v1/exact") == "200 exact");
    BOOST_TEST(route("HEAD", "/api/x") == "200 api");
    BOOST_TEST(route("PUT", "/x").starts_with("501 "));
    r.add("POST", "/form", answer("form"));
    BOOST_TEST(route("POST", "/form") == "200 form");
    BOOST_TEST(route("POST", "/other").starts_with("405 ")); // GET / covers it
    router exact_only;
    exact_only.add("GET", "/one", answer("one"));
    request q;
    q.method = "GET";
    q.path = "/two";
    BOOST_TEST(exact_only.route(q).status == 404);
}

BOOST_AUTO_TEST_CASE(date_header_is_cached_and_well_formed) {
    const std::string_view a = http_date_now();
    BOOST_TEST(parse_http_date(a).has_value());
    BOOST_TEST(format_http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"); // RFC 9110's example
    BOOST_TEST(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").value() == 784111777);
    BOOST_TEST(!parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"));
    // 2DIGIT and 4DIGIT are digits: a sign is not (it used to be read as a negative hour, minute, second or year).
    // The check that found it is in tests/fuzz/fuzz_http_request.cpp.
    BOOST_TEST(!parse_http_date("Sun, 06 Nov 1994 -1:49:37 GMT"));
    BOOST_TEST(!parse_http_date("Sun, 06 Nov 1994 08:-9:37 GMT"));
    BOOST_TEST(!parse_http_date("Sun, 06 Nov 1994 08:49:-7 GMT"));
    BOOST_TEST(!parse_http_date("Sun, 06 Nov -994 08:49:37 GMT"));
}

// ---- the graceful stop (handle_shutdown) and the header deadline (slowloris)

// handle_shutdown at every point of a keep-alive request: before its first byte the connection closes with
// nothing more written; from its first byte on, the request is answered, with Connection: close, then the close.
BOOST_AUTO_TEST_CASE(shutdown_finishes_the_request_in_hand) {
    const std::string req = get("/a.txt", "Connection: keep-alive\r\n");
    for (std::size_t cut = 0; cut <= req.size(); ++cut) {
        BOOST_TEST_CONTEXT("shutdown after " << cut << " bytes") {
            conversation c(*this);
            c.send(req.substr(0, cut), 1 + cut % 9);
            c.channel.handle_shutdown();
            c.send(req.substr(cut), 1 + cut % 7);
            const auto responses = http_test::split_responses(c.out);
            if (cut == 0 || cut == req.size()) {
                // Nothing of a request in hand, or the request already answered (keep-alive): only the close.
                BOOST_TEST(responses.size() == (cut == 0 ? 0u : 1u), escape(c.out));
                if (cut == req.size()) BOOST_TEST(responses[0].header("Connection") == "keep-alive");
            } else {
                BOOST_TEST_REQUIRE(responses.size() == 1u, escape(c.out));
                BOOST_TEST(responses[0].status == 200);
                BOOST_TEST(responses[0].header("Connection") == "close");
            }
            BOOST_TEST(c.transport.closed_when_done());
        }
    }
}

// Runs the default map's timers (the socket-less channel's) until `done` or the hang guard.
template <class F> bool run_timers_until(F done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!done() && std::chrono::steady_clock::now() < deadline)
        asyncore::socket_map::default_map().run_pass(std::chrono::milliseconds(20), "poll");
    return done();
}

// Slowloris: header bytes that keep coming, a byte at a time, do not move the header deadline; 408 and the close
// come at it. The window is wide (after half the deadline, before the hang guard): it says "the deadline did it".
BOOST_AUTO_TEST_CASE(header_deadline_answers_408_however_the_bytes_trickle) {
    options.header_timeout = std::chrono::milliseconds(400);
    conversation c(*this);
    const std::string partial = "GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    const auto began = std::chrono::steady_clock::now();
    std::size_t sent = 0;
    const bool answered = run_timers_until([&] {
        if (sent < partial.size()) c.send(partial.substr(sent++, 1)); // one byte per pass, never completing
        c.out += c.transport.written();
        return c.transport.closed_when_done();
    });
    const double after = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    BOOST_TEST_REQUIRE(answered, escape(c.out));
    BOOST_TEST(c.out.starts_with("HTTP/1.0 408 Request Timeout\r\n"), escape(c.out));
    BOOST_TEST(after >= 0.2, "408 after " << after << " s");
    BOOST_TEST(stats.errors == 1u);
}

// A keep-alive connection whose requests are whole is not touched by the deadline, however long it lives.
BOOST_AUTO_TEST_CASE(header_deadline_spares_whole_requests) {
    options.header_timeout = std::chrono::milliseconds(100);
    conversation c(*this);
    const auto began = std::chrono::steady_clock::now();
    int requests = 0;
    run_timers_until([&] {
        c.send(get("/a.txt", "Connection: keep-alive\r\n"), 5);
        ++requests;
        return std::chrono::steady_clock::now() - began > std::chrono::milliseconds(500);
    });
    const auto responses = http_test::split_responses(c.out);
    BOOST_TEST(responses.size() == static_cast<std::size_t>(requests));
    for (const auto& r : responses) BOOST_TEST(r.status == 200);
    BOOST_TEST(!c.transport.closed_when_done());
    c.channel.handle_shutdown();
    c.send("");
    BOOST_TEST(c.transport.closed_when_done());
}

BOOST_AUTO_TEST_SUITE_END()

} // namespace test_server_channel

// The access log's line (combined_log_line), exactly: the fields in order, the date in the combined format, the
// client's bytes escaped (a quote, a backslash, a control byte, UTF-8), "-" for what is absent.
BOOST_AUTO_TEST_SUITE(combined_log_format)

BOOST_AUTO_TEST_CASE(a_line_says_each_field_and_escapes_the_clients_bytes) {
    asynchat::http::request req;
    req.method = "GET";
    req.target = "/a\"b\\c";
    req.version_minor = 1;
    req.headers.add("Referer", "http://ref.example/");
    req.headers.add("User-Agent", "caf\xc3\xa9\x01");
    // 2026-12-08 01:02:03 UTC
    const auto when = std::chrono::system_clock::from_time_t(1796691723);
    BOOST_TEST(asynchat::http::combined_log_line("203.0.113.7", &req, 200, 1024, when) ==
               "203.0.113.7 - - [08/Dec/2026:01:02:03 +0000] \"GET /a\\x22b\\x5Cc HTTP/1.1\" 200 1024 "
               "\"http://ref.example/\" \"caf\\xC3\\xA9\\x01\"");
    BOOST_TEST(asynchat::http::combined_log_line("", nullptr, 400, 0, when) ==
               "- - - [08/Dec/2026:01:02:03 +0000] \"-\" 400 - \"-\" \"-\"");
}

BOOST_AUTO_TEST_SUITE_END()
