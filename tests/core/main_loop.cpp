#define BOOST_TEST_MODULE core_loop
#include <boost/test/unit_test.hpp>
