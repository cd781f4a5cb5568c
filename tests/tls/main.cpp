// The TLS layer's suites: the engine in memory, async_chat with a layer, real TLS clients on every backend.
#define BOOST_TEST_MODULE tls
#include <boost/test/unit_test.hpp>
