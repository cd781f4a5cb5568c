// asyncore::loop_inbox: functions posted from other threads run on the loop's thread, in order, on every backend;
// one that throws does not cost the others their turn.
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <asyncore/loop_inbox.hpp>
#include <asyncore/socket_map.hpp>

#include "test_support.hpp"

namespace bdata = boost::unit_test::data;
using namespace std::chrono_literals;

using test_support::run_until;

BOOST_AUTO_TEST_SUITE(loop_inbox)

BOOST_DATA_TEST_CASE(functions_from_a_thread_run_on_the_loop_in_order, bdata::make(test_support::backends()),
                     backend) {
    asyncore::socket_map map;
    asyncore::loop_inbox inbox(map);
    std::vector<int> ran;
    const auto loop_thread = std::this_thread::get_id();
    bool all_on_loop = true;
    std::thread poster([&] {
        for (int i = 0; i < 1000; ++i)
            inbox.call_from_thread([&, i] {
                ran.push_back(i);
                all_on_loop = all_on_loop && std::this_thread::get_id() == loop_thread;
            });
    });
    BOOST_REQUIRE(run_until(map, backend, [&] { return ran.size() == 1000; }));
    poster.join();
    BOOST_TEST(all_on_loop);
    for (int i = 0; i < 1000; ++i) BOOST_REQUIRE_EQUAL(ran[static_cast<std::size_t>(i)], i);
}

// Several threads posting at once (the lock-free stack under contention): every function runs once, on the loop,
// and each poster's functions run in the order it posted them.
BOOST_DATA_TEST_CASE(many_posters_at_once_lose_nothing_and_keep_each_ones_order,
                     bdata::make(test_support::backends()), backend) {
    constexpr int posters = 4, each = 5000;
    asyncore::socket_map map;
    asyncore::loop_inbox inbox(map);
    std::vector<std::vector<int>> seen(posters);
    int total = 0;
    std::vector<std::thread> threads;
    for (int p = 0; p < posters; ++p)
        threads.emplace_back([&, p] {
            for (int i = 0; i < each; ++i)
                inbox.call_from_thread([&, p, i] {
                    seen[static_cast<std::size_t>(p)].push_back(i);
                    ++total;
                });
        });
    BOOST_REQUIRE(run_until(map, backend, [&] { return total == posters * each; }));
    for (auto& t : threads) t.join();
    for (int p = 0; p < posters; ++p) {
        const auto& got = seen[static_cast<std::size_t>(p)];
        BOOST_REQUIRE_EQUAL(got.size(), static_cast<std::size_t>(each));
        for (int i = 0; i < each; ++i) BOOST_REQUIRE_EQUAL(got[static_cast<std::size_t>(i)], i);
    }
}

// A function that throws does not cost the others their turn; the first exception comes out afterwards.
BOOST_AUTO_TEST_CASE(a_throwing_function_does_not_drop_the_rest) {
    asyncore::socket_map map;
    asyncore::loop_inbox inbox(map);
    std::vector<int> ran;
    inbox.call_from_thread([&] { ran.push_back(1); });
    inbox.call_from_thread([] { throw std::runtime_error("first"); });
    inbox.call_from_thread([] { throw std::logic_error("second"); });
    inbox.call_from_thread([&] { ran.push_back(4); });
    BOOST_CHECK_THROW(inbox.run_pending(), std::runtime_error);
    BOOST_TEST((ran == std::vector<int>{1, 4}));
    inbox.run_pending(); // nothing left
    BOOST_TEST(ran.size() == 2u);
}

BOOST_AUTO_TEST_SUITE_END()

