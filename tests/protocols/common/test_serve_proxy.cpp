// asynchat::serve behind a load balancer (service::proxy, serve.hpp): the PROXY protocol header is read before the
// service's channel is made, on every backend. A client thread plays the balancer with blocking sockets; the
// channel's handler ends serve() with asyncore::exit_now once it has what the test wanted.
#include <chrono>
#include <string>
#include <thread>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <asyncore/asyncore.hpp>
#include <asynchat/serve.hpp>

#include "log_capture.hpp"
#include "test_support.hpp"

namespace bdata = boost::unit_test::data;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace test_serve_proxy {

// What the service's channel saw: the address its constructor was given, and every byte it read.
struct seen {
    std::string address;
    std::string bytes;
    int channels = 0;
};

// Records, and ends serve() at the first "\n" it reads.
struct recording_channel final : asyncore::dispatcher {
    seen& out;
    recording_channel(asyncore::socket sock, seen& o) : dispatcher(std::move(sock)), out(o) {
        ++out.channels;
        out.address = addr() ? addr()->to_string() : "none";
    }
    bool writable() override { return false; }
    void handle_read() override {
        char buf[256];
        out.bytes.append(buf, recv(buf, sizeof buf));
        if (out.bytes.find('\n') != std::string::npos) throw asyncore::exit_now();
    }
    void handle_close() override { close(); }
};

struct listening {
    int fd;
    sockaddr_in where{};
    listening() {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        where.sin_family = AF_INET;
        where.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&where), sizeof where) == 0);
        socklen_t len = sizeof where;
        BOOST_REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&where), &len) == 0);
        BOOST_REQUIRE(::listen(fd, 16) == 0);
    }
};

// Blocking client calls, run on the client thread (BOOST_TEST is not thread-safe: results go back as values).
int connect_to(const sockaddr_in& where) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&where), sizeof where) != 0) return -1;
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}
void send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) return;
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}
// What the server sends until it closes ("" when it closed at once; "timeout" when it did not close in 10 s).
std::string read_until_closed(int fd) {
    std::string out;
    char buf[256];
    while (true) {
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) return out;
        if (n < 0) return out + "timeout";
        out.append(buf, static_cast<std::size_t>(n));
    }
}
std::string local_address(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return asyncore::address(reinterpret_cast<sockaddr*>(&a), len).to_string();
}

const std::string v1_header = "PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\n";

// On the client thread: a connection that sends `first` and reads until the server closes it (what it read is
// returned), then one with a valid header and "next\n", which the service is to read.
std::string refused_then_served(const listening& l, const std::string& first) {
    const int refused = connect_to(l.where);
    send_all(refused, first);
    const std::string answered = read_until_closed(refused);
    ::close(refused);
    const int good = connect_to(l.where);
    send_all(good, v1_header + "next\n");
    std::this_thread::sleep_for(200ms);
    ::close(good);
    return answered;
}

// serve() with the PROXY protocol on, one service whose channels record into `out`.
void serve_behind_proxy(const std::string& backend, listening& l, seen& out, asynchat::service_stats* stats = nullptr,
                        std::chrono::duration<double> header_timeout = std::chrono::seconds(5),
                        std::size_t max_connections = 10000) {
    asynchat::serve({.name = "proxied",
                     .listening = asyncore::socket::adopt(l.fd),
                     .accept = [&](asyncore::socket s) { asyncore::make<recording_channel>(std::move(s), out); },
                     .stats = stats,
                     .max_connections = max_connections,
                     .over_capacity_reply = "busy\n",
                     .proxy = {.enabled = true, .header_timeout = header_timeout}},
                    {.backend = backend, .on_listening = [](const asynchat::service&, std::size_t, const std::string&) {}});
    asyncore::close_all();
}

} // namespace test_serve_proxy

using namespace test_serve_proxy;

BOOST_AUTO_TEST_SUITE(serve_proxy_protocol)

// The channel's constructor already sees the client the header names, and reads the stream from the byte after
// the header: the header sent in pieces, the protocol's first line in the same segment as its end.
BOOST_DATA_TEST_CASE(the_channel_sees_the_client_and_the_bytes_after_the_header, bdata::make(test_support::backends()),
                     backend) {
    listening l;
    seen out;
    std::thread client([&] {
        const int fd = connect_to(l.where);
        send_all(fd, v1_header.substr(0, 9));
        std::this_thread::sleep_for(20ms);
        send_all(fd, v1_header.substr(9, 20));
        std::this_thread::sleep_for(20ms);
        send_all(fd, v1_header.substr(29) + "hello\n");
        std::this_thread::sleep_for(200ms);
        ::close(fd);
    });
    serve_behind_proxy(backend, l, out);
    client.join();
    BOOST_TEST(out.channels == 1);
    BOOST_TEST(out.address == "203.0.113.7:56324");
    BOOST_TEST(out.bytes == "hello\n");
}

// v2 LOCAL (HAProxy's own health check): served, with the connection's own address.
BOOST_DATA_TEST_CASE(a_v2_local_header_keeps_the_connection_address, bdata::make(test_support::backends()), backend) {
    listening l;
    seen out;
    std::string client_address;
    std::thread client([&] {
        const int fd = connect_to(l.where);
        client_address = local_address(fd);
        send_all(fd, "\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00"s + "ping\n");
        std::this_thread::sleep_for(200ms);
        ::close(fd);
    });
    serve_behind_proxy(backend, l, out);
    client.join();
    BOOST_TEST(out.address == client_address);
    BOOST_TEST(out.bytes == "ping\n");
}

// No valid header: closed unserved, one error counted and one line logged; the next connection is served.
BOOST_DATA_TEST_CASE(a_connection_without_a_header_is_closed_unserved, bdata::make(test_support::backends()),
                     backend) {
    listening l;
    seen out;
    asynchat::service_stats stats;
    test_support::installed_sink log;
    std::string answered;
    std::thread client([&] { answered = refused_then_served(l, "GET / HTTP/1.0\r\n\r\n"); });
    serve_behind_proxy(backend, l, out, &stats);
    client.join();
    BOOST_TEST(answered == "");
    BOOST_TEST(stats.errors == 1u);
    BOOST_TEST(out.channels == 1);
    BOOST_TEST(out.bytes == "next\n");
    bool logged = false;
    for (const auto& [level, line] : log.sink->lines)
        logged = logged || (line.find("proxied: closing 127.0.0.1:") != std::string::npos &&
                            line.find("not a PROXY protocol header") != std::string::npos);
    BOOST_TEST(logged);
}

// A header that never completes (slowloris on the header) is closed once header_timeout has passed.
BOOST_DATA_TEST_CASE(a_header_that_never_completes_times_out, bdata::make(test_support::backends()), backend) {
    listening l;
    seen out;
    asynchat::service_stats stats;
    test_support::installed_sink log;
    std::string answered;
    std::thread client([&] { answered = refused_then_served(l, "PROXY TCP4 203.0"); });
    serve_behind_proxy(backend, l, out, &stats, 300ms);
    client.join();
    BOOST_TEST(answered == "", "closed by the timeout, not left open (\"timeout\": still open after 10 s)");
    BOOST_TEST(stats.errors == 1u);
    BOOST_TEST(out.channels == 1);
}

// A connection still sending its header counts toward max_connections: with a limit of 1, a second connection
// gets the busy reply while the first has not finished its header; the first is then served.
BOOST_DATA_TEST_CASE(connections_awaiting_their_header_count_toward_the_limit, bdata::make(test_support::backends()),
                     backend) {
    listening l;
    seen out;
    asynchat::service_stats stats;
    std::string second_answered;
    std::thread client([&] {
        const int first = connect_to(l.where);
        send_all(first, v1_header.substr(0, 10));
        std::this_thread::sleep_for(100ms);
        const int second = connect_to(l.where);
        send_all(second, v1_header + "second\n");
        second_answered = read_until_closed(second);
        ::close(second);
        send_all(first, v1_header.substr(10) + "first\n");
        std::this_thread::sleep_for(200ms);
        ::close(first);
    });
    serve_behind_proxy(backend, l, out, &stats, std::chrono::seconds(5), 1);
    client.join();
    BOOST_TEST(second_answered == "busy\n");
    BOOST_TEST(out.bytes == "first\n");
    BOOST_TEST(out.address == "203.0.113.7:56324");
}

BOOST_AUTO_TEST_SUITE_END()
