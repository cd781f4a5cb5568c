// The test module of the examples suite: examples/ run as child processes (echo_server_tests.cpp,
// http_client_tests.cpp).
#define BOOST_TEST_MODULE examples
#include <boost/test/unit_test.hpp>
