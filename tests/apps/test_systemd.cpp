// `asynchat serve` under systemd's protocols, with systemd's own tool: systemd-socket-activate (package systemd)
// binds the listening socket, waits for the first connection, and execs the server with LISTEN_FDS; the server
// serves that socket (the connection that woke it included) instead of binding, and reports READY=1, WATCHDOG=1
// and STOPPING=1 to a NOTIFY_SOCKET the test opens (docs/deploy.md). Skipped where the tool is absent.
#include <csignal>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "program_support.hpp"
#include "test_support.hpp"

namespace bdata = boost::unit_test::data;
using namespace program_test;

namespace {

const char* const socket_activate = "/usr/bin/systemd-socket-activate";

// A NOTIFY_SOCKET: an AF_UNIX datagram socket at a fresh path.
struct notify_socket {
    fd sock;
    std::string path;
    notify_socket()
        : sock(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)),
          path("/tmp/asynchat-notify-" + std::to_string(::getpid()) + "-" + std::to_string(counter++)) {
        ::unlink(path.c_str());
        sockaddr_un where{};
        where.sun_family = AF_UNIX;
        path.copy(where.sun_path, path.size());
        BOOST_REQUIRE(::bind(sock.get(), reinterpret_cast<sockaddr*>(&where), sizeof where) == 0);
        timeval tv{20, 0};
        ::setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~notify_socket() { ::unlink(path.c_str()); }
    // The next notification; "(none in 20 s)" when nothing came.
    std::string next() {
        char buf[512];
        const auto n = ::recv(sock.get(), buf, sizeof buf, 0);
        return n < 0 ? std::string("(none in 20 s)") : std::string(buf, static_cast<std::size_t>(n));
    }
    static inline int counter = 0;
};

// A loopback port nothing listens on now (systemd-socket-activate is to bind it).
std::uint16_t free_port() { return refusing_port().second; }

// A connection to 127.0.0.1:port once the tool listens there (it starts alongside the test): tried every 10 ms
// for 2 s; an empty fd if it never listened.
fd first_connection(std::uint16_t port) {
    for (int i = 0; i < 200; ++i) {
        fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in where{};
        where.sin_family = AF_INET;
        where.sin_port = htons(port);
        where.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(s.get(), reinterpret_cast<sockaddr*>(&where), sizeof where) == 0) return s;
        ::usleep(10000);
    }
    return fd();
}

} // namespace

BOOST_AUTO_TEST_SUITE(serve_under_systemd)

// serve all: the passed socket named "http" serves HTTP, the other services bind their own; readiness, the
// watchdog's pings, and STOPPING=1 at SIGTERM reach the notify socket; exit 0.
BOOST_DATA_TEST_CASE(socket_activation_and_readiness, bdata::make(test_support::backends()), backend) {
    if (::access(socket_activate, X_OK) != 0) {
        BOOST_TEST_MESSAGE("skipped: no " << socket_activate << " (Debian package systemd)");
        return;
    }
    notify_socket notify;
    const std::uint16_t port = free_port(), smtp_port = free_port();
    const auto maildir = std::filesystem::temp_directory_path() / ("asynchat-systemd-" + std::to_string(::getpid()));
    // Two sockets named as examples/systemd's socket units name theirs.
    child_process server({socket_activate, "-l", "127.0.0.1:" + std::to_string(port), "-l",
                          "127.0.0.1:" + std::to_string(smtp_port), "--fdname=http:smtp", "-E",
                          "NOTIFY_SOCKET=" + notify.path, "-E", "WATCHDOG_USEC=200000", ASYNCHAT_PATH, "serve", "all",
                          "--echo-port", "0", "--chat-port", "0", "--http-port", "0", "--smtp-port", "0", "--maildir",
                          maildir.string(), "--backend", backend});
    // The tool execs the server at the first connection: this one, which the server must then answer.
    fd first = first_connection(port);
    BOOST_REQUIRE_MESSAGE(first, "systemd-socket-activate never listened on " << port);
    timeval tv{20, 0};
    ::setsockopt(first.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    BOOST_REQUIRE(send_all(first.get(), "GET /healthz HTTP/1.0\r\n\r\n"));
    const std::string answer = recv_exact(first.get(), 1 << 16);
    BOOST_TEST(answer.starts_with("HTTP/1.0 200 OK\r\n"), answer);
    BOOST_TEST(answer.ends_with("\r\n\r\nok\n"), answer);

    // HTTP and SMTP say they listen where the tool bound; echo and chat bound ports of their own.
    std::string http_line, smtp_line;
    for (int i = 0; i < 5 && smtp_line.empty(); ++i) {
        const auto line = server.read_line();
        BOOST_REQUIRE(line);
        if (line->starts_with("http ")) http_line = *line;
        if (line->starts_with("smtp listening ")) smtp_line = *line;
    }
    BOOST_TEST(http_line == "http listening on 127.0.0.1:" + std::to_string(port));
    BOOST_TEST(smtp_line == "smtp listening on 127.0.0.1:" + std::to_string(smtp_port));
    auto smtp = connect_loopback(smtp_port);
    BOOST_TEST(recv_exact(smtp.get(), 4) == "220 ");

    BOOST_TEST(notify.next() == "READY=1\nSTATUS=serving");
    BOOST_TEST(notify.next() == "WATCHDOG=1");
    BOOST_TEST(notify.next() == "WATCHDOG=1"); // and again, 100 ms later: the loop keeps pinging

    server.send_signal(SIGTERM);
    std::string stopping;
    for (int i = 0; i < 50 && stopping != "STOPPING=1\nSTATUS=draining"; ++i) stopping = notify.next();
    BOOST_TEST(stopping == "STOPPING=1\nSTATUS=draining");
    const auto status = server.wait();
    BOOST_REQUIRE(status);
    BOOST_TEST(WIFEXITED(*status));
    BOOST_TEST(WEXITSTATUS(*status) == 0);
    std::filesystem::remove_all(maildir);
}

// A socket named after no service: one line naming it, exit 2, before serving anything.
BOOST_AUTO_TEST_CASE(a_socket_named_after_no_service_is_a_bad_start) {
    if (::access(socket_activate, X_OK) != 0) {
        BOOST_TEST_MESSAGE("skipped: no " << socket_activate << " (Debian package systemd)");
        return;
    }
    const std::uint16_t port = free_port();
    const auto maildir = std::filesystem::temp_directory_path() / ("asynchat-systemd-bad-" + std::to_string(::getpid()));
    child_process server({"/bin/sh", "-c",
                          std::string("exec 2>&1 ") + socket_activate + " -l 127.0.0.1:" + std::to_string(port) +
                              " --fdname=ftp " + ASYNCHAT_PATH + " serve all --echo-port 0 --chat-port 0 "
                              "--http-port 0 --smtp-port 0 --maildir " + maildir.string()});
    first_connection(port); // wakes the tool, which execs the server
    const auto out = server.read_all();
    BOOST_REQUIRE(out);
    BOOST_TEST(out->find("asynchat: LISTEN_FDS: descriptor 3 (ftp) names no service (echo, chat, http, smtp)\n") !=
                   std::string::npos,
               *out);
    const auto status = server.wait();
    BOOST_REQUIRE(status);
    BOOST_TEST(WIFEXITED(*status));
    BOOST_TEST(WEXITSTATUS(*status) == 2);
    std::filesystem::remove_all(maildir);
}

// examples/systemd's units are what docs/deploy.md shows, byte for byte, and systemd itself accepts them
// (systemd-analyze verify: every directive known, every value parsed, the ExecStart binary there), with their
// ExecStart pointed at this build.
BOOST_AUTO_TEST_CASE(the_example_units_are_the_documented_ones_and_systemd_accepts_them) {
    const std::filesystem::path examples = std::filesystem::path(SOURCE_DIR) / "examples" / "systemd";
    std::ifstream docs_in(std::filesystem::path(SOURCE_DIR) / "docs" / "deploy.md");
    const std::string docs{std::istreambuf_iterator<char>(docs_in), std::istreambuf_iterator<char>()};
    const auto dir = std::filesystem::temp_directory_path() / ("asynchat-units-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::vector<std::string> verify{"/usr/bin/systemd-analyze", "verify"};
    for (const char* name : {"asynchat.service", "asynchat-http.socket", "asynchat-smtp.socket"}) {
        std::ifstream in(examples / name);
        std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
        BOOST_REQUIRE_MESSAGE(!text.empty(), "no " << (examples / name));
        BOOST_TEST(docs.find(text) != std::string::npos, "docs/deploy.md does not show " << name << " as it is");
        for (std::size_t at; (at = text.find("/usr/local/bin/asynchat")) != std::string::npos;)
            text.replace(at, 23, ASYNCHAT_PATH);
        std::ofstream(dir / name) << text;
        verify.push_back((dir / name).string());
    }
    if (::access(verify[0].c_str(), X_OK) != 0) {
        BOOST_TEST_MESSAGE("not verified: no systemd-analyze (Debian package systemd)");
    } else {
        const auto result = run_program(verify);
        BOOST_TEST(exit_code(result) == 0, result.err);
        BOOST_TEST(result.out + result.err == "", "systemd-analyze verify warned: " << result.out << result.err);
    }
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
