// examples/serve_service.cpp run as a program on every backend: a protocol of one's own on asynchat::serve — the
// reply, the connection limit with its busy reply, the graceful drain on SIGTERM with exit status 0.
#include <csignal>
#include <string>
#include <vector>

#include <sys/wait.h>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "program_support.hpp"
#include "test_support.hpp"

#ifndef SERVE_SERVICE_PATH
#error "SERVE_SERVICE_PATH must name the serve_service binary"
#endif

namespace bdata = boost::unit_test::data;
using namespace program_test;

BOOST_AUTO_TEST_SUITE(serve_service)

// With one loop and with two (--workers 2: the limit holds for the service, and SIGTERM drains both).
BOOST_DATA_TEST_CASE(answers_holds_its_limit_and_drains_on_sigterm,
                     bdata::make(test_support::backends()) * bdata::make({"1", "2"}), backend, workers) {
    child_process program(
        {SERVE_SERVICE_PATH, "--backend", backend, "--max-connections", "1", "--workers", std::string(workers)});
    const auto first = program.read_line();
    BOOST_REQUIRE_MESSAGE(first, "no listening line");
    const std::uint16_t port = parse_listening_port(*first);

    fd client = connect_loopback(port);
    BOOST_REQUIRE(send_all(client.get(), "hello\r\nwor"));
    BOOST_REQUIRE(send_all(client.get(), "ld\n"));
    BOOST_TEST(recv_exact(client.get(), 14) == "HELLO\r\nWORLD\r\n");

    // One connection is open: the next gets the busy reply and the close, and the first is untouched.
    fd second = connect_loopback(port);
    const received refused = recv_to_end(second.get());
    BOOST_TEST(refused.data == "ERR busy\r\n");
    BOOST_TEST(refused.end == ending::eof);
    BOOST_REQUIRE(send_all(client.get(), "again\n"));
    BOOST_TEST(recv_exact(client.get(), 7) == "AGAIN\r\n");

    program.send_signal(SIGTERM);
    const received last = recv_to_end(client.get());
    BOOST_TEST(last.data == "BYE\r\n");
    BOOST_TEST(last.end == ending::eof);
    const auto status = program.wait();
    BOOST_REQUIRE_MESSAGE(status, "serve_service still running after SIGTERM");
    BOOST_TEST_REQUIRE(WIFEXITED(*status));
    BOOST_TEST(WEXITSTATUS(*status) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
