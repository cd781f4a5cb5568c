// asynchat::serve with workers (serve_options::workers): each worker's accept is made on its own thread, the
// connections are spread to the worker with the fewest open, each channel lives on its worker's loop (the thread's
// default map), max_connections holds for the sum, exit_now from any worker's handler ends every loop, and a chat
// room spans the workers (chat_hub). On every backend. A client thread holds the connections open, so the spread can be counted exactly.
#include <atomic>
#include <csignal>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <asyncore/asyncore.hpp>
#include <asynchat/line/chat_room.hpp>
#include <asynchat/serve.hpp>
#include <asynchat/service_connection.hpp>

#include "test_support.hpp"

namespace bdata = boost::unit_test::data;

namespace test_serve_workers {

// What the workers saw, written from their threads.
struct seen {
    std::mutex mutex;
    std::set<std::thread::id> factory_threads; // where each worker's accept was made
    std::set<std::thread::id> channel_threads; // where channels ran their handlers
    int factories = 0;
};

// Answers "who\n" with its worker's index; "quit\n" ends the server (exit_now, from whichever worker).
struct worker_channel final : asynchat::service_connection<asynchat::async_chat> {
    unsigned index;
    seen& out;
    worker_channel(asyncore::socket sock, unsigned i, seen& o, asynchat::service_stats* stats)
        : service_connection("test", stats, std::move(sock)), index(i), out(o) {
        set_terminator("\n");
    }
    void collect_incoming_data(std::string_view data) override { line_.append(data); }
    void found_terminator() override {
        {
            std::lock_guard lock(out.mutex);
            out.channel_threads.insert(std::this_thread::get_id());
        }
        const std::string line = std::exchange(line_, {});
        if (line == "quit") throw asyncore::exit_now();
        push(std::to_string(index) + "\n");
    }
    std::string line_;
};

int connect_to(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in where{};
    where.sin_family = AF_INET;
    where.sin_port = htons(port);
    where.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&where), sizeof where) != 0) return -1;
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

// The next line up to its CRLF, without it ("" on EOF or timeout).
std::string read_crlf_line(int fd) {
    std::string line;
    char c;
    while (::recv(fd, &c, 1, 0) == 1) {
        if (c == '\n') return line.ends_with('\r') ? line.substr(0, line.size() - 1) : line;
        line += c;
    }
    return line;
}

// Sends `line` and reads the reply up to its "\n" ("" on EOF or timeout).
std::string ask(int fd, const std::string& line) {
    if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) return "";
    std::string reply;
    char c;
    while (::recv(fd, &c, 1, 0) == 1) {
        if (c == '\n') return reply;
        reply += c;
    }
    return reply;
}

} // namespace test_serve_workers

using namespace test_serve_workers;

BOOST_AUTO_TEST_SUITE(serve_workers)

BOOST_DATA_TEST_CASE(connections_are_spread_over_the_workers_loops, bdata::make(test_support::backends()), backend) {
    constexpr unsigned workers = 3;
    constexpr int connections = 12;
    seen out;
    std::vector<asynchat::service_stats> stats(workers);
    std::atomic<std::uint16_t> port{0};
    std::vector<std::string> answers;
    std::thread client([&] {
        while (port == 0) std::this_thread::yield();
        std::vector<int> fds;
        for (int i = 0; i < connections; ++i) {
            fds.push_back(connect_to(port));
            answers.push_back(ask(fds.back(), "who\n")); // answered before the next connects: its load is counted
        }
        ::send(fds.front(), "quit\n", 5, MSG_NOSIGNAL); // no answer: the server ends
        for (int fd : fds) ::close(fd);
    });
    asynchat::serve(
        {.name = "spread",
         .where = asyncore::address::ipv4("127.0.0.1", 0),
         .accept = {},
         .accept_for_worker =
             [&](unsigned index, asynchat::service_stats* st) {
                 {
                     std::lock_guard lock(out.mutex);
                     out.factory_threads.insert(std::this_thread::get_id());
                     ++out.factories;
                 }
                 return std::function<void(asyncore::socket)>([&out, index, st](asyncore::socket s) {
                     asyncore::make<worker_channel>(std::move(s), index, out, st);
                 });
             },
         .stats = stats.data()},
        {.backend = backend,
         .workers = workers,
         .on_listening = [&](const asynchat::service&, std::size_t, const std::string& where) {
             port = asyncore::address::parse(where).port();
         }});
    asyncore::close_all(); // exit_now leaves the channels of the worker that threw it (this thread's, worker 0's)
    client.join();
    BOOST_TEST(out.factories == static_cast<int>(workers));
    BOOST_TEST(out.factory_threads.size() == workers);
    BOOST_TEST(out.channel_threads.size() == workers, "every worker's loop ran channels");
    std::vector<int> per_worker(workers, 0);
    for (const auto& a : answers) {
        BOOST_REQUIRE_MESSAGE(a.size() == 1 && a[0] >= '0' && a[0] < char('0' + workers), "answer '" << a << "'");
        ++per_worker[static_cast<std::size_t>(a[0] - '0')];
    }
    for (unsigned w = 0; w < workers; ++w) {
        BOOST_TEST(per_worker[w] == connections / static_cast<int>(workers), "worker " << w); // fewest open first
        BOOST_TEST(stats[w].connections_accepted == static_cast<std::uint64_t>(connections / static_cast<int>(workers)));
        BOOST_TEST(stats[w].connections_open == 0u, "every channel closed at the end");
    }
}

// max_connections is the service's, not each worker's: with 2 workers and a limit of 3, the fourth connection
// gets the busy reply while three are open on whichever workers.
BOOST_DATA_TEST_CASE(max_connections_holds_for_the_sum_of_the_workers, bdata::make(test_support::backends()),
                     backend) {
    seen out;
    std::vector<asynchat::service_stats> stats(2);
    std::atomic<std::uint16_t> port{0};
    std::string fourth;
    std::thread client([&] {
        while (port == 0) std::this_thread::yield();
        std::vector<int> fds;
        for (int i = 0; i < 3; ++i) {
            fds.push_back(connect_to(port));
            ask(fds.back(), "who\n");
        }
        const int extra = connect_to(port);
        char buf[64];
        const auto n = ::recv(extra, buf, sizeof buf, 0);
        fourth = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
        ::close(extra);
        ::send(fds.front(), "quit\n", 5, MSG_NOSIGNAL); // no answer: the server ends
        for (int fd : fds) ::close(fd);
    });
    asynchat::serve({.name = "limited",
                     .where = asyncore::address::ipv4("127.0.0.1", 0),
                     .accept = {},
                     .accept_for_worker =
                         [&](unsigned index, asynchat::service_stats* st) {
                             return std::function<void(asyncore::socket)>([&out, index, st](asyncore::socket s) {
                                 asyncore::make<worker_channel>(std::move(s), index, out, st);
                             });
                         },
                     .stats = stats.data(),
                     .max_connections = 3,
                     .over_capacity_reply = "busy\n"},
                    {.backend = backend,
                     .workers = 2,
                     .on_listening = [&](const asynchat::service&, std::size_t, const std::string& where) {
                         port = asyncore::address::parse(where).port();
                     }});
    asyncore::close_all();
    client.join();
    BOOST_TEST(fourth == "busy\n");
    BOOST_TEST(stats[0].connections_accepted + stats[1].connections_accepted == 3u);
}

// A chat room over the workers (asynchat::line::chat_hub): members on different workers' loops hear each other,
// and guest numbers are unique across them. The server is stopped as an operator would, with SIGTERM: every
// worker's graceful_loop hears it.
BOOST_DATA_TEST_CASE(chat_members_on_different_workers_talk, bdata::make(test_support::backends()), backend) {
    asynchat::line::chat_hub hub;
    std::vector<asynchat::service_stats> stats(2);
    std::atomic<std::uint16_t> port{0};
    std::string hello_a, hello_b, heard_by_b, heard_by_a;
    std::thread client([&] {
        while (port == 0) std::this_thread::yield();
        const int a = connect_to(port);
        hello_a = read_crlf_line(a);
        const int b = connect_to(port); // a has one open: b goes to the other worker
        hello_b = read_crlf_line(b);
        ::send(a, "hi from a\n", 10, MSG_NOSIGNAL);
        heard_by_b = read_crlf_line(b);
        ::send(b, "hi from b\n", 10, MSG_NOSIGNAL);
        heard_by_a = read_crlf_line(a);
        ::kill(::getpid(), SIGTERM);
        read_crlf_line(a); // "BYE server shutting down", then the close
        read_crlf_line(b);
        ::close(a);
        ::close(b);
    });
    asynchat::serve({.name = "room",
                     .where = asyncore::address::ipv4("127.0.0.1", 0),
                     .accept = {},
                     .accept_for_worker =
                         [&](unsigned, asynchat::service_stats* st) {
                             auto room = std::make_shared<asynchat::line::chat_room>(
                                 hub, asyncore::socket_map::default_map(), asynchat::line::chat_options{}, st);
                             return std::function<void(asyncore::socket)>(
                                 [room](asyncore::socket s) { room->join(std::move(s)); });
                         },
                     .stats = stats.data()},
                    {.backend = backend,
                     .workers = 2,
                     .on_listening = [&](const asynchat::service&, std::size_t, const std::string& where) {
                         port = asyncore::address::parse(where).port();
                     }});
    client.join();
    BOOST_TEST(stats[0].connections_accepted == 1u);
    BOOST_TEST(stats[1].connections_accepted == 1u);
    BOOST_REQUIRE(hello_a.starts_with("HELLO guest-"));
    BOOST_REQUIRE(hello_b.starts_with("HELLO guest-"));
    BOOST_TEST(hello_a != hello_b);
    BOOST_TEST(heard_by_b == "<" + hello_a.substr(6) + "> hi from a");
    BOOST_TEST(heard_by_a == "<" + hello_b.substr(6) + "> hi from b");
}

BOOST_AUTO_TEST_SUITE_END()
