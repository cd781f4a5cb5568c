// Server-level limits of the asynchat command, run as a child process.
#define BOOST_TEST_MODULE server_limits
#include <boost/test/unit_test.hpp>
