// Lifetime under the loop: a handler may close its own channel or another, or add channels, at any point; no
// use-after-free (this suite runs under ASan in CI), no event delivered to a closed channel, no event meant for
// a closed fd delivered to the channel that reuses the fd in the same pass (bpo-30931), and handle_close at
// most once (bpo-30985). One suite over every backend.
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <vector>

#include "scripted.hpp"
#include "test_support.hpp"

namespace bdata = boost::unit_test::data;
using namespace std::chrono_literals;
using test_support::scripted;
using test_support::socket_pair;

namespace {

// A shared-owned channel on one end of a fresh pair; the peer end is returned for the test to drive.
asyncore::ref<scripted> channel_with_peer(asyncore::socket_map& map, asyncore::socket& peer) {
    auto [mine, theirs] = socket_pair();
    peer = std::move(theirs);
    return asyncore::make<scripted>(std::move(mine), &map);
}

void pass(asyncore::socket_map& map, const std::string& backend) { map.run_pass(50ms, backend); }

} // namespace

BOOST_AUTO_TEST_SUITE(lifetime)

// Every handler closes its own channel, which nothing but the map owns: the channel must be freed after the
// handler returns (ASan would flag a use of it later in the pass) and the loop must go on serving the others.
BOOST_DATA_TEST_CASE(close_self_inside_each_handler, bdata::make(test_support::backends()), backend) {
    for (const std::string which : {"read", "write", "close", "error"}) {
        asyncore::socket_map map;
        int destroyed = 0;
        asyncore::socket peer;
        {
            auto ch = channel_with_peer(map, peer);
            ch->destroyed = &destroyed;
            auto close_self = [](scripted& s) {
                s.close();
                s.close(); // idempotent, and `this` is still valid here
            };
            if (which == "read") ch->on_read = close_self;
            if (which == "write") {
                ch->want_write = [] { return true; };
                ch->on_write = close_self;
            }
            if (which == "close") {
                ch->on_read = [](scripted& s) { s.recv(16); }; // sees EOF -> handle_close
                ch->on_close = close_self;
            }
            if (which == "error") {
                ch->on_read = [](scripted&) { throw std::runtime_error("boom"); };
                ch->on_error = close_self;
            }
        }
        if (which == "close")
            peer.close();
        else
            peer.send_some("x", 1);
        // A second, healthy channel must keep working after the first one is gone.
        asyncore::socket other_peer;
        auto other = channel_with_peer(map, other_peer);
        other->on_read = [](scripted& s) { s.recv(16); };
        for (int i = 0; i < 20 && destroyed == 0; ++i) pass(map, backend);
        BOOST_TEST_INFO("handler: " << which);
        BOOST_TEST(destroyed == 1);
        other_peer.send_some("y", 1);
        for (int i = 0; i < 20 && other->reads == 0; ++i) pass(map, backend);
        BOOST_TEST(other->reads >= 1);
        BOOST_TEST(map.size() == 1u);
    }
}

// A and B are both readable in the same pass. Whichever runs first closes the other: the other must hear
// nothing more, and must be freed only once the pass no longer needs it.
BOOST_DATA_TEST_CASE(close_another_inside_a_handler, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    int destroyed = 0;
    asyncore::socket pa, pb;
    auto a = channel_with_peer(map, pa).get();
    auto b = channel_with_peer(map, pb).get();
    a->destroyed = b->destroyed = &destroyed;
    a->on_read = [b](scripted&) { b->close(); };
    b->on_read = [a](scripted&) { a->close(); };
    pa.send_some("x", 1);
    pb.send_some("x", 1);
    pass(map, backend);
    // Only the map owned them: the closed one is gone, the survivor is still served (ASan watches the rest).
    BOOST_TEST(destroyed == 1);
    BOOST_TEST(map.size() == 1u);
    asyncore::close_all(&map);
    BOOST_TEST(destroyed == 2);
}

// Same as above but the survivor is held by the test, so its counters can be read after the pass.
BOOST_DATA_TEST_CASE(closed_channel_gets_no_more_events, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    asyncore::socket pa, pb;
    auto a = channel_with_peer(map, pa);
    auto b = channel_with_peer(map, pb);
    a->on_read = [other = b.get()](scripted&) { other->close(); };
    b->on_read = [other = a.get()](scripted&) { other->close(); };
    pa.send_some("x", 1);
    pb.send_some("x", 1);
    pass(map, backend);
    BOOST_TEST(a->reads + b->reads == 1);
    BOOST_TEST(map.size() == 1u);
}

// bpo-30931: the first handler closes the other channel and opens a new one that the kernel gives the same
// fd. The closed channel's pending event must not reach the newcomer.
BOOST_DATA_TEST_CASE(reused_fd_gets_no_stale_event, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    asyncore::socket pa, pb, pc;
    auto a = channel_with_peer(map, pa);
    auto b = channel_with_peer(map, pb);
    asyncore::ref<scripted> newcomer;
    bool reused = false;
    auto replace = [&](scripted& other) {
        return [&, target = &other](scripted&) {
            if (newcomer) return;
            int old_fd = target->fileno();
            target->close();
            newcomer = channel_with_peer(map, pc);
            reused = newcomer->fileno() == old_fd;
        };
    };
    a->on_read = replace(*b);
    b->on_read = replace(*a);
    pa.send_some("x", 1);
    pb.send_some("x", 1);
    pass(map, backend);
    BOOST_TEST_REQUIRE(static_cast<bool>(newcomer));
    BOOST_TEST(reused); // the kernel hands out the lowest free fd; if not, the case proves nothing
    BOOST_TEST(newcomer->reads == 0);
    BOOST_TEST(newcomer->closes == 0);
    BOOST_TEST(a->reads + b->reads == 1);
}

// Channels made inside a handler join the loop from the next pass and work normally.
BOOST_DATA_TEST_CASE(add_channels_inside_a_handler, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    asyncore::socket pa;
    auto a = channel_with_peer(map, pa);
    std::vector<asyncore::socket> peers(10);
    std::vector<asyncore::ref<scripted>> made;
    a->on_read = [&](scripted& s) {
        s.recv(16);
        for (auto& p : peers) {
            auto ch = channel_with_peer(map, p);
            ch->on_read = [](scripted& c) { c.recv(16); };
            made.push_back(ch);
        }
    };
    pa.send_some("x", 1);
    pass(map, backend);
    BOOST_TEST_REQUIRE(made.size() == 10u);
    BOOST_TEST(map.size() == 11u);
    for (auto& p : peers) p.send_some("y", 1);
    for (int i = 0; i < 20; ++i) {
        bool all = true;
        for (auto& m : made) all = all && m->reads > 0;
        if (all) break;
        pass(map, backend);
    }
    for (auto& m : made) BOOST_TEST(m->reads == 1);
}

// bpo-30985: read and hang-up arrive together; the read sees EOF and handle_close runs. The hang-up must not
// run handle_close again — even when the user's handle_close leaves the channel open, in which case the loop
// closes it rather than report the hang-up on every pass forever.
BOOST_DATA_TEST_CASE(handle_close_at_most_once, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    asyncore::socket peer;
    auto ch = channel_with_peer(map, peer);
    ch->on_read = [](scripted& s) {
        char buf[64];
        while (s.recv(buf, sizeof buf) > 0) {
        }
    };
    ch->on_close = [](scripted&) {}; // does not close
    peer.send_some("data", 4);
    peer.close();
    for (int i = 0; i < 10 && map.size() == 1; ++i) pass(map, backend);
    BOOST_TEST(ch->closes == 1);
    BOOST_TEST(ch->closing());
    BOOST_TEST(map.empty());
}

// handle_error that itself throws: the loop closes that channel and keeps serving the others.
BOOST_DATA_TEST_CASE(throwing_handle_error_closes_only_that_channel, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    asyncore::socket pa, pb;
    auto bad = channel_with_peer(map, pa);
    auto good = channel_with_peer(map, pb);
    bad->on_read = [](scripted&) { throw std::runtime_error("in handle_read"); };
    bad->on_error = [](scripted&) { throw std::logic_error("in handle_error"); };
    good->on_read = [](scripted& s) { s.recv(16); };
    pa.send_some("x", 1);
    pb.send_some("x", 1);
    for (int i = 0; i < 10 && good->reads == 0; ++i) pass(map, backend);
    BOOST_TEST(bad->errors == 1);
    BOOST_TEST(bad->last_error == "std::runtime_error: in handle_read");
    BOOST_TEST(bad->fileno() == -1);
    BOOST_TEST(good->reads == 1);
    BOOST_TEST(map.size() == 1u);
}

// exit_now leaves loop() at once, from a handler and from a timer.
BOOST_DATA_TEST_CASE(exit_now_leaves_the_loop, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    asyncore::socket peer;
    auto ch = channel_with_peer(map, peer);
    ch->on_read = [](scripted&) { throw asyncore::exit_now(); };
    peer.send_some("x", 1);
    BOOST_CHECK_THROW(asyncore::loop({.timeout = 1s, .backend = backend, .map = &map}), asyncore::exit_now);
    BOOST_TEST(ch->errors == 0);
    BOOST_TEST(map.size() == 1u);

    ch->want_read = [] { return false; };
    ch->refresh_interest();
    map.call_later(0s, [] { throw asyncore::exit_now(); });
    BOOST_CHECK_THROW(asyncore::loop({.timeout = 1s, .backend = backend, .map = &map}), asyncore::exit_now);
}

// A user-owned channel (on the stack) leaves its map when destroyed, and the map never deletes it.
BOOST_DATA_TEST_CASE(user_owned_channel_leaves_map_on_destruction, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    asyncore::socket peer;
    {
        auto [mine, theirs] = socket_pair();
        peer = std::move(theirs);
        scripted local(std::move(mine), &map);
        BOOST_TEST(map.size() == 1u);
        pass(map, backend);
    }
    BOOST_TEST(map.empty());
    pass(map, backend); // the poller must have forgotten the fd
}

BOOST_AUTO_TEST_SUITE_END()
