// asyncore::graceful_loop and asyncore::listener in one process, on every backend: the drain lets a
// dispatcher_with_send finish its buffer, closes the listener at once, and cuts off a peer that never reads at the
// shutdown timeout. The peer is a plain blocking socket on a thread of its own, so that it reads while the loop runs.
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <asyncore/asyncore.hpp>

#include "test_support.hpp"

namespace bdata = boost::unit_test::data;
using namespace std::chrono_literals;

namespace test_graceful {

// Sends `size` bytes as soon as it is accepted; what the socket does not take waits in out_buffer().
class sender final : public asyncore::dispatcher_with_send {
public:
    sender(asyncore::socket sock, asyncore::socket_map* map, std::size_t size)
        : dispatcher_with_send(std::move(sock), map) {
        send(std::string(size, 'x'));
    }
    void handle_read() override { recv(4096); }
    void handle_close() override { close(); }
};

class sending_listener final : public asyncore::listener {
public:
    sending_listener(asyncore::socket_map* map, std::size_t size)
        : listener(asyncore::address::ipv4("127.0.0.1", 0), 16, map), map_(map), size_(size) {}
    void handle_accepted(asyncore::socket sock, asyncore::address) override {
        asyncore::make<sender>(std::move(sock), map_, size_);
        ++accepted;
    }
    int accepted = 0;

private:
    asyncore::socket_map* map_;
    std::size_t size_;
};

int connect_to(std::uint16_t port, int receive_buffer) {
    const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ::setsockopt(s, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    timeval tv{20, 0};
    ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::connect(s, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0);
    return s;
}

// Bytes read until EOF (or an error, or the 20 s receive timeout).
std::size_t read_to_end(int s) {
    std::size_t total = 0;
    char buf[65536];
    for (ssize_t n; (n = ::recv(s, buf, sizeof buf, 0)) > 0;) total += static_cast<std::size_t>(n);
    return total;
}

BOOST_AUTO_TEST_SUITE(graceful)

BOOST_DATA_TEST_CASE(the_drain_lets_queued_output_finish, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    constexpr std::size_t size = 8u << 20;
    asyncore::graceful_loop stopper({.backend = backend, .map = &map, .shutdown_timeout = 20s, .on_stop = {}});
    auto lst = asyncore::make<sending_listener>(&map, size);
    const auto port = lst->sock().getsockname().port();
    std::atomic<std::size_t> got{0};
    std::thread peer([&] {
        const int s = connect_to(port, 16384);
        got = read_to_end(s);
        ::close(s);
    });
    // Stopped once the sender has its buffer queued: most of the 8 MiB is then still in out_buffer().
    std::function<void()> stop_when_accepted = [&] {
        if (lst->accepted == 0) {
            map.call_later(5ms, stop_when_accepted);
            return;
        }
        stopper.stop();
    };
    map.call_later(0s, stop_when_accepted);
    stopper.run();
    peer.join();
    BOOST_TEST(got.load() == size);
    BOOST_TEST(!lst->accepting());
    BOOST_TEST(map.size() == 1u); // the signal watcher alone: it stays until the graceful_loop goes
}

BOOST_DATA_TEST_CASE(a_peer_that_never_reads_is_cut_off, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    constexpr std::size_t size = 32u << 20;
    asyncore::graceful_loop stopper({.backend = backend, .map = &map, .shutdown_timeout = 300ms, .on_stop = {}});
    auto lst = asyncore::make<sending_listener>(&map, size);
    const int s = connect_to(lst->sock().getsockname().port(), 4096);
    std::function<void()> stop_when_accepted = [&] {
        if (lst->accepted == 0) {
            map.call_later(5ms, stop_when_accepted);
            return;
        }
        stopper.stop();
    };
    map.call_later(0s, stop_when_accepted);
    const auto began = std::chrono::steady_clock::now();
    stopper.run();
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    BOOST_TEST(took >= 0.15, "the drain ended after " << took << " s, before its timeout");
    BOOST_TEST(map.size() == 1u); // the signal watcher alone: it stays until the graceful_loop goes
    BOOST_TEST(read_to_end(s) < size);
    ::close(s);
}

// drain_delay: after the signal the server still listens and serves, draining() already true (a readiness check
// says 503), and only then drains. A client that connects after the stop is accepted and gets all of its reply.
BOOST_DATA_TEST_CASE(during_the_drain_delay_new_connections_are_still_served, bdata::make(test_support::backends()),
                     backend) {
    asyncore::socket_map map;
    constexpr std::size_t size = 1u << 20;
    asyncore::graceful_loop stopper(
        {.backend = backend, .map = &map, .shutdown_timeout = 20s, .on_stop = {}, .drain_delay = 1500ms});
    auto lst = asyncore::make<sending_listener>(&map, size);
    const auto port = lst->sock().getsockname().port();
    std::atomic<bool> stopped{false};
    std::atomic<std::size_t> got{0};
    std::thread peer([&] {
        while (!stopped) std::this_thread::sleep_for(1ms);
        const int s = connect_to(port, 16384);
        got = read_to_end(s);
        ::close(s);
    });
    bool listening_while_draining = false;
    std::function<void()> watch = [&] {
        if (lst->accepted == 0) {
            map.call_later(5ms, watch);
            return;
        }
        listening_while_draining = stopper.draining() && lst->accepting();
    };
    map.call_later(0s, [&] {
        stopper.stop();
        stopped = true;
        watch();
    });
    stopper.run();
    peer.join();
    BOOST_TEST(lst->accepted == 1);
    BOOST_TEST(listening_while_draining);
    BOOST_TEST(got.load() == size);
    BOOST_TEST(!lst->accepting());
}

BOOST_AUTO_TEST_SUITE_END()

} // namespace test_graceful
