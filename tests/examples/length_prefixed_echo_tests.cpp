// examples/length_prefixed_echo.cpp run as a program on every backend: its client sends each argument as a
// length-prefixed frame to its own server over loopback and prints each echo, then everything closes and it exits.
#include <string>
#include <vector>

#include <sys/wait.h>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "program_support.hpp"
#include "test_support.hpp"

#ifndef LENGTH_PREFIXED_ECHO_PATH
#error "LENGTH_PREFIXED_ECHO_PATH must name the length_prefixed_echo binary"
#endif

namespace bdata = boost::unit_test::data;
using namespace program_test;

BOOST_AUTO_TEST_SUITE(length_prefixed_echo)

BOOST_DATA_TEST_CASE(echoes_every_frame_in_order_and_exits_zero, bdata::make(test_support::backends()), backend) {
    // An empty message, one that would end a line protocol's message early, and one larger than a socket read.
    const std::vector<std::string> messages{"hello", "", "two\r\nlines", std::string(100000, 'x'), "bye"};
    std::vector<std::string> argv{LENGTH_PREFIXED_ECHO_PATH, "--backend", backend};
    argv.insert(argv.end(), messages.begin(), messages.end());
    child_process program(argv);
    const auto first = program.read_line();
    BOOST_REQUIRE_MESSAGE(first, "no first line");
    BOOST_TEST(parse_listening_port(*first) != 0);
    // "two\r\nlines" prints across two lines; read all of stdout and compare it whole.
    const auto rest = program.read_all();
    BOOST_REQUIRE_MESSAGE(rest, "length_prefixed_echo did not finish its output");
    std::string want;
    for (std::size_t i = 0; i < messages.size(); ++i) want += "echo " + std::to_string(i + 1) + ": " + messages[i] + "\n";
    BOOST_TEST(*rest == want);
    const auto status = program.wait();
    BOOST_REQUIRE_MESSAGE(status, "length_prefixed_echo still running after its output ended");
    BOOST_TEST_REQUIRE(WIFEXITED(*status));
    BOOST_TEST(WEXITSTATUS(*status) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
