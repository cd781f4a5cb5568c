// `asynchat serve http` and `asynchat get` run as child processes and spoken to over loopback.
#define BOOST_TEST_MODULE http_command
#include <boost/test/unit_test.hpp>
