// examples/http_client.cpp, run as a child process against a one-connection HTTP/1.0 server in the test.
#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <boost/test/unit_test.hpp>

#include "program_support.hpp"

#ifndef HTTP_CLIENT_PATH
#error "HTTP_CLIENT_PATH must name the http_client binary"
#endif

using namespace program_test;

namespace {

// Accepts one connection on 127.0.0.1, reads the request head, answers with a fixed response and closes, which is
// how an HTTP/1.0 client learns the response is complete. Plain blocking sockets on a thread: nothing of asyncore
// on this side.
class one_shot_http_server {
public:
    explicit one_shot_http_server(std::string response) : response_(std::move(response)) {
        auto [listener, port] = listen_loopback();
        listener_ = std::move(listener);
        port_ = port;
        thread_ = std::thread([this] { serve(); });
    }
    ~one_shot_http_server() {
        // Wakes a thread still waiting for a client that never came (the test has failed already).
        ::shutdown(listener_.get(), SHUT_RDWR);
        join();
    }

    std::uint16_t port() const noexcept { return port_; }
    // After join(): what the server read (up to and including the blank line), and whether it sent the response.
    void join() {
        if (thread_.joinable()) thread_.join();
    }
    std::string request;
    bool replied = false;
    std::string error;

private:
    void serve() {
        pollfd p{listener_.get(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(hang_guard.count())) != 1 || !(p.revents & POLLIN)) {
            error = "no connection arrived";
            return;
        }
        const fd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (!conn) {
            error = "accept failed";
            return;
        }
        timeval tv{};
        tv.tv_sec = static_cast<time_t>(std::chrono::duration_cast<std::chrono::seconds>(hang_guard).count());
        ::setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(conn.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        while (request.find("\r\n\r\n") == std::string::npos) {
            char buf[4096];
            const ssize_t n = ::recv(conn.get(), buf, sizeof buf, 0);
            if (n <= 0) {
                error = "connection ended (or timed out) before the end of the request head";
                return;
            }
            request.append(buf, static_cast<std::size_t>(n));
        }
        replied = send_all(conn.get(), response_);
    }

    std::string response_;
    fd listener_;
    std::uint16_t port_ = 0;
    std::thread thread_;
};

std::string http_response(const std::string& body) {
    return "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
}

struct run_result {
    std::string out;
    int exit_code;
};

// Runs http_client with args to completion; fails the test if it does not finish or dies of a signal.
run_result run_client(const std::vector<std::string>& args) {
    std::vector<std::string> argv{HTTP_CLIENT_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    child_process client(argv);
    const auto out = client.read_all();
    BOOST_REQUIRE_MESSAGE(out, "http_client's stdout still open after " << hang_guard.count() << " ms");
    const auto status = client.wait();
    BOOST_REQUIRE_MESSAGE(status, "http_client still running after " << hang_guard.count() << " ms");
    BOOST_TEST_REQUIRE(WIFEXITED(*status), "http_client was killed by signal " << WTERMSIG(*status));
    return {*out, WEXITSTATUS(*status)};
}

} // namespace

BOOST_AUTO_TEST_SUITE(http_client)

BOOST_AUTO_TEST_CASE(sends_the_request_and_prints_the_response_byte_for_byte) {
    // A body of several recv(8192)s' worth, with every byte value in it (\0 included): the output must be the raw
    // bytes, neither text-mangled nor cut at a chunk boundary.
    const std::string response = http_response(binary_payload(3 * 8192 + 123));
    one_shot_http_server server(response);

    const auto result = run_client({"127.0.0.1", std::to_string(server.port()), "/path"});
    server.join();

    BOOST_TEST(server.error == "");
    BOOST_TEST(server.request == "GET /path HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    BOOST_TEST(server.replied);
    BOOST_TEST(result.exit_code == 0);
    BOOST_TEST(result.out.size() == response.size());
    BOOST_TEST((result.out == response));
}

BOOST_AUTO_TEST_CASE(path_defaults_to_root) {
    const std::string response = http_response("hello\n");
    one_shot_http_server server(response);

    const auto result = run_client({"127.0.0.1", std::to_string(server.port())});
    server.join();

    BOOST_TEST(server.error == "");
    BOOST_TEST(server.request == "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    BOOST_TEST(result.exit_code == 0);
    BOOST_TEST(result.out == response);
}

BOOST_AUTO_TEST_CASE(a_refused_connection_exits_nonzero_with_no_output) {
    const auto [holder, port] = refusing_port();
    const auto result = run_client({"127.0.0.1", std::to_string(port), "/"});
    BOOST_TEST(result.exit_code == 1);
    BOOST_TEST(result.out == "");
}

BOOST_AUTO_TEST_CASE(bad_arguments_exit_2_with_no_output) {
    for (const std::vector<std::string>& args : {std::vector<std::string>{"127.0.0.1"},
                                                 std::vector<std::string>{"127.0.0.1", "http"},
                                                 std::vector<std::string>{"127.0.0.1", "65536"}}) {
        std::string joined;
        for (const auto& a : args) joined += " " + a;
        BOOST_TEST_CONTEXT("http_client" << joined) {
            const auto result = run_client(args);
            BOOST_TEST(result.exit_code == 2);
            BOOST_TEST(result.out == "");
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
