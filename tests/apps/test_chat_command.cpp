// `asynchat serve chat` (apps/asynchat/services/chat.cpp), driven from outside as a user would, on every backend:
// spawned with arguments, talked to over loopback by plain blocking sockets, stopped with SIGTERM (exit status 0
// required, so that a sanitizer report in the server fails the test whose traffic caused it). Every wait is a
// read with the hang guard as its deadline; nothing sleeps to synchronise.
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <sys/socket.h>
#include <sys/wait.h>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "program_support.hpp"
#include "test_support.hpp"

#ifndef ASYNCHAT_PATH
#error "ASYNCHAT_PATH must name the asynchat binary"
#endif

namespace bdata = boost::unit_test::data;
using namespace program_test;

namespace {

// `asynchat serve chat --backend BACKEND --port 0 OPTIONS...`, running, and the port it announced.
class chat_server : public serve_process {
public:
    chat_server(const std::string& backend, const std::vector<std::string>& options)
        : serve_process(command(backend, options)) {}

private:
    static std::vector<std::string> command(const std::string& backend, const std::vector<std::string>& options) {
        std::vector<std::string> argv{ASYNCHAT_PATH, "serve", "chat", "--backend", backend, "--port", "0"};
        argv.insert(argv.end(), options.begin(), options.end());
        return argv;
    }
};

// One chat client: a blocking socket (timeouts of hang_guard) and the bytes received but not yet read as lines.
class chat_client {
public:
    explicit chat_client(std::uint16_t port, int receive_buffer = 0) : sock_(connect_loopback(port, receive_buffer)) {}

    bool send(std::string_view bytes) { return send_all(sock_.get(), bytes); }

    // The next CRLF-terminated line, without its CRLF; nothing at EOF, on an error or at the hang guard.
    std::optional<std::string> line() {
        for (;;) {
            if (const std::size_t end = buffered_.find("\r\n"); end != std::string::npos) {
                std::string l = buffered_.substr(0, end);
                buffered_.erase(0, end + 2);
                return l;
            }
            if (!fill()) return std::nullopt;
        }
    }
    // Reads the line with BOOST_REQUIRE that there is one.
    std::string expect_line() {
        auto l = line();
        BOOST_REQUIRE_MESSAGE(l, "the server sent no line (EOF, error or hang guard)");
        return *l;
    }
    // The greeting, and the guest name it gives.
    std::string hello() {
        const std::string l = expect_line();
        BOOST_REQUIRE_MESSAGE(l.starts_with("HELLO guest-"), "greeting: " << l);
        return l.substr(6);
    }

    // Reads until the connection ends: how it ended and how many bytes came first.
    std::pair<ending, std::size_t> drain() {
        std::size_t total = buffered_.size();
        buffered_.clear();
        char buf[65536];
        for (;;) {
            const ssize_t n = ::recv(sock_.get(), buf, sizeof buf, 0);
            if (n > 0) {
                total += static_cast<std::size_t>(n);
                continue;
            }
            if (n == 0) return {ending::eof, total};
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return {ending::timeout, total};
            return {ending::reset, total};
        }
    }

private:
    bool fill() {
        char buf[65536];
        for (;;) {
            const ssize_t n = ::recv(sock_.get(), buf, sizeof buf, 0);
            if (n > 0) {
                buffered_.append(buf, static_cast<std::size_t>(n));
                return true;
            }
            if (n < 0 && errno == EINTR) continue;
            return false;
        }
    }

    program_test::fd sock_;
    std::string buffered_;
};

// The most the kernel may buffer for one TCP socket's sending side (net.ipv4.tcp_wmem's maximum), so that a test
// can send enough to be sure a non-reading client is past the server's own queue bound whatever the kernel holds.
std::size_t kernel_send_buffer_max() {
    std::ifstream f("/proc/sys/net/ipv4/tcp_wmem");
    std::size_t min = 0, def = 0, max = 0;
    if (f >> min >> def >> max && max > 0) return max;
    return std::size_t{4} << 20;
}

struct bad_arguments {
    std::vector<std::string> args; // after `serve chat`
};
std::ostream& operator<<(std::ostream& os, const bad_arguments& b) {
    os << "serve chat";
    for (const auto& a : b.args) os << " '" << a << "'";
    return os;
}

const std::vector<bad_arguments> bad_argument_cases = {
    {{"--max-line", "0"}},      {{"--max-line", "abc"}},    {{"--max-line", "-5"}},
    {{"--max-pending", "0"}},   {{"--max-pending", "x"}},   {{"--idle-timeout", "-1"}},
    {{"--idle-timeout", "soon"}}, {{"--port", "70000"}},    {{"--backend", "nope"}},
    {{"--no-such-option"}},     {{"--max-line"}},
};

} // namespace

BOOST_AUTO_TEST_SUITE(asynchat_serve_chat)

BOOST_DATA_TEST_CASE(three_clients_hello_nick_broadcast_quit, bdata::make(test_support::backends()), backend) {
    chat_server server(backend, {});
    chat_client a(server.port()), b(server.port()), c(server.port());
    const std::string name_a = a.hello(), name_b = b.hello(), name_c = c.hello();
    BOOST_TEST(name_a != name_b);
    BOOST_TEST(name_b != name_c);

    BOOST_REQUIRE(a.send("NICK alice\n"));
    BOOST_TEST(a.expect_line() == "OK alice");
    BOOST_REQUIRE(a.send("hello, room\r\n"));
    BOOST_TEST(b.expect_line() == "<alice> hello, room");
    BOOST_TEST(c.expect_line() == "<alice> hello, room");
    // Not echoed to the sender: the reply to its next command is the next thing it receives.
    BOOST_REQUIRE(a.send("NICK bad nick\n"));
    BOOST_TEST(a.expect_line() == "ERR bad nick");

    BOOST_REQUIRE(c.send("from c\n"));
    BOOST_TEST(a.expect_line() == "<" + name_c + "> from c");
    BOOST_TEST(b.expect_line() == "<" + name_c + "> from c");

    BOOST_REQUIRE(b.send("QUIT\n"));
    BOOST_TEST(b.expect_line() == "BYE");
    const auto [end, extra] = b.drain();
    BOOST_TEST(end == ending::eof);
    BOOST_TEST(extra == 0u);

    // The room goes on without b.
    BOOST_REQUIRE(a.send("still here\n"));
    BOOST_TEST(c.expect_line() == "<alice> still here");
    BOOST_REQUIRE(c.send("NICK carol\n"));
    BOOST_TEST(c.expect_line() == "OK carol");
    server.stop();
}

// QUIT with more lines behind it in the same write: BYE, the close, and none of the rest reaches the room.
BOOST_DATA_TEST_CASE(lines_after_quit_in_the_same_write_are_not_broadcast, bdata::make(test_support::backends()),
                     backend) {
    chat_server server(backend, {"--max-line", "16"});
    chat_client quitter(server.port()), other(server.port());
    quitter.hello();
    other.hello();
    BOOST_REQUIRE(quitter.send("QUIT\nnot for the room\nNICK late\n" + std::string(40, 'L') + "\nmore\n"));
    BOOST_TEST(quitter.expect_line() == "BYE");
    const auto [end, extra] = quitter.drain();
    BOOST_TEST((end == ending::eof || end == ending::reset), "the quitter's connection: " << end);
    BOOST_TEST(extra == 0u, "something came after BYE");
    // The quitter's whole write was handled before the BYE: if any of it had been broadcast, it would come
    // before this reply.
    BOOST_REQUIRE(other.send("NICK o\n"));
    BOOST_TEST(other.expect_line() == "OK o");
    server.stop();
}

// The Slow Read attack (a client that keeps its TCP window shut so that the server buffers for it): a client that
// never reads, while another sends far more than --max-pending (and than the kernel can buffer), is
// disconnected, and the others receive every line.
BOOST_DATA_TEST_CASE(slow_reader_is_disconnected_and_the_room_goes_on, bdata::make(test_support::backends()),
                     backend) {
    constexpr std::size_t max_pending = 65536;
    chat_server server(backend, {"--max-pending", std::to_string(max_pending)});
    chat_client talker(server.port()), listener(server.port());
    chat_client sleeper(server.port(), 4096); // a small receive window: the kernel holds little for it
    const std::string prefix = "<" + talker.hello() + "> ";
    listener.hello();
    sleeper.hello(); // in the room; from now on it reads nothing

    const std::string text(4000, 's');
    const std::size_t line_bytes = text.size() + 1;
    const std::size_t total = kernel_send_buffer_max() + 4 * max_pending + (1 << 20);
    std::size_t sent = 0, lines = 0;
    while (sent < total) {
        // In batches, each read by the listener before the next, so that nothing but the sleeper lags.
        for (int i = 0; i < 16; ++i) {
            BOOST_REQUIRE_MESSAGE(talker.send(text + "\n"), "the talker's send failed after " << sent << " bytes");
            sent += line_bytes;
            ++lines;
        }
        for (int i = 0; i < 16; ++i) {
            const auto l = listener.line();
            BOOST_REQUIRE_MESSAGE(l, "the listener lost the room after " << sent << " bytes");
            BOOST_REQUIRE(*l == prefix + text);
        }
    }
    const auto [end, received] = sleeper.drain();
    const std::size_t broadcast = lines * (prefix.size() + text.size() + 2);
    BOOST_TEST_MESSAGE(backend << ": the sleeper got " << received << " of " << broadcast << " bytes");
    BOOST_TEST((end == ending::eof || end == ending::reset), "the sleeper's connection: " << end);
    BOOST_TEST(received < broadcast);

    BOOST_REQUIRE(talker.send("after\n"));
    BOOST_TEST(listener.expect_line().ends_with("> after"));
    server.stop();
}

// Slow Read again, by way of the client's own commands: one that sends commands and never reads their replies
// is as slow as one that never reads the room, and the replies to it count towards --max-pending.
BOOST_DATA_TEST_CASE(client_that_never_reads_its_replies_is_disconnected, bdata::make(test_support::backends()),
                     backend) {
    constexpr std::size_t max_pending = 65536;
    chat_server server(backend, {"--max-pending", std::to_string(max_pending)});
    chat_client bystander(server.port());
    chat_client flooder(server.port(), 4096);
    bystander.hello();
    flooder.hello();
    std::string batch;
    while (batch.size() < 16384) batch += "NICK\n"; // 5 bytes in, "ERR bad nick\r\n" (14) out
    const std::size_t total = 2 * kernel_send_buffer_max() + 4 * max_pending;
    std::size_t sent = 0;
    bool refused = false;
    while (sent < total && !refused) {
        refused = !flooder.send(batch);
        sent += batch.size();
    }
    const auto [end, received] = flooder.drain();
    BOOST_TEST_MESSAGE(backend << ": sent " << sent << " bytes of commands, got " << received
                               << " bytes of replies");
    BOOST_TEST((end == ending::eof || end == ending::reset), "the flooder's connection: " << end);
    BOOST_TEST(received < sent / 5 * 14);
    BOOST_REQUIRE(bystander.send("NICK still-fine\n"));
    BOOST_TEST(bystander.expect_line() == "OK still-fine");
    server.stop();
}

// Memory exhaustion by an endless line (no delimiter ever): --max-line with the long line sent one byte per
// write. The error comes once the bound is crossed, before the line ends, exactly once; the line is dropped and
// the next line goes through.
BOOST_DATA_TEST_CASE(max_line_one_byte_at_a_time, bdata::make(test_support::backends()), backend) {
    chat_server server(backend, {"--max-line", "64"});
    chat_client writer(server.port()), reader(server.port());
    writer.hello();
    reader.hello();
    for (int i = 0; i < 65; ++i) BOOST_REQUIRE(writer.send("x"));
    BOOST_TEST(writer.expect_line() == "ERR line too long"); // no LF sent yet
    for (int i = 0; i < 200; ++i) BOOST_REQUIRE(writer.send("y"));
    BOOST_REQUIRE(writer.send("\r"));
    BOOST_REQUIRE(writer.send("\n"));
    BOOST_REQUIRE(writer.send("NICK w\n"));
    BOOST_TEST(writer.expect_line() == "OK w"); // and not a second ERR
    // Exactly 64 bytes is a line, with a CRLF ending sent byte by byte.
    const std::string at_limit(64, 'k');
    for (char ch : at_limit + "\r\n") BOOST_REQUIRE(writer.send(std::string_view(&ch, 1)));
    BOOST_TEST(reader.expect_line() == "<w> " + at_limit);
    BOOST_REQUIRE(writer.send("next\n"));
    BOOST_TEST(reader.expect_line() == "<w> next");
    server.stop();
}

// --idle-timeout 1: a client that says nothing is closed; the wait for it is the hang guard, not a sleep.
BOOST_DATA_TEST_CASE(idle_timeout_closes_a_silent_client, bdata::make(test_support::backends()), backend) {
    chat_server server(backend, {"--idle-timeout", "1"});
    chat_client silent(server.port());
    silent.hello();
    const auto [end, extra] = silent.drain();
    BOOST_TEST(end == ending::eof, "the silent client's connection: " << end);
    BOOST_TEST(extra == 0u);
    // The server is still serving.
    chat_client next(server.port());
    next.hello();
    BOOST_REQUIRE(next.send("NICK n\n"));
    BOOST_TEST(next.expect_line() == "OK n");
    server.stop();
}

BOOST_DATA_TEST_CASE(bad_arguments_exit_2, bdata::make(bad_argument_cases), bad) {
    std::vector<std::string> argv{ASYNCHAT_PATH, "serve", "chat"};
    argv.insert(argv.end(), bad.args.begin(), bad.args.end());
    child_process p(argv);
    const auto out = p.read_all();
    BOOST_TEST((out && out->empty()), "it printed to stdout (it started serving?)");
    const auto status = p.wait();
    BOOST_REQUIRE_MESSAGE(status, "still running at the hang guard");
    BOOST_TEST_REQUIRE(WIFEXITED(*status), "killed by signal " << WTERMSIG(*status));
    BOOST_TEST(WEXITSTATUS(*status) == 2);
}

BOOST_AUTO_TEST_SUITE_END()
