// Hosting: asynchat channels registered into an application's own io_context, run by io.run() beside native
// Asio code on the same thread, with no asyncore::loop() at all. (The behaviour suites of core and chat run on
// the "asio" backend through their backend parameter; this file covers what only hosting has.)
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <asynchat/asio.hpp>
#include <asynchat/async_chat.hpp>
#include <asyncore/asyncore.hpp>

using namespace std::chrono_literals;
namespace net = boost::asio;

namespace hosting {

std::vector<std::thread::id> threads_seen;

struct line_echo : asynchat::async_chat {
    std::string line;
    explicit line_echo(asyncore::socket s, asyncore::socket_map* m) : async_chat(std::move(s), m) {
        set_terminator("\n");
    }
    void collect_incoming_data(std::string_view d) override { line.append(d); }
    void found_terminator() override {
        threads_seen.push_back(std::this_thread::get_id());
        push("echo: " + line + "\n");
        line.clear();
    }
};

struct listener : asyncore::dispatcher {
    explicit listener(asyncore::socket_map* m) : dispatcher(m) {
        create_socket(AF_INET);
        set_reuse_addr();
        bind(asyncore::address::ipv4("127.0.0.1", 0));
        listen(16);
    }
    void handle_accepted(asyncore::socket s, asyncore::address) override {
        asyncore::make<line_echo>(std::move(s), &map());
    }
};

// Runs io one handler at a time until done() or the hang guard fires; false if the guard fired.
template <class Done> bool run_until(net::io_context& io, Done done, std::chrono::seconds guard = 10s) {
    net::steady_timer timer(io, guard);
    bool expired = false;
    timer.async_wait([&](boost::system::error_code ec) { expired = !ec; });
    while (!done() && !expired) io.run_one();
    timer.cancel();
    io.poll(); // let the cancelled guard's handler run while `expired` still exists
    return !expired;
}

} // namespace hosting

BOOST_AUTO_TEST_SUITE(host)

// A native Asio client talks to an asynchat server in the same io_context; io.run() drives both and returns
// once the client is done and the channels are closed.
BOOST_AUTO_TEST_CASE(asynchat_server_and_native_asio_client_share_one_io_context) {
    hosting::threads_seen.clear();
    net::io_context io;
    asyncore::socket_map map;
    asynchat::asio_transport::host host(io, map);
    auto server = asyncore::make<hosting::listener>(&map);
    const auto port = server->sock().getsockname().port();

    net::ip::tcp::socket client(io);
    std::string reply(std::string("echo: hello\necho: world\n").size(), '\0');
    bool client_done = false;
    client.async_connect({net::ip::make_address("127.0.0.1"), port}, [&](boost::system::error_code ec) {
        BOOST_TEST_REQUIRE(!ec);
        net::async_write(client, net::buffer(std::string_view("hello\nworld\n")), [&](boost::system::error_code wec,
                                                                                      std::size_t) {
            BOOST_TEST_REQUIRE(!wec);
            net::async_read(client, net::buffer(reply), [&](boost::system::error_code rec, std::size_t) {
                BOOST_TEST_REQUIRE(!rec);
                client_done = true;
                client.close();
                server->close(); // the map empties once the server's channel sees the EOF
            });
        });
    });
    BOOST_TEST_REQUIRE(hosting::run_until(io, [&] { return client_done && map.empty(); }));
    BOOST_TEST(reply == "echo: hello\necho: world\n");
    // Both messages were handled by io's handlers, on this thread.
    BOOST_TEST(hosting::threads_seen.size() == 2u);
    for (auto id : hosting::threads_seen) BOOST_TEST((id == std::this_thread::get_id()));
}

// call_later on a hosted map rides Asio's timer: order by deadline, ties by creation, cancellation, and a timer
// added from a native handler while io is already running.
BOOST_AUTO_TEST_CASE(call_later_fires_in_order_from_io_run) {
    net::io_context io;
    asyncore::socket_map map;
    asynchat::asio_transport::host host(io, map);
    std::string order;
    map.call_later(30ms, [&] { order += 'c'; });
    map.call_later(10ms, [&] { order += 'a'; });
    map.call_later(10ms, [&] { order += 'b'; });
    auto dropped = map.call_later(5ms, [&] { order += 'X'; });
    dropped.cancel();
    net::steady_timer native(io, 1ms);
    native.async_wait([&](boost::system::error_code) { map.call_later(0ms, [&] { order += '0'; }); });
    BOOST_TEST_REQUIRE(hosting::run_until(io, [&] { return order.size() == 4; }));
    BOOST_TEST(order == "0abc");
    BOOST_TEST(map.pending_timers() == 0u);
}

// exit_now thrown by a hosted channel's handler leaves io.run(), as it leaves asyncore::loop().
BOOST_AUTO_TEST_CASE(exit_now_leaves_io_run) {
    struct quitter : asyncore::dispatcher {
        using dispatcher::dispatcher;
        void handle_read() override { throw asyncore::exit_now(); }
        bool writable() override { return false; }
    };
    net::io_context io;
    asyncore::socket_map map;
    asynchat::asio_transport::host host(io, map);
    int fds[2];
    BOOST_TEST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    asyncore::socket peer = asyncore::socket::adopt(fds[1]);
    auto q = asyncore::make<quitter>(asyncore::socket::adopt(fds[0]), &map);
    peer.send_some("x", 1);
    BOOST_CHECK_THROW(io.run_for(5s), asyncore::exit_now);
    BOOST_TEST(map.size() == 1u); // the channel is not closed by exit_now
}

// Destroying the host hands the map back: a native loop() serves the same channels afterwards.
BOOST_AUTO_TEST_CASE(map_outlives_its_host) {
    hosting::threads_seen.clear();
    asyncore::socket_map map;
    int fds[2];
    BOOST_TEST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    asyncore::socket peer = asyncore::socket::adopt(fds[1]);
    auto chat = asyncore::make<hosting::line_echo>(asyncore::socket::adopt(fds[0]), &map);
    {
        net::io_context io;
        asynchat::asio_transport::host host(io, map);
        peer.send_some("one\n", 4);
        BOOST_TEST_REQUIRE(hosting::run_until(io, [&] { return hosting::threads_seen.size() == 1; }));
    }
    peer.send_some("two\n", 4);
    asyncore::loop({.timeout = 10ms, .backend = "epoll", .map = &map, .count = 50});
    BOOST_TEST(hosting::threads_seen.size() == 2u);
    peer.set_blocking(false);
    char buf[64];
    std::string got;
    for (auto n = peer.recv_some(buf, sizeof buf); n > 0; n = peer.recv_some(buf, sizeof buf))
        got.append(buf, static_cast<std::size_t>(n));
    BOOST_TEST(got == "echo: one\necho: two\n");
}

BOOST_AUTO_TEST_SUITE_END()
