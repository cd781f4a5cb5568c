// The test module of protocols/common: asynchat::serve.
#define BOOST_TEST_MODULE common
#include <boost/test/unit_test.hpp>
