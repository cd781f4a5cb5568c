// The test module of the echo service: asynchat::echo::echo_channel through string_transport.
#define BOOST_TEST_MODULE echo
#include <boost/test/unit_test.hpp>
