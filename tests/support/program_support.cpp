#include "program_support.hpp"

#include <charconv>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <csignal>
#include <cstring>
#include <system_error>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

extern char** environ;

namespace program_test {

namespace {

using steady = std::chrono::steady_clock;

int remaining_ms(steady::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
    return static_cast<int>(std::clamp<long long>(left, 0, 60'000));
}

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

// Every socket the tests make is close-on-exec: a copy inherited by a spawned example would keep a connection
// open after the test closed it, and the example would then wait for an EOF that never comes.
fd tcp_socket() {
    fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    BOOST_REQUIRE_MESSAGE(s, "socket: " << std::strerror(errno));
    return s;
}

void set_timeouts(int sock) {
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(hang_guard).count();
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(secs);
    BOOST_REQUIRE(::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
    BOOST_REQUIRE(::setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0);
}

} // namespace

fd& fd::operator=(fd&& o) noexcept {
    if (this != &o) {
        reset();
        fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
}

fd::~fd() { reset(); }

void fd::reset() noexcept {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

child_process::child_process(const std::vector<std::string>& argv) {
    BOOST_REQUIRE(!argv.empty());
    int pipe_fds[2];
    BOOST_REQUIRE_MESSAGE(::pipe2(pipe_fds, O_CLOEXEC) == 0, "pipe2: " << std::strerror(errno));
    out_ = fd(pipe_fds[0]);
    fd write_end(pipe_fds[1]);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    // dup2 clears close-on-exec on the copy, so only fd 1 reaches the child.
    posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);

    // The test runner's signal state must not leak into the child: a blocked or ignored SIGTERM would make the
    // shutdown test measure the runner rather than the example.
    posix_spawnattr_t attr;
    init_child_signal_attributes(attr);

    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, args[0], &actions, &attr, args.data(), environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    BOOST_REQUIRE_MESSAGE(rc == 0, "posix_spawn " << argv[0] << ": " << std::strerror(rc));
}

child_process::~child_process() {
    if (pid_ > 0 && !reaped_) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
    }
}

bool child_process::fill(steady::time_point deadline) {
    if (!out_) return false;
    for (;;) {
        pollfd p{out_.get(), POLLIN, 0};
        const int n = ::poll(&p, 1, remaining_ms(deadline));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false; // deadline (or a poll failure, which the caller reports the same way)
        char buf[65536];
        const ssize_t got = ::read(out_.get(), buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            out_.reset();
            return false;
        }
        buffered_.append(buf, static_cast<std::size_t>(got));
        return true;
    }
}

std::optional<std::string> child_process::read_line(std::chrono::milliseconds timeout) {
    const auto deadline = steady::now() + timeout;
    for (;;) {
        if (const auto nl = buffered_.find('\n'); nl != std::string::npos) {
            std::string line = buffered_.substr(0, nl);
            buffered_.erase(0, nl + 1);
            return line;
        }
        if (!fill(deadline)) return std::nullopt;
    }
}

std::optional<std::string> child_process::read_all(std::chrono::milliseconds timeout) {
    const auto deadline = steady::now() + timeout;
    while (fill(deadline)) {
    }
    if (out_) return std::nullopt; // still open: the deadline passed
    return std::exchange(buffered_, {});
}

void child_process::send_signal(int sig) {
    BOOST_REQUIRE(pid_ > 0 && !reaped_);
    BOOST_REQUIRE_MESSAGE(::kill(pid_, sig) == 0, "kill: " << std::strerror(errno));
}

std::optional<int> child_process::wait(std::chrono::milliseconds timeout) {
    const auto deadline = steady::now() + timeout;
    for (;;) {
        int status = 0;
        const pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            reaped_ = true;
            return status;
        }
        if (r < 0 && errno != EINTR) {
            BOOST_FAIL("waitpid: " << std::strerror(errno));
        }
        if (steady::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(5ms);
    }
}

fd connect_loopback(std::uint16_t port, int receive_buffer) {
    fd s = tcp_socket();
    const int one = 1;
    BOOST_REQUIRE(::setsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0);
    if (receive_buffer > 0)
        BOOST_REQUIRE(::setsockopt(s.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer) == 0);
    set_timeouts(s.get());
    const auto sa = loopback(port);
    int rc;
    do {
        rc = ::connect(s.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
    } while (rc < 0 && errno == EINTR);
    BOOST_REQUIRE_MESSAGE(rc == 0, "connect 127.0.0.1:" << port << ": " << std::strerror(errno));
    return s;
}

std::uint16_t local_port(int sock) {
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    BOOST_REQUIRE(::getsockname(sock, reinterpret_cast<sockaddr*>(&sa), &len) == 0);
    return ntohs(sa.sin_port);
}

std::pair<fd, std::uint16_t> listen_loopback() {
    auto [s, port] = refusing_port();
    BOOST_REQUIRE(::listen(s.get(), 8) == 0);
    return {std::move(s), port};
}

std::pair<fd, std::uint16_t> refusing_port() {
    fd s = tcp_socket();
    const auto sa = loopback(0);
    BOOST_REQUIRE(::bind(s.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0);
    const auto port = local_port(s.get());
    return {std::move(s), port};
}

bool send_all(int sock, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::send(sock, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

std::string recv_exact(int sock, std::size_t n) {
    std::string out(n, '\0');
    std::size_t got = 0;
    while (got < n) {
        const ssize_t r = ::recv(sock, out.data() + got, n - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += static_cast<std::size_t>(r);
    }
    out.resize(got);
    return out;
}

serve_process::serve_process(const std::vector<std::string>& argv) : process_(argv), port_(0) {
    const auto line = process_.read_line();
    BOOST_REQUIRE_MESSAGE(line, "asynchat printed no first line");
    port_ = parse_listening_port(*line);
}

void serve_process::stop() {
    process_.send_signal(SIGTERM);
    const auto status = process_.wait();
    BOOST_REQUIRE_MESSAGE(status, "asynchat still running " << hang_guard.count() << " ms after SIGTERM");
    BOOST_TEST_REQUIRE(WIFEXITED(*status), "asynchat was killed by signal " << WTERMSIG(*status));
    BOOST_TEST(WEXITSTATUS(*status) == 0);
}

std::ostream& operator<<(std::ostream& os, ending e) {
    return os << (e == ending::eof ? "EOF" : e == ending::reset ? "connection reset" : "receive timeout");
}

received recv_to_end(int sock) {
    received r;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::recv(sock, buf, sizeof buf, 0);
        if (n > 0) {
            r.data.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (n == 0) {
            r.end = ending::eof;
            return r;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return r;
        BOOST_REQUIRE_MESSAGE(errno == ECONNRESET, "recv: " << std::strerror(errno));
        r.end = ending::reset;
        return r;
    }
}

bool readable_within(int sock, std::chrono::milliseconds wait) {
    pollfd p{sock, POLLIN, 0};
    int n;
    do {
        n = ::poll(&p, 1, static_cast<int>(wait.count()));
    } while (n < 0 && errno == EINTR);
    return n > 0;
}

bool recv_eof(int sock) {
    char c;
    ssize_t r;
    do {
        r = ::recv(sock, &c, 1, 0);
    } while (r < 0 && errno == EINTR);
    return r == 0;
}

std::string binary_payload(std::size_t n) {
    std::string out(n, '\0');
    // Every byte value first, then the top byte of a full-period LCG modulo 2^32, which has no short repeat.
    std::uint32_t x = 12345;
    for (std::size_t i = 0; i < n; ++i) {
        x = x * 1664525u + 1013904223u;
        out[i] = static_cast<char>(i < 256 ? i : x >> 24);
    }
    return out;
}

void init_child_signal_attributes(posix_spawnattr_t& attr) {
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}

std::uint16_t parse_listening_port(const std::string& line) {
    const std::string_view prefix = "listening on 127.0.0.1:";
    BOOST_REQUIRE_MESSAGE(line.starts_with(prefix), "first stdout line was '" << line << "'");
    const char* first = line.data() + prefix.size();
    const char* last = line.data() + line.size();
    unsigned port = 0;
    const auto [end, ec] = std::from_chars(first, last, port);
    BOOST_REQUIRE_MESSAGE(ec == std::errc{} && end == last && port > 0 && port <= 65535,
                          "no port in '" << line << "'");
    return static_cast<std::uint16_t>(port);
}

int exit_code(const command_result& r) {
    return WIFEXITED(r.status) ? WEXITSTATUS(r.status) : 128 + WTERMSIG(r.status);
}

bool on_path(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::string_view dirs = path ? path : "/usr/bin:/bin";
    while (!dirs.empty()) {
        const auto colon = dirs.find(':');
        const std::string candidate = std::string(dirs.substr(0, colon)) + "/" + name;
        if (::access(candidate.c_str(), X_OK) == 0) return true;
        if (colon == std::string_view::npos) break;
        dirs.remove_prefix(colon + 1);
    }
    return false;
}

command_result run_program(const std::vector<std::string>& program_argv, std::chrono::milliseconds timeout) {
    int out_pipe[2];
    int err_pipe[2];
    BOOST_REQUIRE_MESSAGE(::pipe2(out_pipe, O_CLOEXEC) == 0, "pipe2: " << std::strerror(errno));
    fd out_read(out_pipe[0]), out_write(out_pipe[1]);
    BOOST_REQUIRE_MESSAGE(::pipe2(err_pipe, O_CLOEXEC) == 0, "pipe2: " << std::strerror(errno));
    fd err_read(err_pipe[0]), err_write(err_pipe[1]);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_write.get(), STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err_write.get(), STDERR_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    // As child_process: the runner's signal mask and dispositions are not the command's business.
    posix_spawnattr_t attr;
    init_child_signal_attributes(attr);

    std::vector<std::string> argv(program_argv);
    std::vector<char*> cargs;
    for (auto& a : argv) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawnp(&pid, cargs[0], &actions, &attr, cargs.data(), environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    // Only the child may hold the write ends, or the reads below never see EOF.
    out_write.reset();
    err_write.reset();
    BOOST_REQUIRE_MESSAGE(rc == 0, "posix_spawnp " << argv[0] << ": " << std::strerror(rc));

    struct reaper {
        pid_t pid;
        bool reaped = false;
        ~reaper() {
            if (reaped) return;
            ::kill(pid, SIGKILL);
            int status = 0;
            while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
        }
    } guard{pid};

    const auto deadline = steady::now() + timeout;
    command_result result;
    struct stream {
        fd* from;
        std::string* to;
    } streams[] = {{&out_read, &result.out}, {&err_read, &result.err}};
    while (out_read || err_read) {
        pollfd p[2];
        stream* which[2];
        nfds_t n = 0;
        for (auto& s : streams)
            if (*s.from) {
                p[n] = pollfd{s.from->get(), POLLIN, 0};
                which[n++] = &s;
            }
        const int ready = ::poll(p, n, remaining_ms(deadline));
        if (ready < 0 && errno == EINTR) continue;
        BOOST_REQUIRE_MESSAGE(ready > 0, "`" << argv[0] << "` still running " << timeout.count() << " ms after it started"
                                                                     << " (stdout so far: '" << result.out << "')");
        for (nfds_t i = 0; i < n; ++i) {
            if (p[i].revents == 0) continue;
            char buf[4096];
            const ssize_t got = ::read(p[i].fd, buf, sizeof buf);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0)
                which[i]->from->reset();
            else
                which[i]->to->append(buf, static_cast<std::size_t>(got));
        }
    }
    for (;;) {
        const pid_t r = ::waitpid(pid, &result.status, WNOHANG);
        if (r == pid) break;
        BOOST_REQUIRE_MESSAGE(r == 0 || errno == EINTR, "waitpid: " << std::strerror(errno));
        BOOST_REQUIRE_MESSAGE(remaining_ms(deadline) > 0, "`" << argv[0] << "` closed its output but did not exit");
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    guard.reaped = true;
    return result;
}

} // namespace program_test
