// The test module of the line protocols: line_receiver and the chat room, through string_transport.
#define BOOST_TEST_MODULE line
#include <boost/test/unit_test.hpp>
