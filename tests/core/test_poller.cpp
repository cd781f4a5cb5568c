// What every backend owes the loop (poller.hpp), beyond the Python suite: level-triggered reports, interest
// changes while a wait is armed, a removed fd released at once; and the registry's answer for a backend the
// kernel refuses. One suite over every backend.
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

#include "scripted.hpp"
#include "test_support.hpp"

namespace bdata = boost::unit_test::data;
using namespace std::chrono_literals;
using test_support::scripted;

namespace {

bool listed(const std::string& name) {
    const auto names = asyncore::backend_names();
    return std::find(names.begin(), names.end(), name) != names.end();
}

// Runs passes until done() or 100 passes of up to 100 ms each: every wait returns as soon as an event is in.
template <class Done>
void run_until(asyncore::socket_map& map, const std::string& backend, Done done) {
    for (int i = 0; i < 100 && !done(); ++i) map.run_pass(100ms, backend);
}

} // namespace

BOOST_AUTO_TEST_SUITE(poller_contract)

// Level-triggered: a handler that reads one byte of three is told again on the following passes, with no new
// input, until the socket is drained. An edge-triggered backend (io_uring's multishot poll, epoll with EPOLLET)
// reports the first byte only.
BOOST_DATA_TEST_CASE(unread_input_is_reported_again, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    auto [mine, peer] = test_support::socket_pair();
    auto ch = asyncore::make<scripted>(std::move(mine), &map);
    std::string got;
    ch->on_read = [&](scripted& c) {
        char byte;
        if (c.recv(&byte, 1) == 1) got += byte;
    };
    BOOST_TEST_REQUIRE(peer.send_some("abc", 3) == 3);
    run_until(map, backend, [&] { return got.size() == 3; });
    BOOST_TEST(got == "abc");
    BOOST_TEST(ch->reads == 3);
}

// An fd that is always ready stays reported on every pass, not only on the first.
BOOST_DATA_TEST_CASE(still_writable_is_reported_every_pass, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    auto [mine, peer] = test_support::socket_pair();
    auto ch = asyncore::make<scripted>(std::move(mine), &map);
    ch->want_read = [] { return false; };
    ch->want_write = [] { return true; };
    run_until(map, backend, [&] { return ch->writes == 3; });
    BOOST_TEST(ch->writes == 3);
}

// Ordinary input is not urgent data: a channel waiting for input hears handle_read, never handle_expt. (A poll
// woken by the socket's wait queue carries the wake-up's key, which names POLLPRI for any input: io_uring's
// completions do.)
BOOST_DATA_TEST_CASE(input_arriving_while_waiting_is_not_urgent, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    auto [mine, peer] = test_support::socket_pair();
    auto ch = asyncore::make<scripted>(std::move(mine), &map);
    std::string got;
    ch->on_read = [&](scripted& c) {
        char buf[8];
        auto n = c.recv(buf, sizeof buf);
        if (n > 0) got.append(buf, static_cast<std::size_t>(n));
    };
    map.run_pass(0ms, backend); // now waiting for input
    BOOST_TEST_REQUIRE(peer.send_some("x", 1) == 1);
    run_until(map, backend, [&] { return !got.empty(); });
    map.run_pass(0ms, backend);
    BOOST_TEST(got == "x");
    BOOST_TEST(ch->expts == 0);
}

// A signal that interrupts the wait loses no event: here the signal's own handler makes the event (it writes to
// the self-pipe of asyncore::on_signals), so it is ready just as the interrupted wait returns. An EINTR may end
// a pass without events, but the event must come in the next pass, not wait for some other fd's. The sender
// repeats the signal every 2 s while it is not seen, so a backend that held the event back until another
// completion is interrupted again and again and fails after 3 passes.
BOOST_DATA_TEST_CASE(a_signal_during_the_wait_loses_no_event, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    std::atomic<bool> seen{false};
    auto watcher = asyncore::on_signals({SIGUSR1}, [&] { seen = true; }, &map);
    map.run_pass(0ms, backend); // the watcher registered
    const pthread_t waiting = ::pthread_self();
    std::thread sender([&] {
        std::this_thread::sleep_for(100ms); // into the first wait
        for (int i = 0; i < 4 && !seen; ++i) {
            ::pthread_kill(waiting, SIGUSR1);
            for (int j = 0; j < 100 && !seen; ++j) std::this_thread::sleep_for(20ms);
        }
    });
    for (int i = 0; i < 3 && !seen; ++i) map.run_pass(30s, backend);
    const bool delivered = seen;
    seen = true;
    sender.join();
    watcher->close();
    BOOST_TEST(delivered);
}

// Interest changed while the backend is waiting on the fd: write interest added to a channel already waiting
// for input is reported on the next pass, and once taken away again it is not.
BOOST_DATA_TEST_CASE(interest_changes_while_waiting, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    auto [mine, peer] = test_support::socket_pair();
    auto ch = asyncore::make<scripted>(std::move(mine), &map);
    bool want_write = false;
    ch->want_write = [&] { return want_write; };
    map.run_pass(0ms, backend); // registered for input only, nothing to read
    BOOST_TEST(ch->reads + ch->writes == 0);
    want_write = true;
    ch->refresh_interest();
    run_until(map, backend, [&] { return ch->writes > 0; });
    BOOST_TEST(ch->writes == 1);
    BOOST_TEST(ch->reads == 0);
    want_write = false; // asked again after the event: input only from now on
    std::string got;
    ch->on_read = [&](scripted& c) {
        char buf[8];
        auto n = c.recv(buf, sizeof buf);
        if (n > 0) got.append(buf, static_cast<std::size_t>(n));
    };
    BOOST_TEST_REQUIRE(peer.send_some("x", 1) == 1);
    run_until(map, backend, [&] { return !got.empty(); });
    BOOST_TEST(got == "x");
    BOOST_TEST(ch->writes == 1);
}

// A wait with nothing to report blocks for its timeout, even when the fd holds a state the loop did not ask
// about: here the peer has shut its side (POLLRDHUP, which io_uring's polls always report) while the channel only
// waits to write into a full socket. A backend that re-polled such an fd on every pass would return at once,
// every pass: a busy loop for as long as the peer does not read. One early return (the first look at the fd) is
// allowed; the bound below is on elapsed time from below, which a slow machine can only make longer.
BOOST_DATA_TEST_CASE(a_state_not_asked_for_does_not_end_every_wait, bdata::make(test_support::backends()), backend) {
    auto [mine, peer] = test_support::socket_pair();
    const std::string block(4096, 'x');
    while (mine.send_some(block.data(), block.size()) > 0) {
    }
    peer.shutdown(SHUT_WR);
    auto poller = asyncore::make_poller(backend);
    poller->add(mine.fileno(), POLLOUT);
    constexpr int waits = 5;
    constexpr auto each = 200ms;
    std::size_t events = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < waits; ++i) events += poller->wait(static_cast<int>(each.count())).size();
    const auto elapsed = std::chrono::steady_clock::now() - start;
    BOOST_TEST(events == 0u);
    BOOST_TEST(elapsed >= (waits - 2) * each, "5 waits of 200 ms took "
                                                  << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
                                                  << " ms");
    poller->remove(mine.fileno());
}

// A channel closed while the backend waits on its fd really closes its socket then: the peer sees the end of
// the stream without another pass. (io_uring holds a reference to the file of every request in flight, so a
// removal left for the next pass would keep the connection open.)
BOOST_DATA_TEST_CASE(closed_while_waiting_releases_the_socket, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    auto [mine, peer] = test_support::socket_pair();
    auto ch = asyncore::make<scripted>(std::move(mine), &map);
    map.run_pass(0ms, backend); // now waiting for input
    ch->close();
    pollfd p{peer.fileno(), POLLIN, 0};
    BOOST_TEST_REQUIRE(::poll(&p, 1, 5000) == 1);
    char byte;
    BOOST_TEST(peer.recv_some(&byte, 1) == 0);
}

// A listener closed while connections keep arriving really closes: the next connect is refused. On io_uring the
// removal of a poll that is posting a completion at that moment fails (EALREADY), and a poll left armed holds the
// file, so the closed listener went on taking connections into its backlog. A race, so many rounds, each with a
// thread connecting as fast as it can while the loop runs and the listener closes.
BOOST_DATA_TEST_CASE(a_listener_closed_while_connections_arrive_refuses_the_next, bdata::make(test_support::backends()),
                     backend) {
    struct accepting final : asyncore::dispatcher {
        explicit accepting(asyncore::socket_map* m) : dispatcher(m) {
            create_socket(AF_INET);
            bind(asyncore::address::ipv4("127.0.0.1", 0));
            listen(128);
        }
        void handle_accepted(asyncore::socket, asyncore::address) override {} // the connection closes at once
    };
    for (int round = 0; round < 40; ++round) {
        asyncore::socket_map map;
        auto listener = asyncore::make<accepting>(&map);
        const auto to = listener->sock().getsockname();
        std::atomic<bool> stop{false};
        std::thread connector([&] {
            while (!stop.load()) {
                const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (fd < 0) continue;
                (void)::connect(fd, to.data(), to.size());
                ::close(fd);
            }
        });
        for (int pass = 0; pass < 3 + round % 5; ++pass) map.run_pass(1ms, backend);
        listener->close();
        for (int pass = 0; pass < 3; ++pass) map.run_pass(1ms, backend);
        stop = true;
        connector.join();
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        BOOST_TEST_REQUIRE(fd >= 0);
        const int rc = ::connect(fd, to.data(), to.size());
        const int err = errno;
        ::close(fd);
        BOOST_TEST_REQUIRE((rc == -1 && err == ECONNREFUSED), "round " << round << ": the closed listener accepted");
    }
}

// The registry's answer for a backend the kernel refuses (io_uring under io_uring_disabled=2, a seccomp
// filter, an old kernel): not listed, so that suites and bench/run skip it, and asking for it says why.
BOOST_AUTO_TEST_CASE(refused_backend_is_not_listed_and_says_why) {
    static const char* const name = "refused-for-test";
    if (!listed(name)) {
        asyncore::register_backend({name, [] { return asyncore::make_poller("poll"); },
                                    [] { return std::string("Operation not permitted"); }});
    }
    BOOST_TEST(!listed(name));
    try {
        asyncore::make_poller(name);
        BOOST_FAIL("expected std::invalid_argument");
    } catch (const std::invalid_argument& e) {
        BOOST_TEST(std::string(e.what()) == "asyncore: refused-for-test unavailable: Operation not permitted");
    }
    asyncore::socket_map map;
    BOOST_CHECK_THROW(map.run_pass(0ms, name), std::invalid_argument);
}

#ifdef ASYNCHAT_HAVE_IO_URING
// io_uring is built: listed when this kernel lets it run, else refused with the kernel's reason. Under
// tests/support/deny_io_uring (the ctest test_core_loop_without_io_uring) io_uring_setup fails with EPERM, and
// the suites above run on the other backends.
BOOST_AUTO_TEST_CASE(io_uring_listed_or_refused_with_reason) {
    const bool denied = std::getenv("ASYNCHAT_IO_URING_DENIED") != nullptr;
    if (listed("io_uring")) {
        BOOST_TEST(!denied);
        BOOST_TEST(asyncore::make_poller("io_uring")->name() == "io_uring");
        return;
    }
    try {
        asyncore::make_poller("io_uring");
        BOOST_FAIL("expected std::invalid_argument");
    } catch (const std::invalid_argument& e) {
        const std::string what = e.what();
        BOOST_TEST_MESSAGE(what);
        BOOST_TEST(what.rfind("asyncore: io_uring unavailable: ", 0) == 0);
        if (denied) BOOST_TEST(what == "asyncore: io_uring unavailable: Operation not permitted");
    }
}
#endif

BOOST_AUTO_TEST_SUITE_END()
