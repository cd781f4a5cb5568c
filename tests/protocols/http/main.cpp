// The unit suites of the HTTP protocol: the parsers (request and response), the server channel through
// string_transport, the router, the URL parser.
#define BOOST_TEST_MODULE http
#include <boost/test/unit_test.hpp>
