// The test module of the SMTP protocol suites run without sockets (session, client, Maildir).
#define BOOST_TEST_MODULE smtp
#include <boost/test/unit_test.hpp>
