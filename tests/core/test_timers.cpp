// call_later on every backend: order, cancellation, no starvation, errors, and loop() termination.
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "scripted.hpp"
#include "test_support.hpp"

namespace bdata = boost::unit_test::data;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(timers)

BOOST_DATA_TEST_CASE(fire_in_deadline_order_ties_in_creation_order, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    std::string order;
    map.call_later(30ms, [&] { order += 'c'; });
    map.call_later(10ms, [&] { order += 'a'; });
    map.call_later(20ms, [&] { order += 'b'; });
    map.call_later(20ms, [&] { order += 'B'; });
    map.call_later(0ms, [&] { order += '0'; });
    // No channel at all: loop() runs while timers are pending, then returns.
    asyncore::loop({.timeout = 1s, .backend = backend, .map = &map});
    BOOST_TEST(order == "0abBc");
    BOOST_TEST(map.pending_timers() == 0u);
}

BOOST_DATA_TEST_CASE(cancel_before_due, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    int fired = 0;
    auto keep = map.call_later(5ms, [&] { ++fired; });
    auto drop = map.call_later(5ms, [&] { fired += 100; });
    BOOST_TEST(drop.pending());
    drop.cancel();
    drop.cancel(); // idempotent
    BOOST_TEST(!drop.pending());
    BOOST_TEST(map.pending_timers() == 1u);
    asyncore::loop({.timeout = 1s, .backend = backend, .map = &map});
    BOOST_TEST(fired == 1);
    BOOST_TEST(!keep.pending());
    keep.cancel(); // after it ran: nothing happens
    BOOST_TEST(map.pending_timers() == 0u);
}

// A timer that re-arms itself with no delay runs once per pass, so I/O still gets its turn.
BOOST_DATA_TEST_CASE(zero_delay_rearm_does_not_starve_io, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    auto [mine, peer] = test_support::socket_pair();
    auto ch = asyncore::make<test_support::scripted>(std::move(mine), &map);
    ch->on_read = [](test_support::scripted& s) { s.recv(16); };
    int ticks = 0;
    std::function<void()> tick = [&] {
        ++ticks;
        if (ch->reads == 0) map.call_later(0s, tick);
    };
    map.call_later(0s, tick);
    peer.send_some("x", 1);
    for (int i = 0; i < 50 && ch->reads == 0; ++i) map.run_pass(100ms, backend);
    BOOST_TEST(ch->reads == 1);
    BOOST_TEST(ticks <= 3);
}

// A throwing timer is reported and the other timers still run; a timer can close channels.
BOOST_DATA_TEST_CASE(throwing_timer_does_not_stop_others, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    auto [mine, peer] = test_support::socket_pair();
    auto ch = asyncore::make<test_support::scripted>(std::move(mine), &map);
    int ran = 0;
    map.call_later(1ms, [] { throw std::runtime_error("timer failure"); });
    map.call_later(2ms, [&] {
        ++ran;
        ch->close();
    });
    asyncore::loop({.timeout = 1s, .backend = backend, .map = &map});
    BOOST_TEST(ran == 1);
    BOOST_TEST(map.empty());
}

// The pass waits no longer than the next timer needs, even with a long loop timeout.
BOOST_DATA_TEST_CASE(timer_shortens_the_wait, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    auto [mine, peer] = test_support::socket_pair();
    auto ch = asyncore::make<test_support::scripted>(std::move(mine), &map);
    bool fired = false;
    map.call_later(10ms, [&] { fired = true; });
    for (int i = 0; i < 5 && !fired; ++i) map.run_pass(30s, backend);
    BOOST_TEST(fired); // with a 30 s wait per pass this would hang rather than fail, so ctest's timeout guards it
}

BOOST_AUTO_TEST_SUITE_END()
