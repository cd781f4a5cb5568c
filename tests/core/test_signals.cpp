// asyncore::on_signals (signals.hpp): each watcher hears its own signals only — a SIGHUP that reopens an access
// log must not stop the server, whose SIGTERM watcher shares the process — every watcher of a signal hears it (one
// per loop, when several loops run), and closed watchers give their slot back.
#include <csignal>
#include <chrono>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <asyncore/asyncore.hpp>

#include "test_support.hpp"

namespace bdata = boost::unit_test::data;
using namespace std::chrono_literals;

namespace test_signals {

// Passes of the maps until done() or 100 passes.
template <class Done> void run_until(std::initializer_list<asyncore::socket_map*> maps, const std::string& backend,
                                     Done done) {
    for (int i = 0; i < 100 && !done(); ++i)
        for (auto* map : maps) map->run_pass(10ms, backend);
}

} // namespace test_signals

using namespace test_signals;

BOOST_AUTO_TEST_SUITE(signal_watchers)

BOOST_DATA_TEST_CASE(a_watcher_hears_only_its_own_signals, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    int usr1 = 0, usr2 = 0;
    auto one = asyncore::on_signals({SIGUSR1}, [&] { ++usr1; }, &map);
    auto two = asyncore::on_signals({SIGUSR2}, [&] { ++usr2; }, &map);
    ::raise(SIGUSR2);
    run_until({&map}, backend, [&] { return usr2 > 0; });
    for (int i = 0; i < 5; ++i) map.run_pass(0ms, backend); // time for a wrong wake-up to show
    BOOST_TEST(usr2 == 1);
    BOOST_TEST(usr1 == 0);
    ::raise(SIGUSR1);
    run_until({&map}, backend, [&] { return usr1 > 0; });
    BOOST_TEST(usr1 == 1);
    BOOST_TEST(usr2 == 1);
    one->close();
    two->close();
}

BOOST_DATA_TEST_CASE(every_watcher_of_a_signal_hears_it, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map first, second;
    int a = 0, b = 0;
    auto wa = asyncore::on_signals({SIGUSR1}, [&] { ++a; }, &first);
    auto wb = asyncore::on_signals({SIGUSR1, SIGUSR2}, [&] { ++b; }, &second);
    ::raise(SIGUSR1);
    run_until({&first, &second}, backend, [&] { return a > 0 && b > 0; });
    BOOST_TEST(a == 1);
    BOOST_TEST(b == 1);
    wa->close();
    wb->close();
}

// Far more watchers than there are slots, one after another: each closed one's slot is reused, and a signal
// raised for a closed watcher does not reach the next one that takes its slot.
BOOST_AUTO_TEST_CASE(closed_watchers_give_their_slot_back) {
    asyncore::socket_map map;
    for (int i = 0; i < 300; ++i) {
        int heard = 0;
        auto w = asyncore::on_signals({SIGUSR1}, [&] { ++heard; }, &map);
        map.run_pass(0ms, "poll"); // a wake-up left in the slot by an earlier watcher would be heard here
        BOOST_TEST_REQUIRE(heard == 0);
        if (i == 0) ::raise(SIGUSR1); // pending in this slot's pipe when it is closed
        w->close();
    }
    BOOST_TEST(map.size() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
