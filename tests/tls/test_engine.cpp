// The TLS engine sans-I/O: a client engine and a server engine wired to each other in memory, so every wire byte
// and every segmentation is the test's choice. No socket, no loop.
#include <cstddef>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <asynchat/tls.hpp>

#include "test_certificates.hpp"
#include "tls_test_util.hpp"

namespace bdata = boost::unit_test::data;
namespace tls = asynchat::tls;

namespace test_tls_engine {

using tls_test::cutter;
using tls_test::engine_pair;

// Wire segments of 1..9 bytes, and everything as it comes (0).
std::vector<std::size_t> segment_sizes() { return {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; }

#define REQUIRE_CERTIFICATES(c)                                                                                    \
    const auto& c##_opt = test_support::certificates();                                                           \
    if (!c##_opt) {                                                                                                \
        BOOST_TEST_MESSAGE("skipped: the openssl command could not make the test certificates");                  \
        return;                                                                                                    \
    }                                                                                                              \
    const auto& c = *c##_opt

BOOST_AUTO_TEST_SUITE(engine)

BOOST_DATA_TEST_CASE(handshake_and_data_both_ways_at_every_segmentation, bdata::make(segment_sizes()), segment) {
    REQUIRE_CERTIFICATES(certs);
    engine_pair p(tls_test::client_context(certs), tls_test::server_context(certs), "localhost",
                  cutter{segment, std::nullopt});
    BOOST_TEST(!p.client->handshake_done());
    BOOST_TEST(!p.client->wire_pending().empty()); // the ClientHello, ready before anything was received
    BOOST_TEST_REQUIRE(p.handshake());
    BOOST_TEST(p.server_received.empty());
    BOOST_TEST(p.client_received.empty());

    const std::string ping = "PING one\r\nPING two\r\n";
    BOOST_TEST(tls_test::send_all(*p.client, *p.server, ping, p.cut) == ping);
    const std::string pong = "PONG\r\n";
    BOOST_TEST(tls_test::send_all(*p.server, *p.client, pong, p.cut) == pong);
}

BOOST_AUTO_TEST_SUITE_END()

} // namespace test_tls_engine
