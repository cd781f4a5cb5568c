// `asynchat serve all` run as a child process and spoken to over loopback: echo, chat, HTTP, /metrics, /status,
// and a real browser loading the bundled site.
#define BOOST_TEST_MODULE serve_all
#include <boost/test/unit_test.hpp>
