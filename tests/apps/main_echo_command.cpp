// `asynchat serve echo`, and what every subcommand shares (--help, bad arguments, backends), run as a child process
// (test_echo_command.cpp).
#define BOOST_TEST_MODULE echo_command
#include <boost/test/unit_test.hpp>
