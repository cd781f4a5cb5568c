// asynchat::systemd (systemd.hpp) in this process: notifications reach a NOTIFY_SOCKET the test opens (a path and
// the abstract namespace), the watchdog interval follows WATCHDOG_USEC/WATCHDOG_PID, and passed sockets go to the
// services their names say, or are refused with a reason. The descriptors-3-and-up part of socket activation is
// tested with systemd's own systemd-socket-activate in tests/apps/test_systemd.cpp.
#include <cstddef>
#include <cstdlib>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <asynchat/systemd.hpp>

namespace test_systemd {

// An AF_UNIX datagram socket bound at `name` (a path, or "@..." in the abstract namespace), as systemd's.
struct notify_socket {
    int fd;
    std::string name;
    explicit notify_socket(std::string n) : fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)), name(std::move(n)) {
        sockaddr_un where{};
        where.sun_family = AF_UNIX;
        name.copy(where.sun_path, name.size());
        if (name[0] == '@') where.sun_path[0] = '\0';
        else ::unlink(name.c_str());
        BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&where),
                             static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size())) == 0);
        timeval tv{5, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
    }
    ~notify_socket() {
        ::unsetenv("NOTIFY_SOCKET");
        ::close(fd);
        if (name[0] == '/') ::unlink(name.c_str());
    }
    std::string next() {
        char buf[512];
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        return n < 0 ? std::string("(nothing)") : std::string(buf, static_cast<std::size_t>(n));
    }
};

int tcp_socket(bool listening) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in where{};
    where.sin_family = AF_INET;
    where.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&where), sizeof where) == 0);
    if (listening) BOOST_REQUIRE(::listen(fd, 4) == 0);
    return fd;
}

std::vector<asynchat::service> named(std::initializer_list<const char*> names) {
    std::vector<asynchat::service> out;
    for (const char* n : names) out.push_back({.name = n});
    return out;
}

// The message of the std::invalid_argument use_passed_sockets throws ("" when it does not).
std::string refusal(std::vector<asynchat::service>& services, std::vector<asynchat::systemd::passed_socket> passed) {
    try {
        asynchat::systemd::use_passed_sockets(services, std::move(passed));
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}

} // namespace test_systemd

using namespace test_systemd;

BOOST_AUTO_TEST_SUITE(systemd_protocols)

BOOST_AUTO_TEST_CASE(notifications_reach_the_notify_socket) {
    BOOST_TEST(!asynchat::systemd::notify("READY=1"), "sent with no NOTIFY_SOCKET");
    {
        notify_socket path("/tmp/asynchat-notify-" + std::to_string(::getpid()));
        BOOST_TEST(asynchat::systemd::notify("READY=1\nSTATUS=serving"));
        BOOST_TEST(path.next() == "READY=1\nSTATUS=serving");
    }
    {
        notify_socket abstract("@asynchat-notify-" + std::to_string(::getpid()));
        BOOST_TEST(asynchat::systemd::notify("STOPPING=1"));
        BOOST_TEST(abstract.next() == "STOPPING=1");
    }
    ::setenv("NOTIFY_SOCKET", "relative/path", 1);
    BOOST_TEST(!asynchat::systemd::notify("READY=1"));
    ::unsetenv("NOTIFY_SOCKET");
}

BOOST_AUTO_TEST_CASE(the_watchdog_pings_at_half_its_interval_for_this_process_only) {
    ::unsetenv("WATCHDOG_PID");
    ::unsetenv("WATCHDOG_USEC");
    BOOST_TEST(asynchat::systemd::watchdog_ping_interval().count() == 0);
    ::setenv("WATCHDOG_USEC", "200000", 1);
    BOOST_TEST(asynchat::systemd::watchdog_ping_interval().count() == 100000);
    ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
    BOOST_TEST(asynchat::systemd::watchdog_ping_interval().count() == 100000);
    ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
    BOOST_TEST(asynchat::systemd::watchdog_ping_interval().count() == 0);
    ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
    ::setenv("WATCHDOG_USEC", "soon", 1);
    BOOST_TEST(asynchat::systemd::watchdog_ping_interval().count() == 0);
    ::unsetenv("WATCHDOG_PID");
    ::unsetenv("WATCHDOG_USEC");
}

// LISTEN_PID names another process (the variables were inherited across a fork): nothing is taken, and the
// variables are gone either way.
BOOST_AUTO_TEST_CASE(sockets_passed_to_another_process_are_not_taken) {
    ::setenv("LISTEN_PID", std::to_string(::getpid() + 1).c_str(), 1);
    ::setenv("LISTEN_FDS", "2", 1);
    ::setenv("LISTEN_FDNAMES", "http:smtp", 1);
    BOOST_TEST(asynchat::systemd::take_listen_fds().empty());
    BOOST_TEST(std::getenv("LISTEN_PID") == nullptr);
    BOOST_TEST(std::getenv("LISTEN_FDS") == nullptr);
    BOOST_TEST(std::getenv("LISTEN_FDNAMES") == nullptr);
}

BOOST_AUTO_TEST_CASE(passed_sockets_go_to_the_services_they_name) {
    auto services = named({"echo", "http", "smtp"});
    const int http = tcp_socket(true), smtp = tcp_socket(true);
    BOOST_TEST(refusal(services, {{smtp, "smtp"}, {http, "http"}}) == "");
    BOOST_TEST(!services[0].listening.has_value());
    BOOST_REQUIRE(services[1].listening.has_value());
    BOOST_TEST(services[1].listening->fileno() == http);
    BOOST_REQUIRE(services[2].listening.has_value());
    BOOST_TEST(services[2].listening->fileno() == smtp);
}

BOOST_AUTO_TEST_CASE(one_service_takes_its_one_socket_whatever_its_name) {
    auto one = named({""});
    const int fd = tcp_socket(true);
    BOOST_TEST(refusal(one, {{fd, ""}}) == "");
    BOOST_REQUIRE(one[0].listening.has_value());
    BOOST_TEST(one[0].listening->fileno() == fd);
}

BOOST_AUTO_TEST_CASE(sockets_that_do_not_fit_are_refused_with_the_reason) {
    const int a = tcp_socket(true), b = tcp_socket(true), bound_only = tcp_socket(false);
    auto services = named({"echo", "http"});
    BOOST_TEST(refusal(services, {{bound_only, "http"}}) ==
               "LISTEN_FDS: descriptor " + std::to_string(bound_only) + " (http) is not a listening stream socket");
    BOOST_TEST(refusal(services, {{a, "ftp"}}) ==
               "LISTEN_FDS: descriptor " + std::to_string(a) + " (ftp) names no service (echo, http)");
    BOOST_TEST(refusal(services, {{a, ""}}) ==
               "LISTEN_FDS: descriptor " + std::to_string(a) +
                   " has no name; name it (FileDescriptorName=) after its service: echo, http");
    auto one = named({""});
    BOOST_TEST(refusal(one, {{a, "x"}, {b, "y"}}) == "LISTEN_FDS: 2 sockets passed to one service");
    {
        auto again = named({"echo", "http"});
        BOOST_TEST(refusal(again, {{a, "http"}, {b, "http"}}) == "LISTEN_FDS: two sockets named http");
    } // `again` owned `a` by then, and closed it
    for (int fd : {b, bound_only}) ::close(fd);
}

BOOST_AUTO_TEST_SUITE_END()
