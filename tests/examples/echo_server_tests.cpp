// examples/echo_server.cpp, driven from outside as a user would: spawned, talked to over loopback with plain
// blocking sockets, stopped with a signal.
#include <algorithm>
#include <charconv>
#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include <sys/socket.h>
#include <sys/wait.h>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "program_support.hpp"
#include "test_support.hpp"

#ifndef ECHO_SERVER_PATH
#error "ECHO_SERVER_PATH must name the echo_server binary"
#endif

namespace bdata = boost::unit_test::data;
using namespace program_test;

namespace {

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
        lines.push_back(text.substr(start, nl - start));
    if (start < text.size()) lines.push_back(text.substr(start)); // an unterminated last line still counts
    return lines;
}

void require_clean_exit(child_process& server, const char* after) {
    const auto status = server.wait();
    BOOST_REQUIRE_MESSAGE(status, "echo_server still running " << hang_guard.count() << " ms after " << after);
    BOOST_TEST_REQUIRE(WIFEXITED(*status), "echo_server was killed by signal " << WTERMSIG(*status));
    BOOST_TEST(WEXITSTATUS(*status) == 0);
}

} // namespace

BOOST_AUTO_TEST_SUITE(echo_server)

BOOST_DATA_TEST_CASE(echoes_each_client_and_exits_zero_on_sigterm, bdata::make(test_support::backends()), backend) {
    child_process server({ECHO_SERVER_PATH, "--backend", backend});
    const auto line = server.read_line();
    BOOST_REQUIRE_MESSAGE(line, "echo_server printed no first line");
    const auto port = parse_listening_port(*line);

    // Several connections open at once, all written to before any is read, then read in the opposite order:
    // each handler must echo its own stream and no other.
    std::vector<fd> clients;
    std::vector<std::string> greetings;
    for (int i = 0; i < 4; ++i) {
        clients.push_back(connect_loopback(port));
        greetings.push_back("client " + std::to_string(i) + " says hello\n");
    }
    for (std::size_t i = 0; i < clients.size(); ++i) BOOST_REQUIRE(send_all(clients[i].get(), greetings[i]));
    for (std::size_t i = clients.size(); i-- > 0;)
        BOOST_TEST(recv_exact(clients[i].get(), greetings[i].size()) == greetings[i]);

    // 1-byte writes, each echoed before the next is sent (TCP_NODELAY: each is its own segment).
    const std::string single_bytes("a\0\r\n\xff z", 7);
    for (const char c : single_bytes) {
        BOOST_REQUIRE(send_all(clients[1].get(), std::string_view(&c, 1)));
        BOOST_TEST(recv_exact(clients[1].get(), 1) == std::string(1, c));
    }
    // A burst of 1-byte writes without waiting: however the server's reads split it, the echo is the same stream.
    const std::string burst = binary_payload(300);
    for (const char& c : burst) BOOST_REQUIRE(send_all(clients[1].get(), std::string_view(&c, 1)));
    BOOST_TEST((recv_exact(clients[1].get(), burst.size()) == burst));

    // 100 KiB: many recv(8192)s, and more than the echo's send() may take at once, so dispatcher_with_send has to
    // queue. Sent from a second thread so that full socket buffers cannot deadlock the test against itself.
    const std::string payload = binary_payload(100 * 1024);
    bool sent = false;
    std::thread sender([&] { sent = send_all(clients[2].get(), payload); });
    const std::string echoed = recv_exact(clients[2].get(), payload.size());
    sender.join();
    BOOST_TEST(sent);
    BOOST_TEST(echoed.size() == payload.size());
    BOOST_TEST((echoed == payload));
    // Nothing beyond the payload came back: the very next bytes are those of the next message.
    BOOST_REQUIRE(send_all(clients[2].get(), "after"));
    BOOST_TEST(recv_exact(clients[2].get(), 5) == "after");

    // Backpressure: a client with a small receive buffer writes 8 MiB before reading any of it. That is more than
    // the kernel buffers on both sides hold (tcp_wmem's maximum is 4 MiB), so the handler's send() must come up
    // short, dispatcher_with_send must queue the rest, and the server must go on reading meanwhile (else this
    // send stalls and fails at the socket timeout). 100 KiB alone does not show this: loopback absorbs it.
    const std::string big = binary_payload(8 << 20);
    clients.push_back(connect_loopback(port, 4096));
    const int slow_reader = clients.back().get();
    BOOST_REQUIRE(send_all(slow_reader, big));
    const std::string echoed_late = recv_exact(slow_reader, big.size());
    BOOST_TEST(echoed_late.size() == big.size());
    BOOST_TEST((echoed_late == big));

    // A client's EOF reaches its handler's (default) handle_close, which closes the connection: the client sees
    // EOF in turn. The other connections carry on.
    BOOST_REQUIRE(::shutdown(clients[3].get(), SHUT_WR) == 0);
    BOOST_TEST(recv_eof(clients[3].get()));
    BOOST_REQUIRE(send_all(clients[0].get(), "still here"));
    BOOST_TEST(recv_exact(clients[0].get(), 10) == "still here");

    // Connections still open must not hold up the shutdown.
    server.send_signal(SIGTERM);
    require_clean_exit(server, "SIGTERM");

    // The rest of stdout: one "Incoming connection from ADDR" per client, ADDR being that client's own address.
    const auto rest = server.read_all();
    BOOST_REQUIRE_MESSAGE(rest, "echo_server's stdout still open after it exited");
    auto lines = split_lines(*rest);
    std::vector<std::string> expected;
    for (const auto& c : clients)
        expected.push_back("Incoming connection from 127.0.0.1:" + std::to_string(local_port(c.get())));
    std::sort(lines.begin(), lines.end());
    std::sort(expected.begin(), expected.end());
    BOOST_TEST(lines == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(exits_zero_on_sigint) {
    child_process server({ECHO_SERVER_PATH});
    const auto line = server.read_line();
    BOOST_REQUIRE_MESSAGE(line, "echo_server printed no first line");
    const auto port = parse_listening_port(*line);
    const fd idle = connect_loopback(port);
    BOOST_REQUIRE(send_all(idle.get(), "x"));
    BOOST_REQUIRE(recv_exact(idle.get(), 1) == "x"); // the connection is accepted and served before the signal

    server.send_signal(SIGINT);
    require_clean_exit(server, "SIGINT");
    // Exiting closed the connection.
    BOOST_TEST(recv_eof(idle.get()));
}

BOOST_AUTO_TEST_CASE(binds_the_port_it_is_given) {
    // A free port, found by binding and releasing it: the server must print back exactly that one.
    std::uint16_t wanted = 0;
    {
        const auto [probe, port] = refusing_port();
        wanted = port;
    }
    child_process server({ECHO_SERVER_PATH, "--host", "127.0.0.1", "--port", std::to_string(wanted)});
    const auto line = server.read_line();
    BOOST_REQUIRE_MESSAGE(line, "echo_server printed no first line");
    BOOST_TEST(*line == "listening on 127.0.0.1:" + std::to_string(wanted));
    server.send_signal(SIGTERM);
    require_clean_exit(server, "SIGTERM");
}

BOOST_AUTO_TEST_CASE(rejects_an_unknown_backend) {
    child_process server({ECHO_SERVER_PATH, "--backend", "no-such-backend"});
    const auto out = server.read_all();
    BOOST_REQUIRE(out);
    BOOST_TEST(out->find("listening on") == std::string::npos);
    const auto status = server.wait();
    BOOST_REQUIRE(status);
    BOOST_TEST_REQUIRE(WIFEXITED(*status));
    BOOST_TEST(WEXITSTATUS(*status) != 0);
}

BOOST_AUTO_TEST_SUITE_END()
