// The chat layer's suites: the framer (unit cases, properties, Python oracle) and the output queue.
#define BOOST_TEST_MODULE chat
#include <boost/test/unit_test.hpp>
