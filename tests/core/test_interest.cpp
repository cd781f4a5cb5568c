// When readable()/writable() are asked (dispatcher.hpp, "Interest"), on every backend alike.
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>

#include "scripted.hpp"
#include "test_support.hpp"

namespace bdata = boost::unit_test::data;
using namespace std::chrono_literals;
using test_support::scripted;

BOOST_AUTO_TEST_SUITE(interest)

// A writable() that depends on outside state is re-asked after refresh_interest(), not before.
BOOST_DATA_TEST_CASE(refresh_interest_reasks_predicates, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    auto [mine, peer] = test_support::socket_pair();
    auto ch = asyncore::make<scripted>(std::move(mine), &map);
    bool want = false;
    int asked = 0;
    ch->want_write = [&] {
        ++asked;
        return want;
    };
    ch->want_read = [] { return false; };
    map.run_pass(0ms, backend);
    BOOST_TEST(asked == 1); // asked once on entering the map
    want = true;
    map.run_pass(0ms, backend);
    map.run_pass(0ms, backend);
    BOOST_TEST(asked == 1); // not asked again: no event, no refresh
    BOOST_TEST(ch->writes == 0);
    ch->refresh_interest();
    ch->refresh_interest(); // twice in a pass costs one re-evaluation
    map.run_pass(0ms, backend);
    BOOST_TEST(asked == 2);
    BOOST_TEST(ch->writes == 1);
    map.run_pass(0ms, backend);
    BOOST_TEST(asked == 3); // after an event the loop asks again by itself
    BOOST_TEST(ch->writes == 2);
}

// set_interest_every_pass(true) restores Python's ask-every-pass behaviour for that channel only.
BOOST_DATA_TEST_CASE(every_pass_interest, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    auto [mine, peer] = test_support::socket_pair();
    auto ch = asyncore::make<scripted>(std::move(mine), &map);
    bool want = false;
    ch->want_write = [&] { return want; };
    ch->want_read = [] { return false; };
    ch->set_interest_every_pass(true);
    map.run_pass(0ms, backend);
    want = true;
    map.run_pass(0ms, backend);
    BOOST_TEST(ch->writes == 1);
    ch->set_interest_every_pass(false);
    want = false;
    map.run_pass(0ms, backend); // the last event made the loop ask once more: now not writable
    int before = ch->writes;
    want = true;
    map.run_pass(0ms, backend);
    BOOST_TEST(ch->writes == before);
}

// A channel that wants nothing is never dispatched, even when its peer hangs up (as Python's poll2: an fd with
// no interest is not registered).
BOOST_DATA_TEST_CASE(no_interest_no_events, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    auto [mine, peer] = test_support::socket_pair();
    auto ch = asyncore::make<scripted>(std::move(mine), &map);
    ch->want_read = [] { return false; };
    peer.send_some("x", 1);
    peer.close();
    for (int i = 0; i < 3; ++i) map.run_pass(0ms, backend);
    BOOST_TEST(ch->reads + ch->writes + ch->closes == 0);
}

// Unknown backend names are refused with the list of known ones.
BOOST_AUTO_TEST_CASE(unknown_backend_is_named) {
    asyncore::socket_map map;
    try {
        map.run_pass(0ms, "kqueue-nope");
        BOOST_FAIL("expected std::invalid_argument");
    } catch (const std::invalid_argument& e) {
        std::string what = e.what();
        BOOST_TEST(what.find("kqueue-nope") != std::string::npos);
        BOOST_TEST(what.find("epoll") != std::string::npos);
    }
}

BOOST_AUTO_TEST_SUITE_END()
