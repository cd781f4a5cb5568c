// The test module of `asynchat serve chat`, run as a child process on every backend (chat_command_tests.cpp).
#define BOOST_TEST_MODULE chat_command
#include <boost/test/unit_test.hpp>
