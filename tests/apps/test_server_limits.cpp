// The server-level limits of every `asynchat serve` command (issue 11), driven from outside as a user would, on
// every backend: idle and header (slowloris) deadlines, --max-connections, running out of descriptors under a
// lowered RLIMIT_NOFILE, the graceful drain after SIGTERM, and (label "scale") 10,000 connections held at once.
//
// Deadlines are checked with wide windows, never tight ones: a connection must be closed after a fair part of its
// deadline has passed (not at once) and before a generous bound (not never). The windows say "the deadline is the
// one that closed it", not how precise the timer is.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "program_support.hpp"
#include "http_test_util.hpp"
#include "test_support.hpp"

#ifndef ASYNCHAT_PATH
#error "ASYNCHAT_PATH must name the asynchat binary"
#endif

namespace bdata = boost::unit_test::data;
using namespace program_test;
using steady = std::chrono::steady_clock;

namespace limits_test {

double seconds_since(steady::time_point t) { return std::chrono::duration<double>(steady::now() - t).count(); }

// A server process: `asynchat serve KIND --port 0 --backend BACKEND EXTRA...`, or any argv whose first stdout
// line is "listening on HOST:PORT".
class server {
public:
    explicit server(const std::vector<std::string>& argv) : process_(argv) {
        const auto line = process_.read_line();
        BOOST_REQUIRE_MESSAGE(line, "the server printed no first line");
        port_ = parse_listening_port(*line);
    }
    static std::vector<std::string> command(const std::string& kind, const std::string& backend,
                                            const std::vector<std::string>& extra) {
        std::vector<std::string> argv{ASYNCHAT_PATH, "serve", kind, "--port", "0", "--backend", backend};
        argv.insert(argv.end(), extra.begin(), extra.end());
        return argv;
    }
    std::uint16_t port() const noexcept { return port_; }
    child_process& process() noexcept { return process_; }
    // SIGTERM, then exit status 0 within `within`.
    void stop(std::chrono::milliseconds within = hang_guard) {
        process_.send_signal(SIGTERM);
        require_exit_0(within);
    }
    void require_exit_0(std::chrono::milliseconds within = hang_guard) {
        const auto status = process_.wait(within);
        BOOST_REQUIRE_MESSAGE(status, "the server still runs " << within.count() << " ms after SIGTERM");
        BOOST_TEST_REQUIRE(WIFEXITED(*status), "the server was killed by signal " << WTERMSIG(*status));
        BOOST_TEST(WEXITSTATUS(*status) == 0);
    }

private:
    child_process process_;
    std::uint16_t port_ = 0;
};

// A document root with one large file, for responses that stay in flight.
struct big_site {
    http_test::temp_dir dir;
    std::string big = binary_payload(8u << 20);
    big_site() { dir.write("big.bin", big); }
    std::string root() const { return dir.path().string(); }
};

// A connect that may fail: the socket, or the errno.
struct attempt {
    fd sock;
    int error = 0;
};
attempt try_connect(std::uint16_t port) {
    attempt a{fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)), 0};
    BOOST_REQUIRE(a.sock);
    timeval tv{static_cast<time_t>(hang_guard.count() / 1000), 0};
    ::setsockopt(a.sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(a.sock.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc;
    do rc = ::connect(a.sock.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) a.error = errno;
    return a;
}

// Connects until the connection is refused: the server has closed its listener. A connect that still succeeds
// (the listener not yet closed) is dropped and tried again.
bool refused_within(std::uint16_t port, std::chrono::milliseconds limit) {
    const auto deadline = steady::now() + limit;
    while (steady::now() < deadline) {
        if (try_connect(port).error == ECONNREFUSED) return true;
        ::usleep(10000);
    }
    return false;
}

// True when one line sent comes back echoed.
bool echoes(int sock, const std::string& line = "ping\r\n") {
    if (!send_all(sock, line)) return false;
    return recv_exact(sock, line.size()) == line;
}

// What one process has used of the CPU (user + system), from /proc/PID/stat.
double cpu_seconds(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
    std::istringstream rest(stat.substr(stat.rfind(')') + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
    }
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// Resident set of a process in KiB, from /proc/PID/status.
long rss_kib(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
    return -1;
}

// One CRLF-terminated line (empty at EOF or the socket's timeout).
std::string recv_line(int sock) {
    std::string line;
    while (!line.ends_with("\r\n")) {
        const std::string got = recv_exact(sock, 1);
        if (got.empty()) return {};
        line += got;
    }
    return line;
}

const std::string get_big = "GET /big.bin HTTP/1.0\r\n\r\n";

} // namespace limits_test

using namespace limits_test;

// ---------------------------------------------------------------- timeouts

BOOST_AUTO_TEST_SUITE(timeouts)

// serve echo --idle-timeout: a silent connection is closed at its deadline; one that keeps talking is not.
BOOST_DATA_TEST_CASE(echo_idle_timeout_closes_a_silent_client, bdata::make(test_support::backends()), backend) {
    server s(server::command("echo", backend, {"--idle-timeout", "1"}));
    fd talker = connect_loopback(s.port());
    const auto opened = steady::now();
    fd silent = connect_loopback(s.port());
    // The talker speaks every 250 ms for twice the deadline: each echo is traffic, so it must stay open.
    while (seconds_since(opened) < 2.0) {
        BOOST_REQUIRE(echoes(talker.get()));
        if (readable_within(silent.get(), std::chrono::milliseconds(250))) break;
    }
    const auto r = recv_to_end(silent.get());
    const double closed_after = seconds_since(opened);
    BOOST_TEST((r.end == ending::eof), "the silent client was not closed");
    BOOST_TEST(r.data.empty());
    BOOST_TEST(closed_after > 0.5, "closed after " << closed_after << " s: before its deadline");
    BOOST_TEST(closed_after < 15.0, "closed after " << closed_after << " s");
    BOOST_TEST(echoes(talker.get()), "the talking client was closed too");
    s.stop();
}

// Slowloris: a request line and headers dribbled one byte at a time, each byte soon enough to keep the idle
// timer content forever. The header deadline (--header-timeout) answers 408 and closes, counted from the first
// byte; a client whose requests are whole is not touched by it, however long its connection lives.
// --max-headers binds the request parser's max_header_lines: past it the request gets 431 and the connection closes.
BOOST_AUTO_TEST_CASE(http_max_headers_refuses_one_header_line_too_many) {
    big_site site;
    server s(server::command("http", test_support::backends().front(), {"--root", site.root(), "--max-headers", "2"}));
    fd ok = connect_loopback(s.port());
    BOOST_REQUIRE(send_all(ok.get(), "HEAD /big.bin HTTP/1.0\r\nHost: x\r\nA: 1\r\n\r\n"));
    BOOST_TEST(recv_to_end(ok.get()).data.starts_with("HTTP/1.0 200 "));
    fd over = connect_loopback(s.port());
    BOOST_REQUIRE(send_all(over.get(), "HEAD /big.bin HTTP/1.0\r\nHost: x\r\nA: 1\r\nB: 2\r\n\r\n"));
    const received r = recv_to_end(over.get());
    BOOST_TEST(r.data.starts_with("HTTP/1.0 431 "), r.data);
    BOOST_TEST(r.end == ending::eof);
    s.stop();
}

BOOST_DATA_TEST_CASE(http_header_timeout_stops_slowloris, bdata::make(test_support::backends()), backend) {
    big_site site;
    server s(server::command("http", backend,
                             {"--root", site.root(), "--header-timeout", "1", "--idle-timeout", "60"}));
    fd normal = connect_loopback(s.port());
    fd slow = connect_loopback(s.port());
    const std::string dribble = "GET /big.bin HTTP/1.1\r\nHost: x\r\nX-Padding: " + std::string(200, 'a') + "\r\n";
    const auto first_byte = steady::now();
    bool answered = false;
    for (std::size_t i = 0; i < dribble.size() && !answered; ++i) {
        BOOST_REQUIRE(send_all(slow.get(), dribble.substr(i, 1)));
        // Paced by a wait for the answer: the server's 408 ends the dribble at once.
        answered = readable_within(slow.get(), std::chrono::milliseconds(100));
        if (i % 5 == 0) {
            // Meanwhile whole requests on a keep-alive connection, over several header deadlines.
            BOOST_REQUIRE(send_all(normal.get(), "HEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"));
            std::string head;
            while (head.find("\r\n\r\n") == std::string::npos) {
                const std::string got = recv_exact(normal.get(), 1);
                BOOST_REQUIRE_MESSAGE(!got.empty(), "the normal client was closed: " << head);
                head += got;
            }
            BOOST_TEST(head.starts_with("HTTP/1.0 200 OK\r\n"), head);
        }
    }
    BOOST_REQUIRE_MESSAGE(answered, "the whole dribble went through without an answer");
    const auto r = recv_to_end(slow.get());
    const double after = seconds_since(first_byte);
    BOOST_TEST(r.data.starts_with("HTTP/1.0 408 Request Timeout\r\n"), r.data);
    BOOST_TEST((r.end == ending::eof));
    BOOST_TEST(after > 0.5, "408 after " << after << " s: before its deadline");
    BOOST_TEST(after < 15.0, "408 after " << after << " s");
    // And the normal client goes on, across more header deadlines (whole requests, 300 ms apart).
    for (int i = 0; i < 8; ++i) {
        BOOST_TEST(!readable_within(normal.get(), std::chrono::milliseconds(300)), "the normal client was closed");
        BOOST_REQUIRE(send_all(normal.get(), "HEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"));
        std::string head;
        while (head.find("\r\n\r\n") == std::string::npos) {
            const std::string got = recv_exact(normal.get(), 1);
            BOOST_REQUIRE_MESSAGE(!got.empty(), "the normal client was closed: " << head);
            head += got;
        }
        BOOST_TEST(head.starts_with("HTTP/1.0 200 OK\r\n"), head);
    }
    s.stop();
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------- connections and descriptors

BOOST_AUTO_TEST_SUITE(connections)

struct protocol_case {
    std::string kind;
    std::string over_capacity_reply_prefix; // what the refused client reads before EOF
};
std::ostream& operator<<(std::ostream& os, const protocol_case& c) { return os << c.kind; }

const std::vector<protocol_case> protocols{{"echo", ""},
                                           {"chat", "ERR server full\r\n"},
                                           {"http", "HTTP/1.0 503 Service Unavailable\r\n"},
                                           {"smtp", "421 localhost Service not available"}};

// One served connection of a protocol: proves it is being served (and, for chat and SMTP, takes the greeting).
bool served(const std::string& kind, int sock) {
    if (kind == "echo") return echoes(sock);
    if (kind == "smtp") return recv_line(sock).starts_with("220 ");
    if (kind == "chat") {
        const std::string hello = recv_exact(sock, 15); // "HELLO guest-N\r\n", N one digit in these tests
        return hello.starts_with("HELLO guest-");
    }
    if (!send_all(sock, "HEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")) return false;
    std::string head;
    while (head.find("\r\n\r\n") == std::string::npos) {
        const std::string got = recv_exact(sock, 1);
        if (got.empty()) return false;
        head += got;
    }
    return head.starts_with("HTTP/1.0 200 OK\r\n");
}

// Still served after being served once: echo and HTTP answer again, chat relays nothing but stays open.
bool still_served(const std::string& kind, int sock) {
    if (kind == "smtp") return send_all(sock, "NOOP\r\n") && recv_line(sock) == "250 OK\r\n";
    if (kind == "chat") return send_all(sock, "NICK still\n") && recv_exact(sock, 10) == "OK still\r\n";
    return served(kind, sock);
}

// --max-connections N: the N+1th connection gets the protocol's busy reply and EOF, the N open ones go on, and
// once one of them closes a new connection is served again.
BOOST_DATA_TEST_CASE(max_connections_refuses_the_one_too_many,
                     bdata::make(test_support::backends()) * bdata::make(protocols), backend, proto) {
    big_site site;
    std::vector<std::string> extra{"--max-connections", "3"};
    if (proto.kind == "http") extra.insert(extra.end(), {"--root", site.root()});
    if (proto.kind == "smtp") extra.insert(extra.end(), {"--maildir", (site.dir.path() / "mail").string()});
    server s(server::command(proto.kind, backend, extra));
    std::vector<fd> open;
    for (int i = 0; i < 3; ++i) {
        open.push_back(connect_loopback(s.port()));
        BOOST_REQUIRE_MESSAGE(served(proto.kind, open.back().get()), "connection " << i + 1 << " was not served");
    }
    fd extra_one = connect_loopback(s.port());
    if (proto.kind == "http") BOOST_REQUIRE(send_all(extra_one.get(), "GET /big.bin HTTP/1.0\r\n\r\n"));
    const auto r = recv_to_end(extra_one.get());
    BOOST_TEST((r.end == ending::eof), "the fourth connection was not closed");
    BOOST_TEST(r.data.starts_with(proto.over_capacity_reply_prefix), r.data);
    if (proto.over_capacity_reply_prefix.empty()) BOOST_TEST(r.data.empty(), r.data);
    for (auto& c : open) BOOST_TEST(still_served(proto.kind, c.get()));

    open.front().reset();
    // The server learns of the close in a pass of its own: until then a newcomer may still be one too many.
    bool admitted = false;
    for (const auto deadline = steady::now() + hang_guard; !admitted && steady::now() < deadline;) {
        auto again = try_connect(s.port());
        BOOST_REQUIRE(again.error == 0);
        admitted = served(proto.kind, again.sock.get());
        if (admitted) open.push_back(std::move(again.sock));
        else ::usleep(20000);
    }
    BOOST_TEST(admitted, "no connection was served after one of the three closed");
    s.stop();
}

// Running out of descriptors (EMFILE under `prlimit --nofile=64`): the listener must neither spin (a level-
// triggered poller reports the waiting connection again and again), nor close (Python's default handle_error),
// nor stop the connections it has from being served. New connections are closed unserved, one log line says so
// per burst, and the listener serves again as soon as descriptors free up.
//
// The CPU figure is a busy-loop detector, not a timing threshold: a loop that spins on the listener burns the
// window's CPU (about 2 s alone; still 0.8 to 1.3 s measured on the shared 2-core test machine with the headroom
// and the reserve switched off), one that waits next to nothing (0 to 0.02 s measured, sanitizers on). The bound,
// 0.3 s, sits far from both, so neither a slow machine nor a sanitizer's overhead moves the verdict.
BOOST_DATA_TEST_CASE(out_of_descriptors_neither_spins_nor_stops_listening, bdata::make(test_support::backends()),
                     backend) {
    if (::access("/usr/bin/prlimit", X_OK) != 0) {
        BOOST_TEST_MESSAGE("prlimit is not installed: skipped");
        BOOST_TEST(true);
        return;
    }
    // stderr (where the server logs) goes to the pipe the test reads, after the "listening on" line.
    const std::string cmd = "exec /usr/bin/prlimit --nofile=64:64 -- " + std::string(ASYNCHAT_PATH) +
                            " serve echo --port 0 --backend " + backend + " 2>&1";
    server s({"/bin/sh", "-c", cmd});
    const std::string log_line = "out of file descriptors accepting on";

    // One burst: connect until the server runs out, and tell served connections from refused ones.
    std::vector<fd> kept;
    const auto fill = [&] {
        std::size_t refused = 0;
        for (int i = 0; i < 100 && refused < 8; ++i) {
            fd c = connect_loopback(s.port());
            if (echoes(c.get()))
                kept.push_back(std::move(c));
            else
                ++refused; // closed unserved: EOF, or a reset for the bytes sent to it
        }
        return refused;
    };
    BOOST_REQUIRE_MESSAGE(fill() > 0, "100 connections and none refused under a limit of 64 descriptors");
    BOOST_TEST(kept.size() > 20u);
    const auto line = s.process().read_line();
    BOOST_REQUIRE(line);
    BOOST_TEST(line->find(log_line) != std::string::npos, *line);

    // Saturated, with a refused client knocking ten times a second (each knock costs the server one accept and
    // one close; a flood of them would measure that work, not a spin): the loop must be waiting, not spinning.
    const double cpu_before = cpu_seconds(s.process().pid());
    const auto window = steady::now();
    for (auto next = window; seconds_since(window) < 2.0; next += std::chrono::milliseconds(100)) {
        auto knock = try_connect(s.port());
        if (knock.error == 0) readable_within(knock.sock.get(), std::chrono::milliseconds(100));
        std::this_thread::sleep_until(next + std::chrono::milliseconds(100));
    }
    const double cpu_used = cpu_seconds(s.process().pid()) - cpu_before;
    BOOST_TEST_MESSAGE(backend << ": " << cpu_used << " s of CPU in 2 s of saturation");
    BOOST_TEST(cpu_used < 0.3, cpu_used << " s of CPU in 2 s of saturation: the accept path spins");
    for (auto& c : kept) BOOST_TEST_REQUIRE(echoes(c.get()), "a connection served before the burst is lost");

    // Descriptors free up: the listener serves again (it was not closed), and the next burst logs once more.
    for (int i = 0; i < 10; ++i) kept.pop_back();
    bool served_again = false;
    for (const auto deadline = steady::now() + hang_guard; !served_again && steady::now() < deadline;) {
        fd c = connect_loopback(s.port());
        served_again = echoes(c.get());
        if (served_again) kept.push_back(std::move(c));
    }
    BOOST_REQUIRE_MESSAGE(served_again, "the listener did not serve again once descriptors were free");
    BOOST_REQUIRE(fill() > 0);

    kept.clear();
    s.process().send_signal(SIGTERM);
    const auto rest = s.process().read_all();
    BOOST_REQUIRE(rest);
    std::size_t lines = 0;
    for (std::size_t at = rest->find(log_line); at != std::string::npos; at = rest->find(log_line, at + 1)) ++lines;
    BOOST_TEST(lines == 1u, "one more line for the second burst, got:\n" << *rest);
    s.require_exit_0();
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------- graceful shutdown

BOOST_AUTO_TEST_SUITE(graceful_shutdown)

// SIGTERM while a large response is in flight to a slow reader: the listener closes at once (a newcomer is
// refused), the response arrives whole, and the process exits 0 once it is sent.
BOOST_DATA_TEST_CASE(a_response_in_flight_is_finished, bdata::make(test_support::backends()), backend) {
    big_site site;
    server s(server::command("http", backend, {"--root", site.root(), "--shutdown-timeout", "30"}));
    fd reader = connect_loopback(s.port(), 16384);
    BOOST_REQUIRE(send_all(reader.get(), get_big));
    std::string got = recv_exact(reader.get(), 65536);
    BOOST_REQUIRE(got.size() == 65536u);
    s.process().send_signal(SIGTERM);
    BOOST_TEST(refused_within(s.port(), hang_guard), "the listener is still open after SIGTERM");
    const auto rest = recv_to_end(reader.get());
    got += rest.data;
    BOOST_TEST((rest.end == ending::eof));
    const auto body_at = got.find("\r\n\r\n");
    BOOST_REQUIRE(body_at != std::string::npos);
    BOOST_TEST(got.substr(0, body_at).find("Content-Length: 8388608") != std::string::npos);
    BOOST_TEST(got.size() - body_at - 4 == site.big.size());
    BOOST_TEST((got.compare(body_at + 4, std::string::npos, site.big) == 0), "the body differs from the file");
    s.require_exit_0();
}

// A client that never reads holds the drain up only until --shutdown-timeout: then it is cut off and the process
// exits 0. An idle keep-alive connection and a chat member are closed by the drain itself, the member with a word.
BOOST_DATA_TEST_CASE(a_client_that_never_reads_is_cut_off_at_the_timeout, bdata::make(test_support::backends()),
                     backend) {
    big_site site;
    server s(server::command("http", backend, {"--root", site.root(), "--shutdown-timeout", "1"}));
    fd idle = connect_loopback(s.port());
    BOOST_REQUIRE(send_all(idle.get(), "HEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"));
    BOOST_REQUIRE(readable_within(idle.get(), hang_guard));
    fd stuck = connect_loopback(s.port(), 4096);
    BOOST_REQUIRE(send_all(stuck.get(), get_big));
    BOOST_REQUIRE(readable_within(stuck.get(), hang_guard)); // the response has begun
    const auto signalled = steady::now();
    s.process().send_signal(SIGTERM);
    const auto idle_end = recv_to_end(idle.get());
    BOOST_TEST((idle_end.end == ending::eof), "the idle keep-alive connection was not closed by the drain");
    const auto status = s.process().wait(hang_guard);
    const double after = seconds_since(signalled);
    BOOST_REQUIRE_MESSAGE(status, "still running after SIGTERM with --shutdown-timeout 1");
    BOOST_TEST(WIFEXITED(*status));
    BOOST_TEST(WEXITSTATUS(*status) == 0);
    BOOST_TEST(after > 0.5, "exited " << after << " s after SIGTERM: it did not wait for the stuck client");
    BOOST_TEST(after < 15.0, "exited " << after << " s after SIGTERM");
    const auto cut = recv_to_end(stuck.get());
    BOOST_TEST(cut.data.size() < site.big.size(), "the stuck client got everything");
}

// SMTP stopped in the middle of DATA: the listener closes, the message already on its way is received, stored and
// acknowledged (250 only once it is in the Maildir), then 421 and the close; the process exits 0.
BOOST_DATA_TEST_CASE(smtp_finishes_the_message_in_flight, bdata::make(test_support::backends()), backend) {
    http_test::temp_dir dir;
    const auto maildir = dir.path() / "mail";
    server s(server::command("smtp", backend, {"--maildir", maildir.string()}));
    fd client = connect_loopback(s.port());
    BOOST_REQUIRE(recv_line(client.get()).starts_with("220 "));
    BOOST_REQUIRE(send_all(client.get(), "HELO me\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"));
    for (int i = 0; i < 3; ++i) BOOST_REQUIRE(recv_line(client.get()).starts_with("250"));
    BOOST_REQUIRE(recv_line(client.get()).starts_with("354"));
    BOOST_REQUIRE(send_all(client.get(), "Subject: stopped\r\n\r\nfirst half\r\n"));
    s.process().send_signal(SIGTERM);
    BOOST_TEST(refused_within(s.port(), hang_guard), "the listener is still open after SIGTERM");
    BOOST_REQUIRE(send_all(client.get(), "second half\r\n.\r\n"));
    const std::string ack = recv_line(client.get());
    BOOST_TEST(ack.starts_with("250 "), ack);
    // The 250 came after the store: the message is in new/ already.
    std::size_t stored = 0;
    for (const auto& entry : std::filesystem::directory_iterator(maildir / "new")) {
        std::ifstream in(entry.path());
        const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        BOOST_TEST(content.ends_with("Subject: stopped\r\n\r\nfirst half\r\nsecond half\r\n"), content);
        ++stored;
    }
    BOOST_TEST(stored == 1u);
    const auto rest = recv_to_end(client.get());
    BOOST_TEST(rest.data.starts_with("421 localhost Service not available"), rest.data);
    BOOST_TEST((rest.end == ending::eof));
    s.require_exit_0();
}

BOOST_DATA_TEST_CASE(chat_members_are_told_bye, bdata::make(test_support::backends()), backend) {
    server s(server::command("chat", backend, {}));
    fd member = connect_loopback(s.port());
    BOOST_REQUIRE(recv_exact(member.get(), 15).starts_with("HELLO guest-"));
    s.process().send_signal(SIGTERM);
    const auto r = recv_to_end(member.get());
    BOOST_TEST(r.data == "BYE server shutting down\r\n");
    BOOST_TEST((r.end == ending::eof));
    s.require_exit_0();
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------- scale

BOOST_AUTO_TEST_SUITE(scale, *boost::unit_test::label("scale"))

// 10,000 connections held at once (1,000 on select, whose fd_set stops at 1024), each echoing one line while all
// are open. The test raises its own RLIMIT_NOFILE to the hard limit; the server inherits it.
BOOST_DATA_TEST_CASE(ten_thousand_connections_held_and_served, bdata::make(test_support::backends()), backend) {
    const std::size_t n = backend == "select" ? 1000 : 10000;
    const rlim_t limit = test_support::raise_fd_limit();
    // Each process needs n descriptors and a few: the server also keeps its listener's headroom free.
    if (limit < n + 64) {
        BOOST_TEST_MESSAGE("RLIMIT_NOFILE hard limit " << limit << " is too low for " << n << " connections: skipped");
        BOOST_TEST(true);
        return;
    }
    server s(server::command("echo", backend, {"--max-connections", std::to_string(n)}));
    const long rss_before = rss_kib(s.process().pid());
    std::vector<fd> clients;
    clients.reserve(n);
    const auto start = steady::now();
    for (std::size_t i = 0; i < n; ++i) clients.push_back(connect_loopback(s.port()));
    const double connected = seconds_since(start);
    for (auto& c : clients) BOOST_REQUIRE(send_all(c.get(), "ping\r\n"));
    std::size_t echoed = 0;
    for (auto& c : clients) echoed += recv_exact(c.get(), 6) == "ping\r\n";
    const double all_echoed = seconds_since(start);
    BOOST_TEST(echoed == n);
    const long rss_after = rss_kib(s.process().pid());
    BOOST_TEST_MESSAGE(backend << ": " << n << " connections made in " << connected << " s, all echoed after "
                               << all_echoed << " s; server RSS " << rss_before << " -> " << rss_after << " KiB ("
                               << (rss_after - rss_before) * 1024 / static_cast<long>(n) << " bytes per connection)");
    // Every one of them is still open and served.
    BOOST_TEST(echoes(clients.front().get()));
    BOOST_TEST(echoes(clients.back().get()));
    clients.clear();
    s.stop();
}

BOOST_AUTO_TEST_SUITE_END()
