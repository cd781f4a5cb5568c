#define BOOST_TEST_MODULE asio
#include <boost/test/unit_test.hpp>
