// async_chat's output backpressure (issue 11): above the high watermark of queued output the channel stops
// reading, below the low one it reads again, and output_high()/output_low() mark each crossing. The defence
// against a peer that sends requests and never reads the answers (the "slow read" denial of service, memory
// exhaustion by an unread response queue): without it the server buffers every answer.
//
// First through string_transport (no socket: the queue is read exactly when the test says), then over a real
// socketpair on every backend, where "stops reading" must hold for the loop's interest (readiness backends) and
// for the reads the Asio transport starts itself.
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <asynchat/async_chat.hpp>
#include <asynchat/producers.hpp>
#include <asynchat/string_transport.hpp>
#include <asyncore/asyncore.hpp>

#include "socket_pair.hpp"
#include "test_support.hpp"

namespace bdata = boost::unit_test::data;
using namespace std::chrono_literals;

// Named, not anonymous: see test_async_chat.cpp (-Wsubobject-linkage).
namespace test_backpressure {

// Echoes each line; optionally as a producer instead of a string. Records the hooks in order.
class line_echo : public asynchat::async_chat {
public:
    explicit line_echo(asyncore::socket_map* map = nullptr) : async_chat(map) { set_terminator("\n"); }
    line_echo(asyncore::socket s, asyncore::socket_map* map) : async_chat(std::move(s), map) { set_terminator("\n"); }

    bool as_producer = false;
    std::string hooks;   // 'H' per output_high, 'L' per output_low
    std::string line;
    std::size_t lines = 0;
    void collect_incoming_data(std::string_view d) override { line.append(d); }
    void found_terminator() override {
        ++lines;
        line += '\n';
        if (as_producer) push_with_producer(std::make_unique<asynchat::simple_producer>(std::move(line)));
        else push(std::move(line));
        line.clear();
    }
    void output_high() override { hooks += 'H'; }
    void output_low() override { hooks += 'L'; }
};

std::vector<std::size_t> segment_sizes() { return {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; }

BOOST_AUTO_TEST_SUITE(output_backpressure)

BOOST_AUTO_TEST_CASE(documented_defaults) {
    line_echo c;
    BOOST_TEST(c.output_high_watermark() == 1048576u);
    BOOST_TEST(c.output_low_watermark() == 262144u);
    BOOST_CHECK_THROW(c.set_output_watermarks(10, 11), std::invalid_argument);
}

BOOST_DATA_TEST_CASE(pauses_above_high_and_resumes_at_low, bdata::make(segment_sizes()), segment) {
    line_echo c;
    asynchat::string_transport t(c);
    // A 9-byte line is a 9-byte echo in one slot of the queue: 9 + slot_footprint bytes of footprint each.
    constexpr std::size_t each = 9 + asynchat::output_queue::slot_footprint;
    c.set_output_watermarks(2 * each + each / 2, each);
    t.receive("12345678\n12345678\n", segment);
    BOOST_TEST(c.output_backlog() == 2 * each);
    BOOST_TEST(c.readable());
    BOOST_TEST(c.hooks == "");
    t.receive("12345678\n", segment);   // 3 * each > high
    BOOST_TEST(c.output_paused());
    BOOST_TEST(!c.readable());
    BOOST_TEST(c.hooks == "H");
    t.receive("12345678\n12345678\n", segment);   // still above: no second hook for the same crossing
    BOOST_TEST(c.hooks == "H");
    BOOST_TEST(t.written() == "12345678\n12345678\n12345678\n12345678\n12345678\n");
    BOOST_TEST(!c.output_paused());
    BOOST_TEST(c.readable());
    BOOST_TEST(c.hooks == "HL");
    t.receive("12345678\n12345678\n12345678\n", segment);
    BOOST_TEST(c.hooks == "HLH");
}

BOOST_AUTO_TEST_CASE(hysteresis_between_the_marks) {
    // Sends that leave the backlog between low and high keep the channel paused: it resumes only at low.
    asyncore::socket_map map;
    auto [mine, peer] = chat_test::socket_pair();
    auto c = asyncore::make<line_echo>(std::move(mine), &map);
    c->set_output_watermarks(4096, 1024);
    // The peer reads nothing.
    // Outside a read handler each push is sent at once, until the socket buffer is full; from then on it queues.
    const std::string big(1000, 'x');
    while (!c->output_paused()) c->push(big);
    BOOST_TEST(c->hooks == "H");
    BOOST_TEST(!c->readable());
    c->output().consume(std::min<std::size_t>(c->output().ready_bytes(), 2000));
    c->check_output_watermarks();
    BOOST_TEST(c->output_backlog() > 1024u);
    BOOST_TEST(c->output_paused());
    c->output().consume(c->output().ready_bytes());
    c->check_output_watermarks();
    BOOST_TEST(!c->output_paused());
    BOOST_TEST(c->hooks == "HL");
}

BOOST_AUTO_TEST_CASE(producers_count_as_pending) {
    // Each queued producer counts output_queue::producer_footprint (64 KiB), though it holds no bytes yet: a
    // peer that asks for many producers (files) without reading must be paused too.
    line_echo c;
    c.as_producer = true;
    asynchat::string_transport t(c);
    std::string input;
    for (int i = 0; i < 16; ++i) input += "x\n";
    t.receive(input);
    BOOST_TEST(c.output().queued_producers() == 16u);
    BOOST_TEST(!c.output_paused());   // 16 x 64 KiB = 1 MiB exactly: not above
    t.receive("y\n");
    BOOST_TEST(c.output_paused());
    BOOST_TEST(c.hooks == "H");
    std::string expected = input + "y\n";
    BOOST_TEST(t.written() == expected);
    BOOST_TEST(c.output().queued_producers() == 0u);
    BOOST_TEST(c.hooks == "HL");
    BOOST_TEST(c.readable());
}

BOOST_AUTO_TEST_CASE(strings_behind_a_producer_count) {
    // ready_bytes() does not see strings queued behind a producer; the backlog does.
    line_echo c;
    c.set_output_watermarks(1 << 17, 1 << 10);
    asynchat::string_transport t(c);
    c.push_with_producer(std::make_unique<asynchat::simple_producer>("p"));
    c.push(std::string(1 << 17, 'z'));
    BOOST_TEST(c.output().ready_bytes() == 0u);
    BOOST_TEST(c.output().queued_bytes() == (1u << 17));
    BOOST_TEST(c.output_paused());
    BOOST_TEST(t.written().size() == (1u << 17) + 1);
    BOOST_TEST(!c.output_paused());
}

BOOST_AUTO_TEST_CASE(close_when_done_while_paused) {
    class closer : public line_echo {
    public:
        void found_terminator() override {
            push(std::string(2 << 20, 'a'));
            close_when_done();
        }
        int closes = 0;
        void handle_close() override { ++closes; }
    } c;
    asynchat::string_transport t(c);
    t.receive("bye\n");
    BOOST_TEST(c.output_paused());
    BOOST_TEST(t.written().size() == (2u << 20));
    BOOST_TEST(t.closed_when_done());
    BOOST_TEST(c.closes == 1);
    BOOST_TEST(c.hooks == "HL");
}

BOOST_AUTO_TEST_CASE(off_with_a_high_mark_of_zero) {
    line_echo c;
    asynchat::string_transport t(c);
    c.push(std::string(2 << 20, 'a'));
    BOOST_TEST(c.output_paused());
    c.set_output_watermarks(0, 0);   // a paused channel reads again at once
    BOOST_TEST(!c.output_paused());
    BOOST_TEST(c.hooks == "HL");
    c.push(std::string(4 << 20, 'b'));
    BOOST_TEST(!c.output_paused());
    BOOST_TEST(c.readable());
}

BOOST_AUTO_TEST_CASE(discard_buffers_resumes) {
    line_echo c;
    c.push(std::string(2 << 20, 'a'));
    BOOST_TEST(c.output_paused());
    c.discard_buffers();
    BOOST_TEST(!c.output_paused());
    BOOST_TEST(c.hooks == "HL");
}

// ---- over a socket, on every backend

struct traffic {
    std::size_t written = 0;   // by the test's end
    std::size_t read = 0;
};

// Writes as much of the repeating line stream as the socket takes now; never blocks.
void write_some(asyncore::socket& peer, traffic& t, std::size_t limit) {
    static const std::string block = [] {
        std::string b;
        while (b.size() < 65536) b += "0123456789abcde\n";   // 16-byte lines
        return b;
    }();
    while (t.written < limit) {
        const std::size_t offset = t.written % block.size();
        const std::size_t n = std::min(block.size() - offset, limit - t.written);
        const auto sent = peer.send_some(block.data() + offset, n);
        if (sent <= 0) return;
        t.written += static_cast<std::size_t>(sent);
    }
}

void read_some(asyncore::socket& peer, traffic& t) {
    char buf[65536];
    for (;;) {
        const auto n = peer.recv_some(buf, sizeof buf);
        if (n <= 0) return;
        t.read += static_cast<std::size_t>(n);
    }
}

BOOST_DATA_TEST_CASE(a_peer_that_never_reads_stops_being_read, bdata::make(test_support::backends()), backend) {
    constexpr std::size_t high = 256 << 10, low = 64 << 10;
    constexpr std::size_t limit = 64 << 20;   // far more than the socket buffers and the high mark together
    asyncore::socket_map map;
    auto [mine, peer] = chat_test::socket_pair();
    auto c = asyncore::make<line_echo>(std::move(mine), &map);
    c->set_output_watermarks(high, low);
    asynchat::traffic_counters counters;
    c->count_traffic(&counters);
    auto pass = [&] { asyncore::loop({.timeout = 1ms, .backend = backend, .map = &map, .count = 1}); };

    // The peer writes and never reads. Once the channel has stopped reading, the socket stays full: the writes
    // stall for good. Without backpressure the channel would read on (and queue) until the whole limit is sent.
    traffic t;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    int stalled_passes = 0;
    while (stalled_passes < 200 && t.written < limit && std::chrono::steady_clock::now() < deadline) {
        const std::size_t before = t.written;
        write_some(peer, t, limit);
        pass();
        stalled_passes = t.written == before ? stalled_passes + 1 : 0;
    }
    BOOST_TEST_REQUIRE(c->output_paused(), "wrote " << t.written << " bytes, the channel read " << counters.bytes_in);
    BOOST_TEST(t.written < limit);
    BOOST_TEST(c->hooks == "H");
    BOOST_TEST(!c->readable());
    // The bound: the high mark plus what one read produced (a 64 KiB read of 16-byte lines: 4096 echoes of 48
    // bytes of footprint each).
    BOOST_TEST(c->output_backlog() <= high + 3 * c->ac_in_buffer_size);
    const std::size_t read_when_paused = counters.bytes_in;
    for (int i = 0; i < 50; ++i) pass();
    BOOST_TEST(counters.bytes_in == read_when_paused, "the channel went on reading while paused");

    // The peer reads everything, and writes the rest: the channel resumes at the low mark, perhaps pauses again,
    // and in the end has echoed every line.
    while (t.read < t.written && std::chrono::steady_clock::now() < deadline) {
        read_some(peer, t);
        pass();
    }
    BOOST_TEST(t.read == t.written);
    BOOST_TEST(counters.bytes_in == t.written);
    BOOST_TEST(!c->output_paused());
    BOOST_TEST(c->readable());
    // One hook per crossing: H and L alternate, beginning with H and ending with L.
    BOOST_TEST(c->hooks.size() % 2 == 0u);
    for (std::size_t i = 0; i < c->hooks.size(); ++i) BOOST_TEST(c->hooks[i] == (i % 2 == 0 ? 'H' : 'L'));
}

BOOST_DATA_TEST_CASE(paused_from_outside_a_handler_reads_nothing_until_resumed, bdata::make(test_support::backends()),
                     backend) {
    // The channel is paused by a push from outside its own handlers (a timer, another channel) while it waits
    // for input. On the Asio completion design a read is already queued in the reactor at that moment: what it
    // reads must wait for the channel to be readable again, and then come in order.
    asyncore::socket_map map;
    auto [mine, peer] = chat_test::socket_pair();
    auto c = asyncore::make<line_echo>(std::move(mine), &map);
    c->set_output_watermarks(4096, 1024);
    auto pass = [&] { asyncore::loop({.timeout = 1ms, .backend = backend, .map = &map, .count = 1}); };
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    std::string echoed;
    auto read_echo = [&] {
        char buf[65536];
        for (;;) {
            const auto n = peer.recv_some(buf, sizeof buf);
            if (n <= 0) return;
            echoed.append(buf, static_cast<std::size_t>(n));
        }
    };

    // Two lines echoed: from the second on, the Asio completion design reads through a queued read.
    const std::string lines[] = {"one\n", "two\n"};
    for (std::size_t i = 0; i < 2; ++i) {
        BOOST_TEST_REQUIRE(peer.send_some(lines[i].data(), 4) == 4);
        while (c->lines < i + 1 && std::chrono::steady_clock::now() < deadline) pass();
    }
    while (echoed.size() < 8 && std::chrono::steady_clock::now() < deadline) {
        pass();
        read_echo();
    }
    BOOST_TEST_REQUIRE(echoed == "one\ntwo\n");
    for (int i = 0; i < 5; ++i) pass(); // a read is now queued, waiting for input

    // Paused from outside: the peer does not read, so the pushes fill the socket and then the queue.
    const std::string big(1000, 'x');
    std::size_t pushed = 0;
    while (!c->output_paused()) {
        c->push(big);
        pushed += big.size();
    }
    BOOST_TEST(!c->readable());
    BOOST_TEST_REQUIRE(peer.send_some("three\n", 6) == 6);
    for (int i = 0; i < 50; ++i) pass();
    BOOST_TEST(c->lines == 2u, "a paused channel was handed input");

    // The peer reads everything: the channel resumes, and the third line is echoed after the pushed bytes.
    const std::string expected = "one\ntwo\n" + std::string(pushed, 'x') + "three\n";
    while (echoed.size() < expected.size() && std::chrono::steady_clock::now() < deadline) {
        read_echo();
        pass();
    }
    BOOST_TEST(c->lines == 3u);
    BOOST_TEST(echoed == expected);
    BOOST_TEST(c->hooks == "HL");
}

BOOST_AUTO_TEST_SUITE_END()

} // namespace test_backpressure
