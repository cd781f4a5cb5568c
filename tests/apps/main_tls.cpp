// TLS in the asynchat command, spoken to by real clients (test_tls_command.cpp).
#define BOOST_TEST_MODULE tls_command
#include <boost/test/unit_test.hpp>
