// Two `asynchat serve all` instances behind a real HAProxy: the PROXY protocol, health checks, an instance lost
// and one draining.
#define BOOST_TEST_MODULE behind_haproxy
#include <boost/test/unit_test.hpp>
