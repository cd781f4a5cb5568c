// Completion reads: on the backends that read for a channel (io_uring's recv into its shared buffers, the Asio
// transport's async_read_some), the bytes and the end of input reach the channel through the map
// (poller.hpp, completion_sink), which applies one rule on every such backend: input goes to a channel only when
// its readable() says so, asked right before; what arrives while it does not waits, in order, until it does; and a
// readable() that throws is handled as the loop handles any handler's exception (handle_error, or the loop ends
// on exit_now), the bytes waiting meanwhile. One suite over every completion backend, same outcome on each.
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "scripted.hpp"
#include "test_support.hpp"

namespace bdata = boost::unit_test::data;
using namespace std::chrono_literals;
using test_support::scripted;

// A named namespace, not an anonymous one: the lambdas of the test cases capture the fixture, and GCC
// (-Wsubobject-linkage) rejects members of internal linkage in the templates BOOST_DATA_TEST_CASE makes.
namespace test_completion {

// The backends that read on a channel's behalf, of those this build and kernel have; "" when there is none, so
// that the suite says so instead of registering no case.
std::vector<std::string> completion_backends() {
    std::vector<std::string> out;
    for (const auto& name : test_support::backends())
        if (name == "io_uring" || name == "asio") out.push_back(name);
    if (out.empty()) out.push_back("");
    return out;
}

// The case run for the "" entry says why nothing was tested.
bool skipped(const std::string& backend) {
    if (!backend.empty()) return false;
    BOOST_TEST_MESSAGE("skipped: no completion backend in this build");
    return true;
}

// A channel that takes its input from the transport. Until the transport reads for it (the Asio transport reads
// only for a channel that has had input once), readiness hands it its input and it reads for itself.
struct transport_reader : scripted {
    using scripted::scripted;
    std::string got;                // every byte it was handed, in order, whichever way
    std::size_t from_transport = 0; // of which through handle_received

    bool wants_transport_reads() const noexcept override { return connected(); }
    void handle_received(std::string_view bytes) override {
        got += bytes;
        from_transport += bytes.size();
    }
    void handle_read() override {
        ++reads;
        char buf[4096];
        got.append(buf, recv(buf, sizeof buf));
    }
};

struct fixture {
    asyncore::socket_map map;
    asyncore::socket peer;
    asyncore::ref<transport_reader> ch;
    std::string backend;

    explicit fixture(std::string b) : backend(std::move(b)) {
        auto [mine, theirs] = test_support::socket_pair();
        peer = std::move(theirs);
        ch = asyncore::make<transport_reader>(std::move(mine), &map);
    }

    void pass(std::chrono::milliseconds timeout = 20ms) { map.run_pass(timeout, backend); }
    template <class Done> bool run_until(Done done) {
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!done() && std::chrono::steady_clock::now() < deadline) pass();
        return done();
    }
    void send(std::string_view bytes) { BOOST_TEST_REQUIRE(peer.send_some(bytes.data(), bytes.size()) == static_cast<std::ptrdiff_t>(bytes.size())); }

    // One message through whichever path the backend takes first, then a few passes: from here on the transport
    // has a read in flight for the channel, and the channel is not due to be asked readable() again until an
    // event reaches it.
    void settle() {
        send("warm\n");
        BOOST_TEST_REQUIRE(run_until([&] { return ch->got == "warm\n"; }));
        for (int i = 0; i < 3; ++i) pass(0ms);
    }
};

} // namespace test_completion

using test_completion::completion_backends;
using test_completion::fixture;

BOOST_AUTO_TEST_SUITE(completion_reads)

// readable() throws once, when the transport's read completes: the exception goes to handle_error, as it would
// from any handler; the channel's handle_error keeps it open, and the bytes wait until readable() answers, then
// come in order, before what follows.
BOOST_DATA_TEST_CASE(readable_throwing_goes_to_handle_error_and_the_bytes_wait, bdata::make(completion_backends()),
                     backend) {
    if (test_completion::skipped(backend)) return;
    fixture f(backend);
    f.settle();
    bool throw_once = false;
    int asked_after = 0;
    f.ch->want_read = [&] {
        if (!throw_once) return true;
        throw_once = false;
        ++asked_after;
        throw std::runtime_error("readable failed");
    };
    std::string received_at_error;
    f.ch->on_error = [&](scripted&) { received_at_error = f.ch->got; };
    throw_once = true;
    f.send("payload\n");
    BOOST_TEST_REQUIRE(f.run_until([&] { return f.ch->errors > 0 || f.ch->got.size() > 5; }));
    BOOST_TEST(f.ch->errors == 1);
    BOOST_TEST(f.ch->last_error == "std::runtime_error: readable failed");
    BOOST_TEST(received_at_error == "warm\n", "the bytes were handed over before readable() was asked");
    BOOST_TEST(asked_after == 1);
    BOOST_TEST(f.ch->connected());
    f.send("after\n");
    BOOST_TEST(f.run_until([&] { return f.ch->got == "warm\npayload\nafter\n"; }));
    BOOST_TEST(f.ch->got == "warm\npayload\nafter\n");
    BOOST_TEST(f.ch->errors == 1);
    BOOST_TEST(f.ch->from_transport >= std::string_view("payload\nafter\n").size());
}

// The same with the default handle_error (which closes): the channel is closed and never handed the bytes, as
// in readiness mode, where a channel whose readable() throws is closed before it reads anything.
BOOST_DATA_TEST_CASE(readable_throwing_with_a_closing_handle_error_hands_nothing_over,
                     bdata::make(completion_backends()), backend) {
    if (test_completion::skipped(backend)) return;
    fixture f(backend);
    f.settle();
    bool throwing = false;
    f.ch->want_read = [&]() -> bool {
        if (throwing) throw std::runtime_error("readable failed");
        return true;
    };
    throwing = true;
    f.send("payload\n");
    BOOST_TEST_REQUIRE(f.run_until([&] { return f.ch->errors > 0 || f.ch->got.size() > 5; }));
    BOOST_TEST(f.ch->errors == 1);
    BOOST_TEST(f.ch->got == "warm\n");
    BOOST_TEST(!f.ch->connected());
    BOOST_TEST(f.map.empty());
}

// exit_now from readable() during a completion read leaves the loop, as from any handler; the bytes are not
// lost, and the next loop hands them over.
BOOST_DATA_TEST_CASE(exit_now_from_readable_leaves_the_loop_and_keeps_the_bytes, bdata::make(completion_backends()),
                     backend) {
    if (test_completion::skipped(backend)) return;
    fixture f(backend);
    f.settle();
    bool exit_once = false;
    f.ch->want_read = [&] {
        if (!exit_once) return true;
        exit_once = false;
        throw asyncore::exit_now();
    };
    exit_once = true;
    f.send("payload\n");
    bool left = false;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!left && f.ch->got.size() <= 5 && std::chrono::steady_clock::now() < deadline) {
        try {
            f.pass();
        } catch (const asyncore::exit_now&) {
            left = true;
        }
    }
    BOOST_TEST(left);
    BOOST_TEST(f.ch->errors == 0);
    BOOST_TEST(f.ch->got == "warm\n");
    f.send("after\n");
    BOOST_TEST(f.run_until([&] { return f.ch->got == "warm\npayload\nafter\n"; }));
    BOOST_TEST(f.ch->got == "warm\npayload\nafter\n");
}

// A channel that stops reading while the transport's read is in flight (a handler earlier in the pass paused it,
// and its interest is not re-evaluated before the read completes) is not handed what that read brought: the bytes
// wait, in order before anything read later, until readable() says yes again.
BOOST_DATA_TEST_CASE(bytes_read_while_not_readable_wait_in_order, bdata::make(completion_backends()), backend) {
    if (test_completion::skipped(backend)) return;
    fixture f(backend);
    f.settle();
    bool paused = false;
    f.ch->want_read = [&] { return !paused; };
    paused = true; // no refresh_interest(): the read stays in flight
    f.send("one\n");
    for (int i = 0; i < 20; ++i) f.pass(5ms);
    BOOST_TEST(f.ch->got == "warm\n", "a channel that was not readable was handed input");
    f.send("two\n");
    for (int i = 0; i < 5; ++i) f.pass(5ms);
    BOOST_TEST(f.ch->got == "warm\n");
    paused = false;
    f.ch->refresh_interest();
    BOOST_TEST(f.run_until([&] { return f.ch->got == "warm\none\ntwo\n"; }));
    BOOST_TEST(f.ch->got == "warm\none\ntwo\n");
    BOOST_TEST(f.ch->closes == 0);
}

// The end of input read while the channel is not readable waits too: handle_close comes once it reads again,
// after the bytes that came before it. With bytes before it, the read that is in flight brings those (and the end
// stays in the socket); without, it brings the end itself.
BOOST_DATA_TEST_CASE(end_of_input_read_while_not_readable_waits, bdata::make(completion_backends()), backend) {
    if (test_completion::skipped(backend)) return;
    for (const std::string last : {"last\n", ""}) {
        BOOST_TEST_CONTEXT("bytes before the end: \"" << last << "\"") {
            fixture f(backend);
            f.settle();
            bool paused = false;
            f.ch->want_read = [&] { return !paused; };
            std::string got_at_close;
            f.ch->on_close = [&](scripted& c) {
                got_at_close = f.ch->got;
                c.close();
            };
            paused = true;
            if (!last.empty()) f.send(last);
            f.peer.shutdown(SHUT_WR);
            for (int i = 0; i < 20; ++i) f.pass(5ms);
            BOOST_TEST(f.ch->closes == 0, "a channel that was not readable was told of the end of its input");
            BOOST_TEST(f.ch->got == "warm\n");
            paused = false;
            f.ch->refresh_interest();
            BOOST_TEST(f.run_until([&] { return f.ch->closes > 0; }));
            BOOST_TEST(f.ch->closes == 1);
            BOOST_TEST(got_at_close == "warm\n" + last);
            BOOST_TEST(f.map.empty());
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
