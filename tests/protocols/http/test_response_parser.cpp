// asynchat::http::response_parser (the client side) through response_reader, split at every byte boundary, the
// URL parser, and the client channel's callbacks against a one-response server on loopback.
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <asynchat/async_chat.hpp>
#include <asynchat/http/client.hpp>
#include <asynchat/http/parser.hpp>
#include <asyncore/dispatcher.hpp>
#include <asyncore/loop.hpp>
#include <asyncore/socket_map.hpp>

#include "http_test_util.hpp"

namespace bdata = boost::unit_test::data;
using namespace asynchat::http;
using http_test::escape;

namespace test_response_parser {

response_result read(std::string_view bytes, std::size_t cut_at, bool close, bool head = false) {
    response_reader r(head);
    r.feed(bytes.substr(0, cut_at));
    r.feed(bytes.substr(cut_at));
    if (close) r.finish();
    return r.result();
}

BOOST_AUTO_TEST_SUITE(response_parser_suite)

BOOST_AUTO_TEST_CASE(content_length_body_split_at_every_byte) {
    const std::string resp = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\ncontent-length: 9\r\n\r\nab\r\n\r\ncde";
    for (std::size_t i = 0; i <= resp.size(); ++i) {
        // Complete as soon as the length is reached, without waiting for the close.
        const auto r = read(resp, i, false);
        BOOST_TEST_REQUIRE(r.complete, "cut at " << i << ": " << r.error);
        BOOST_TEST(r.status == 200);
        BOOST_TEST(r.reason == "OK");
        BOOST_TEST(r.headers.get("CONTENT-TYPE").value() == "text/plain");
        BOOST_TEST(r.body == "ab\r\n\r\ncde");
    }
}

BOOST_DATA_TEST_CASE(segment_sizes, bdata::make(http_test::segment_sizes()), segment) {
    const std::string resp = "HTTP/1.1 404 Not Found\nContent-Length: 4\n\ngone";
    response_reader r;
    for (auto piece : http_test::cut(resp, segment)) r.feed(piece);
    BOOST_TEST(r.result().complete);
    BOOST_TEST(r.result().status == 404);
    BOOST_TEST(r.result().version_minor == 1);
    BOOST_TEST(r.result().body == "gone");
}

BOOST_AUTO_TEST_CASE(body_read_to_the_close) {
    const std::string resp = "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nall of\r\nthis";
    for (std::size_t i = 0; i <= resp.size(); ++i) {
        const auto open = read(resp, i, false);
        BOOST_TEST(!open.complete); // not before the close
        const auto r = read(resp, i, true);
        BOOST_TEST_REQUIRE(r.complete, "cut at " << i);
        BOOST_TEST(r.body == "all of\r\nthis");
    }
}

BOOST_AUTO_TEST_CASE(a_body_cut_short_is_not_complete) {
    const auto r = read("HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nshort", 3, true);
    BOOST_TEST(!r.complete);
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.error.find("5 bytes") != std::string::npos, r.error);
    const auto headers_only = read("HTTP/1.0 200 OK\r\nContent-Len", 3, true);
    BOOST_TEST(!headers_only.complete);
    BOOST_TEST(!headers_only.error.empty());
}

BOOST_AUTO_TEST_CASE(responses_without_a_body) {
    const std::string with_length = "HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\n";
    BOOST_TEST(read(with_length, 5, false, true).complete); // the answer to HEAD
    BOOST_TEST(read("HTTP/1.0 304 Not Modified\r\n\r\n", 5, false).complete);
    BOOST_TEST(read("HTTP/1.1 204 No Content\r\n\r\n", 5, false).complete);
}

BOOST_AUTO_TEST_CASE(interim_responses_are_skipped) {
    const auto r = read("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", 20, false);
    BOOST_TEST(r.complete);
    BOOST_TEST(r.status == 201);
    BOOST_TEST(r.body == "ok");
}

BOOST_AUTO_TEST_CASE(status_line_without_reason) {
    const auto r = read("HTTP/1.0 200\r\nContent-Length: 0\r\n\r\n", 4, false);
    BOOST_TEST(r.complete);
    BOOST_TEST(r.reason.empty());
}

const std::vector<std::string> malformed{
    "HTTP/1.0 20 OK\r\n\r\n",
    "HTTP/2.0 200 OK\r\n\r\n",
    "ICY 200 OK\r\n\r\n",
    "HTTP/1.0 200OK\r\n\r\n",
    "HTTP/1.0 200 OK\r\nbroken line\r\n\r\n",
    "HTTP/1.0 200 OK\r\nX: a\r\n folded\r\n\r\n",             // obs-fold: the same field-line code as the server
    "HTTP/1.0 200 OK\r\nContent-Length : 3\r\n\r\nabc",
    "HTTP/1.0 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    // Found by tests/fuzz/fuzz_http_response: a status below 100 has no class (RFC 9110 §15); it used to be taken
    // as a final response, its body read to the close.
    "HTTP/1.1 001 Continue\r\n\r\nbody",
    "HTTP/1.0 099 X\r\nContent-Length: 0\r\n\r\n",
};

BOOST_DATA_TEST_CASE(malformed_responses_fail, bdata::make(malformed), resp) {
    for (std::size_t i = 0; i <= resp.size(); ++i) {
        const auto r = read(resp, i, true);
        BOOST_TEST(!r.complete, escape(resp));
        BOOST_TEST(!r.error.empty());
    }
}

BOOST_AUTO_TEST_CASE(a_status_line_too_long_fails_before_it_ends) {
    response_reader r;
    r.feed("HTTP/1.0 200 " + std::string(9000, 'x'));
    BOOST_TEST(r.parser().done());
    BOOST_TEST(!r.result().complete);
}

BOOST_AUTO_TEST_CASE(body_sink_gets_the_bytes_as_they_come) {
    response_reader r;
    std::string seen;
    r.parser().on_body = [&](std::string_view b) { seen.append(b); };
    r.feed("HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nabc");
    BOOST_TEST(seen == "abc");
    r.feed("def");
    BOOST_TEST(seen == "abcdef");
    BOOST_TEST(r.result().body.empty());
    BOOST_TEST(r.result().complete);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(url_suite)

BOOST_AUTO_TEST_CASE(good_urls) {
    auto u = parse_url("http://example.org");
    BOOST_TEST(u.host == "example.org");
    BOOST_TEST(u.port == 80);
    BOOST_TEST(u.target == "/");
    BOOST_TEST(u.authority == "example.org");
    u = parse_url("HTTP://127.0.0.1:8080/a/b?c=d#frag");
    BOOST_TEST(u.host == "127.0.0.1");
    BOOST_TEST(u.port == 8080);
    BOOST_TEST(u.target == "/a/b?c=d");
    BOOST_TEST(u.authority == "127.0.0.1:8080");
    u = parse_url("http://[::1]:9/x");
    BOOST_TEST(u.host == "::1");
    BOOST_TEST(u.port == 9);
    BOOST_TEST(u.authority == "[::1]:9");
    u = parse_url("http://[::1]?q");
    BOOST_TEST(u.target == "/?q");
    BOOST_TEST(u.authority == "[::1]");
    BOOST_TEST(!u.tls);
}

BOOST_AUTO_TEST_CASE(https_urls_default_to_port_443) {
    auto u = parse_url("https://example.org/x");
    BOOST_TEST(u.tls);
    BOOST_TEST(u.port == 443);
    BOOST_TEST(u.target == "/x");
    BOOST_TEST(u.authority == "example.org");
    u = parse_url("HTTPS://localhost:8443");
    BOOST_TEST(u.tls);
    BOOST_TEST(u.port == 8443);
    BOOST_TEST(u.authority == "localhost:8443");
    // The default port of the other scheme is not left out of the Host header.
    BOOST_TEST(parse_url("https://h:80/").authority == "h:80");
    BOOST_TEST(parse_url("http://h:443/").authority == "h:443");
}

const std::vector<std::string> bad_urls{
    "", "example.org", "https:/example.org/", "ftp://x/", "https://", "https://host:0/", "http://", "http:///path", "http://host:/",
    "http://host:0/", "http://host:65536/", "http://host:80x/", "http://[::1/", "http://[::1]x/", "http://[]/",
    "http://user@host/", "http://host/a b", "http://ho st/", "http://host/\x01",
};

BOOST_DATA_TEST_CASE(bad_urls_throw_url_error, bdata::make(bad_urls), text) {
    BOOST_CHECK_THROW(parse_url(text), url_error);
}

BOOST_AUTO_TEST_SUITE_END()

// Answers every connection with one fixed response, then closes it.
class one_response_server : public asyncore::dispatcher {
public:
    one_response_server(asyncore::socket_map& map, std::string response)
        : dispatcher(&map), response_(std::move(response)) {
        create_socket(AF_INET, SOCK_STREAM);
        set_reuse_addr();
        bind(asyncore::address::ipv4("127.0.0.1", 0));
        listen(5);
    }
    std::uint16_t port() const { return sock().getsockname().port(); }
    void handle_accepted(asyncore::socket sock, asyncore::address) override {
        struct answer : asynchat::async_chat {
            answer(asyncore::socket s, asyncore::socket_map* m, const std::string& response)
                : async_chat(std::move(s), m) {
                set_terminator("\r\n\r\n");
                response_ = response;
            }
            void collect_incoming_data(std::string_view) override {}
            void found_terminator() override {
                push(std::move(response_));
                close_when_done();
            }
            std::string response_;
        };
        asyncore::make<answer>(std::move(sock), &map(), response_);
    }

private:
    std::string response_;
};

BOOST_AUTO_TEST_SUITE(client_callbacks)

constexpr std::string_view response = "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello";

BOOST_AUTO_TEST_CASE(on_body_gets_the_body_and_on_done_the_result) {
    asyncore::socket_map map;
    auto server = asyncore::make<one_response_server>(map, std::string(response));
    auto c = asyncore::make<client>(parse_url("http://127.0.0.1:" + std::to_string(server->port()) + "/"),
                                    client_options{}, &map);
    std::string streamed;
    std::vector<response_result> done;
    c->on_body = [&](std::string_view bytes) { streamed.append(bytes); };
    c->on_done = [&](const response_result& r) {
        done.push_back(r);
        server->close();
    };
    asyncore::loop({.timeout = std::chrono::milliseconds(100), .backend = "poll", .map = &map, .count = 200});
    BOOST_REQUIRE_EQUAL(done.size(), 1u);
    BOOST_TEST(done[0].complete);
    BOOST_TEST(done[0].status == 200);
    BOOST_TEST(streamed == "hello");
    BOOST_TEST(done[0].body.empty()); // on_body set: the body is not kept as well
}

BOOST_AUTO_TEST_CASE(without_on_body_the_body_is_in_the_result) {
    asyncore::socket_map map;
    auto server = asyncore::make<one_response_server>(map, std::string(response));
    auto c = asyncore::make<client>(parse_url("http://127.0.0.1:" + std::to_string(server->port()) + "/"),
                                    client_options{}, &map);
    std::vector<response_result> done;
    c->on_done = [&](const response_result& r) {
        done.push_back(r);
        server->close();
    };
    asyncore::loop({.timeout = std::chrono::milliseconds(100), .backend = "poll", .map = &map, .count = 200});
    BOOST_REQUIRE_EQUAL(done.size(), 1u);
    BOOST_TEST(done[0].complete);
    BOOST_TEST(done[0].body == "hello");
    BOOST_TEST(c->result().body == "hello");
}

BOOST_AUTO_TEST_SUITE_END()

} // namespace test_response_parser
