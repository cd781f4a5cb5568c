// Allocations on the output path, counted by replacing the global operator new for this test binary: a steady
// stream of small pushes must allocate nothing once the first burst has warmed the chunk pool (issue 12: "no
// std::string per message in serve echo").
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>

#include <sys/socket.h>

#include <boost/test/unit_test.hpp>

#include <asynchat/async_chat.hpp>
#include <asynchat/output_queue.hpp>
#include <asyncore/socket_map.hpp>

#include "socket_pair.hpp"

namespace {
std::atomic<std::size_t> allocations{0};
} // namespace

// Counting replacements: every form forwards to malloc/free, so the sanitizers still see each block.
void* operator new(std::size_t n) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace test_output_allocations {

// The echo pattern of `asynchat serve echo`: each line is collected into a member string that keeps its buffer,
// and pushed by view.
class line_echo final : public asynchat::async_chat {
public:
    line_echo(asyncore::socket s, asyncore::socket_map* map) : async_chat(std::move(s), map) { set_terminator("\n"); }
    void collect_incoming_data(std::string_view data) override { line_.append(data); }
    void found_terminator() override {
        line_ += '\n';
        push(std::string_view(line_));
        line_.clear();
    }

private:
    std::string line_;
};

BOOST_AUTO_TEST_SUITE(output_allocations)

BOOST_AUTO_TEST_CASE(pushed_bytes_allocate_nothing_once_warm) {
    asynchat::output_queue q;
    const auto burst = [&q] {
        for (int i = 0; i < 50; ++i) q.push_bytes("a short reply line\r\n");
        iovec iov[4];
        const std::size_t n = q.gather(iov, 4, 1 << 20);
        BOOST_REQUIRE(n == 1u);
        q.consume(iov[0].iov_len);
    };
    burst();   // the first chunk, and the FIFO's first slot
    const std::size_t before = allocations.load();
    for (int i = 0; i < 1000; ++i) burst();
    BOOST_TEST(allocations.load() - before == 0u);
}

BOOST_AUTO_TEST_CASE(pushed_strings_cost_their_own_allocation) {
    // The other path, for contrast (and so the counter is known to count): a string built per message.
    asynchat::output_queue q;
    const std::size_t before = allocations.load();
    for (int i = 0; i < 100; ++i) q.push(std::string(100, 'x'));
    BOOST_TEST(allocations.load() - before >= 100u);
    q.clear();
}

BOOST_AUTO_TEST_CASE(an_echo_channel_allocates_nothing_per_message) {
    auto [mine, peer] = chat_test::socket_pair();
    asyncore::socket_map map;
    line_echo c(std::move(mine), &map);   // the loop never runs: the test calls handle_read itself
    std::string request;
    for (int i = 0; i < 16; ++i) request += "message number " + std::to_string(i) + " of a pipelined burst\n";
    std::string reply(request.size() * 2, '\0');
    const auto round = [&] {
        BOOST_REQUIRE(::send(peer.fileno(), request.data(), request.size(), 0) == static_cast<ssize_t>(request.size()));
        c.handle_read();   // frames 16 lines, pushes 16 replies, sends them when the read ends
        const ssize_t n = ::recv(peer.fileno(), reply.data(), reply.size(), 0);
        BOOST_REQUIRE(n == static_cast<ssize_t>(request.size()));
    };
    round();   // warms the receive buffer, the line buffer, the chunk pool and the FIFO
    const std::size_t before = allocations.load();
    for (int i = 0; i < 500; ++i) round();
    BOOST_TEST(allocations.load() - before == 0u, "allocations per message: "
                                                      << double(allocations.load() - before) / (500.0 * 16));
    BOOST_TEST(std::string_view(reply.data(), request.size()) == request);
}

BOOST_AUTO_TEST_SUITE_END()

} // namespace test_output_allocations
