// The test module of `asynchat serve chat`, run as a child process on every backend (test_chat_command.cpp).
#define BOOST_TEST_MODULE chat_command
#include <boost/test/unit_test.hpp>
