// The test module of `asynchat serve smtp` / `asynchat send-mail` run as child processes (test_smtp_command.cpp).
#define BOOST_TEST_MODULE smtp_command
#include <boost/test/unit_test.hpp>
