// Many async_chat channels with input at the same moment, on every backend: each line reaches its own channel,
// however the backend reads. The cases where a transport that reads for the channels (the Asio completion
// design; io_uring's recv into its ring of shared buffers) could drop or hold back input: more channels with
// data in one pass than the ring has buffers, and a handler that leaves the loop (exit_now) while the input of
// others is already read.
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <asynchat/async_chat.hpp>
#include <asyncore/asyncore.hpp>

#include "socket_pair.hpp"
#include "test_support.hpp"

namespace bdata = boost::unit_test::data;
using namespace std::chrono_literals;

// Named, not anonymous: see test_async_chat.cpp (-Wsubobject-linkage).
namespace test_many_readers {

// Keeps the lines it receives; throws exit_now on its first one when told to.
class line_keeper : public asynchat::async_chat {
public:
    line_keeper(asyncore::socket s, asyncore::socket_map* map) : async_chat(std::move(s), map) { set_terminator("\n"); }
    std::vector<std::string> lines;
    bool leave_on_first = false;
    void collect_incoming_data(std::string_view d) override { line_.append(d); }
    void found_terminator() override {
        lines.push_back(std::exchange(line_, std::string()));
        if (leave_on_first && lines.size() == 1) throw asyncore::exit_now();
    }

private:
    std::string line_;
};

struct channel_and_peer {
    asyncore::ref<line_keeper> channel;
    asyncore::socket peer;
};

std::vector<channel_and_peer> make_pairs(asyncore::socket_map& map, std::size_t n) {
    std::vector<channel_and_peer> out;
    for (std::size_t i = 0; i < n; ++i) {
        auto [mine, theirs] = chat_test::socket_pair();
        out.push_back({asyncore::make<line_keeper>(std::move(mine), &map), std::move(theirs)});
    }
    return out;
}

std::string line_for(std::size_t i) { return "line " + std::to_string(i); }

std::size_t received(const std::vector<channel_and_peer>& pairs) {
    std::size_t n = 0;
    for (const auto& p : pairs) n += p.channel->lines.size();
    return n;
}

BOOST_AUTO_TEST_SUITE(many_readers)

// 600 channels, each with one line waiting before the pass: more than io_uring's 256 shared receive buffers, so
// some of its reads find none (ENOBUFS) and must be made again, not lost.
BOOST_DATA_TEST_CASE(more_channels_with_input_than_buffers, bdata::make(test_support::backends()), backend) {
    constexpr std::size_t channels = 600;
    if (backend == "select" || test_support::raise_fd_limit() < 2 * channels + 100) {
        BOOST_TEST_MESSAGE("skipped: select stops at FD_SETSIZE, or the fd limit is too low");
        return;
    }
    asyncore::socket_map map;
    auto pairs = make_pairs(map, channels);
    map.run_pass(0ms, backend); // every channel registered (and, where the transport reads, its read started)
    for (std::size_t i = 0; i < channels; ++i) {
        const std::string line = line_for(i) + "\n";
        BOOST_TEST_REQUIRE(pairs[i].peer.send_some(line.data(), line.size()) == static_cast<std::ptrdiff_t>(line.size()));
    }
    for (int pass = 0; pass < 200 && received(pairs) < channels; ++pass) map.run_pass(100ms, backend);
    BOOST_TEST(received(pairs) == channels);
    for (std::size_t i = 0; i < channels; ++i)
        BOOST_TEST(pairs[i].channel->lines == std::vector<std::string>{line_for(i)}, "channel " << i);
}

// A handler throws exit_now while other channels' input has arrived too: the loop leaves at once, and the next
// loop delivers every other line — none is dropped with the pass that was cut short.
BOOST_DATA_TEST_CASE(exit_now_loses_no_other_input, bdata::make(test_support::backends()), backend) {
    constexpr std::size_t channels = 20;
    asyncore::socket_map map;
    auto pairs = make_pairs(map, channels);
    for (auto& p : pairs) p.channel->leave_on_first = true;
    map.run_pass(0ms, backend);
    for (std::size_t i = 0; i < channels; ++i) {
        const std::string line = line_for(i) + "\n";
        BOOST_TEST_REQUIRE(pairs[i].peer.send_some(line.data(), line.size()) == static_cast<std::ptrdiff_t>(line.size()));
    }
    // Each line makes its channel leave the loop; each loop() call ends at the next one.
    std::size_t exits = 0;
    for (int round = 0; round < 200 && received(pairs) < channels; ++round) {
        try {
            asyncore::loop({.timeout = 100ms, .backend = backend, .map = &map, .count = 1});
        } catch (const asyncore::exit_now&) {
            ++exits;
        }
    }
    BOOST_TEST(received(pairs) == channels);
    BOOST_TEST(exits == channels);
    for (std::size_t i = 0; i < channels; ++i)
        BOOST_TEST(pairs[i].channel->lines == std::vector<std::string>{line_for(i)}, "channel " << i);
}

BOOST_AUTO_TEST_SUITE_END()

} // namespace test_many_readers
