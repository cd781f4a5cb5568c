// The channel suites of the chat layer: CPython's test_asynchat.py over sockets, and async_chat through string_transport.
#define BOOST_TEST_MODULE chat_channel
#include <boost/test/unit_test.hpp>
