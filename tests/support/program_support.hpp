#pragma once
// Helpers for driving the example programs from the outside: a child process whose stdout we read, and plain
// blocking POSIX sockets for the other end of the conversation. Everything here waits against a deadline, so a
// broken example fails its test instead of hanging the suite.
#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <spawn.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace program_test {

using namespace std::chrono_literals;

// The hang guard for every wait: far beyond what a healthy run needs even under sanitizers on a loaded machine.
inline constexpr std::chrono::milliseconds hang_guard = 20s;

// An owned file descriptor.
class fd {
public:
    fd() noexcept = default;
    explicit fd(int f) noexcept : fd_(f) {}
    fd(fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    fd& operator=(fd&& o) noexcept;
    ~fd();
    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    void reset() noexcept;

private:
    int fd_ = -1;
};

// A child process running argv[0] (a path) with its stdout on a pipe; stdin and stderr are inherited, so sanitizer
// reports from the child land in the test log. The destructor kills and reaps a child still running, so a failed
// assertion leaves no stray process behind.
class child_process {
public:
    explicit child_process(const std::vector<std::string>& argv);
    ~child_process();
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    pid_t pid() const noexcept { return pid_; }
    // wait() has seen it exit.
    bool reaped() const noexcept { return reaped_; }
    // The next '\n'-terminated line of stdout, without the '\n'; nothing at EOF or when the deadline passes first.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout = hang_guard);
    // The rest of stdout, up to EOF; nothing when the deadline passes first.
    std::optional<std::string> read_all(std::chrono::milliseconds timeout = hang_guard);
    void send_signal(int sig);
    // The wait status (as waitpid gives it) once the child has exited; nothing if it is still running at the
    // deadline.
    std::optional<int> wait(std::chrono::milliseconds timeout = hang_guard);

private:
    // Appends what stdout has to buffered_; false at EOF or when the deadline passes.
    bool fill(std::chrono::steady_clock::time_point deadline);

    pid_t pid_ = -1;
    bool reaped_ = false;
    fd out_;
    std::string buffered_;
};

// A server command (`asynchat serve ...` with --port 0) running as a child, and the port its first line announced.
class serve_process {
public:
    explicit serve_process(const std::vector<std::string>& argv);
    std::uint16_t port() const noexcept { return port_; }
    child_process& process() noexcept { return process_; }
    // SIGTERM, then exit status 0 required: a sanitizer report or a crash in the server fails the test whose
    // traffic provoked it rather than going unnoticed when the destructor kills the server.
    void stop();

private:
    child_process process_;
    std::uint16_t port_;
};

// A blocking TCP socket connected to 127.0.0.1:port, with TCP_NODELAY (so that 1-byte writes travel as 1-byte
// segments) and send/receive timeouts of hang_guard. Fails the test (BOOST_REQUIRE) if the connect fails.
// A non-zero receive_buffer sets SO_RCVBUF before connecting, which caps the window the peer may fill.
fd connect_loopback(std::uint16_t port, int receive_buffer = 0);
// The port of a server's first stdout line, "listening on 127.0.0.1:PORT"; fails the test on anything else.
std::uint16_t parse_listening_port(const std::string& line);
// Spawn attributes that give a child default signal handling and an empty mask: the test runner's signal state
// (a blocked or ignored SIGTERM) must not leak into the program under test. Destroy with posix_spawnattr_destroy.
void init_child_signal_attributes(posix_spawnattr_t& attr);
// A blocking TCP socket listening on 127.0.0.1 on a free port, with its port.
std::pair<fd, std::uint16_t> listen_loopback();
// A socket bound to a free loopback port but not listening, so that connecting to the port is refused; the port is
// held (and so not reused by anyone else) for as long as the socket lives.
std::pair<fd, std::uint16_t> refusing_port();
std::uint16_t local_port(int sock);

// How a connection's input ended for a test: the peer closed (EOF), reset it, or nothing came within the socket's
// receive timeout.
enum class ending { eof, reset, timeout };
std::ostream& operator<<(std::ostream& os, ending e);

struct received {
    std::string data;
    ending end = ending::timeout;
};
// Everything the peer sends until it closes the connection, resets it, or the socket's receive timeout passes.
// Any other receive error fails the test.
received recv_to_end(int sock);

// True when something (bytes, EOF or an error) is ready to be received within `wait`.
bool readable_within(int sock, std::chrono::milliseconds wait);

// Sends all of data; false on any error.
bool send_all(int sock, std::string_view data);
// Receives until n bytes have arrived, EOF, an error or the socket's timeout: returns what arrived.
std::string recv_exact(int sock, std::size_t n);
// True when the next recv reports an orderly EOF (0), within the socket's timeout.
bool recv_eof(int sock);

// A program run to completion: its wait status (as waitpid gives it) and what it wrote.
struct command_result {
    int status = 0;
    std::string out;
    std::string err;
};
// Runs argv (argv[0] a path, or a name looked up in PATH) with stdin from /dev/null and stdout and stderr
// captured separately. A program still running at the timeout (one that took bad arguments and started serving,
// say) is killed and fails the test.
command_result run_program(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = hang_guard);
// The exit status of a command that exited; 128 + the signal for one that was killed.
int exit_code(const command_result& r);
// True when name is an executable in PATH: a test of an optional tool (curl, swaks, openssl) skips without it.
bool on_path(const std::string& name);

// n bytes beginning with every byte value (\0, \r and \n included), then bytes that do not repeat with any short
// period, so that a dropped, duplicated or reordered chunk shows as a mismatch.
std::string binary_payload(std::size_t n);

// In a test case: skip it (one message, and a passing check so Boost.Test does not call it empty) when the
// command-line tool `name` is not in PATH.
#define REQUIRE_TOOL(name)                                                                                      \
    if (!program_test::on_path(name)) {                                                                         \
        BOOST_TEST_MESSAGE(name " is not installed: skipped");                                                  \
        BOOST_TEST(true);                                                                                       \
        return;                                                                                                 \
    }

} // namespace program_test
