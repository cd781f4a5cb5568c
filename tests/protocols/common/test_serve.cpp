// asynchat::serve run in this process on every backend. A handler that throws asyncore::exit_now ends it, so no
// signal or thread is needed. (The limit, the busy reply and the drain on SIGTERM are driven as a program:
// tests/examples/serve_service_tests.cpp, and every `asynchat serve` suite.)
#include <cerrno>
#include <string>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <asyncore/asyncore.hpp>
#include <asynchat/serve.hpp>

#include "test_support.hpp"

namespace bdata = boost::unit_test::data;

namespace {

// A TCP socket on 127.0.0.1, bound to a free port; listening when `listen` is set.
int loopback_socket(bool listen, sockaddr_in& where) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    BOOST_REQUIRE(fd >= 0);
    where = {};
    where.sin_family = AF_INET;
    where.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&where), sizeof where) == 0);
    socklen_t len = sizeof where;
    BOOST_REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&where), &len) == 0);
    if (listen) BOOST_REQUIRE(::listen(fd, 8) == 0);
    return fd;
}

// A blocking client connected to `where` (a listening socket's backlog completes it before anyone accepts).
int connect_to(const sockaddr_in& where) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    BOOST_REQUIRE(fd >= 0);
    BOOST_REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&where), sizeof where) == 0);
    return fd;
}

} // namespace

BOOST_AUTO_TEST_SUITE(serve_suite)

// A socket already listening (as systemd or a supervisor passes one) is served as it is: serve neither binds nor
// makes another, says where it listens, and hands it the connection waiting in its backlog.
BOOST_DATA_TEST_CASE(a_passed_listening_socket_is_used_as_it_is, bdata::make(test_support::backends()), backend) {
    sockaddr_in where{};
    const int listening = loopback_socket(true, where);
    const int client = connect_to(where);
    std::string told;
    bool accepted = false;
    asynchat::serve({.name = "passed",
                     .listening = asyncore::socket::adopt(listening),
                     .accept =
                         [&](asyncore::socket) {
                             accepted = true;
                             throw asyncore::exit_now();
                         }},
                    {.backend = backend,
                     .on_listening = [&](const asynchat::service& s, std::size_t i, const std::string& at) {
                         BOOST_TEST(s.name == "passed");
                         BOOST_TEST(i == 0u);
                         told = at;
                     }});
    BOOST_TEST(accepted);
    BOOST_TEST(told == "127.0.0.1:" + std::to_string(ntohs(where.sin_port)));
    ::close(client);
    asyncore::close_all();
}

// A service that cannot listen (its address is taken) throws out of serve, and leaves no listener behind in the map.
BOOST_AUTO_TEST_CASE(an_address_in_use_throws_and_leaves_the_map_empty) {
    sockaddr_in where{};
    const int taken = loopback_socket(true, where);
    const auto before = asyncore::socket_map::default_map().size();
    BOOST_CHECK_THROW(asynchat::serve(asynchat::service{
                          .name = "",
                          .where = asyncore::address::inet("127.0.0.1", ntohs(where.sin_port)),
                          .accept = [](asyncore::socket) {}}),
                      std::system_error);
    BOOST_TEST(asyncore::socket_map::default_map().size() == before);
    ::close(taken);
    asyncore::close_all();
}

BOOST_AUTO_TEST_SUITE_END()
