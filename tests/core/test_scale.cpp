// Many channels: 5,000 on the backends without a descriptor ceiling, and select's FD_SETSIZE ceiling refused
// cleanly rather than written past.
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/select.h>
#include <unistd.h>

#include <chrono>
#include <vector>

#include "scripted.hpp"
#include "test_support.hpp"

namespace bdata = boost::unit_test::data;
using namespace std::chrono_literals;
using test_support::scripted;

namespace {
std::vector<std::string> unbounded_backends() {
    auto all = test_support::backends();
    std::erase(all, "select");
    return all;
}
} // namespace

BOOST_AUTO_TEST_SUITE(scale)

// 2,500 socket pairs, both ends channels: every one of the 5,000 receives one byte from its partner.
BOOST_DATA_TEST_CASE(five_thousand_channels, bdata::make(unbounded_backends()), backend) {
    if (test_support::raise_fd_limit() < 5200) {
        BOOST_TEST_MESSAGE("skipped: the hard fd limit is below 5,200");
        return;
    }
    asyncore::socket_map map;
    constexpr int pairs = 2500;
    int received = 0;
    std::vector<asyncore::ref<scripted>> channels;
    for (int i = 0; i < pairs; ++i) {
        auto [a, b] = test_support::socket_pair();
        for (auto* s : {&a, &b}) {
            auto ch = asyncore::make<scripted>(std::move(*s), &map);
            ch->on_read = [&](scripted& c) {
                char buf[8];
                if (c.recv(buf, sizeof buf) == 1) ++received;
            };
            channels.push_back(ch);
        }
    }
    BOOST_TEST(map.size() == 5000u);
    for (auto& ch : channels) BOOST_TEST_REQUIRE(::write(ch->fileno(), "x", 1) == 1); // to its partner
    for (int i = 0; i < 100 && received < 2 * pairs; ++i) map.run_pass(100ms, backend);
    BOOST_TEST(received == 2 * pairs);
    asyncore::close_all(&map);
    BOOST_TEST(map.empty());
}

// An fd at or past FD_SETSIZE on select: handle_error with a message naming the limit, the channel closed,
// the others unharmed.
BOOST_AUTO_TEST_CASE(select_refuses_fd_past_fd_setsize) {
    if (test_support::raise_fd_limit() < FD_SETSIZE + 100) {
        BOOST_TEST_MESSAGE("skipped: the hard fd limit is below FD_SETSIZE + 100");
        return;
    }
    asyncore::socket_map map;
    auto [low, low_peer] = test_support::socket_pair();
    auto [high_src, high_peer] = test_support::socket_pair();
    int high_fd = ::fcntl(high_src.fileno(), F_DUPFD_CLOEXEC, FD_SETSIZE + 10);
    BOOST_TEST_REQUIRE(high_fd >= FD_SETSIZE);
    high_src.close();
    auto high = asyncore::make<scripted>(asyncore::socket::adopt(high_fd), &map);
    auto ok = asyncore::make<scripted>(std::move(low), &map);
    ok->on_read = [](scripted& s) { s.recv(16); };
    low_peer.send_some("x", 1);
    for (int i = 0; i < 10 && ok->reads == 0; ++i) map.run_pass(50ms, "select");
    BOOST_TEST(high->errors == 1);
    BOOST_TEST(high->last_error.find("FD_SETSIZE") != std::string::npos);
    BOOST_TEST(high->fileno() == -1);
    BOOST_TEST(ok->reads == 1);
    BOOST_TEST(map.size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
