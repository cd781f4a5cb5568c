// The test module of the asynchat command: `asynchat serve echo` run as a child process (asynchat_echo_tests.cpp).
// A module of its own, so that it is built only when the command is.
#define BOOST_TEST_MODULE asynchat_command
#include <boost/test/unit_test.hpp>
