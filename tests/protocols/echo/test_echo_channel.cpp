// asynchat::echo::echo_channel through string_transport: the real channel with the input cut as the test chooses.
// It is also where service_connection (protocols/common), the base every service channel shares, is tested: the
// account it keeps with its service, and its end on a failure (one counted error, one log line, the close).
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "log_capture.hpp"

#include <asyncore/log.hpp>
#include <asyncore/ref.hpp>
#include <asynchat/echo/server.hpp>
#include <asynchat/service_connection.hpp>
#include <asynchat/string_transport.hpp>

namespace bdata = boost::unit_test::data;
using asynchat::echo::echo_channel;
using asynchat::echo::echo_options;
using test_support::installed_sink;

namespace {

// Closed, as a socket-less channel shows it: its account with the service is released.
template <class Channel>
bool closed(Channel& chat) {
    return chat.account().stats() == nullptr;
}

// Delivers bytes as reads of `segment` bytes; an exception from a handler goes to handle_error, as the loop does,
// and nothing is read after the close.
template <class Channel>
void deliver(Channel& chat, asynchat::string_transport& t, std::string_view bytes, std::size_t segment) {
    if (segment == 0) segment = bytes.size();
    for (std::size_t at = 0; at < bytes.size() && !closed(chat); at += segment) {
        try {
            t.receive(bytes.substr(at, segment));
        } catch (...) {
            chat.handle_error();
        }
    }
}

struct echo_case {
    echo_options options;
    asynchat::service_stats stats;
    asyncore::ref<echo_channel> chat;
    asynchat::string_transport t;
    explicit echo_case(echo_options o) : options(std::move(o)), chat(asyncore::make<echo_channel>(options, &stats)), t(*chat) {}
    std::string echo(std::string_view bytes, std::size_t segment) {
        deliver(*chat, t, bytes, segment);
        return t.written();
    }
};

echo_options with_mode(echo_options::framing mode) {
    echo_options o;
    o.mode = mode;
    return o;
}

} // namespace

BOOST_AUTO_TEST_SUITE(echo_channel_suite)

// What comes back depends only on the bytes sent: each segmentation gives the same echo.
BOOST_DATA_TEST_CASE(lines_come_back_whole_whatever_the_segmentation, bdata::make({0u, 1u, 2u, 3u, 7u, 4096u}),
                     segment) {
    echo_case c({});
    const std::string input = "hello\r\nworld\r\n\r\n" + std::string(5000, 'x') + "\r\nlast";
    BOOST_TEST(c.echo(input, segment) == "hello\r\nworld\r\n\r\n" + std::string(5000, 'x') + "\r\n");
    BOOST_TEST(c.stats.messages == 4u);
    BOOST_TEST(c.echo("\r\n", 0) == "last\r\n"); // the message held across reads is echoed once it ends
}

BOOST_DATA_TEST_CASE(counted_messages_and_length_prefixes_round_trip, bdata::make({0u, 1u, 5u}), segment) {
    auto counted = with_mode(echo_options::framing::count);
    counted.count = 4;
    echo_case c(counted);
    BOOST_TEST(c.echo("abcdefghij", segment) == "abcdefgh");
    BOOST_TEST(c.stats.messages == 2u);

    auto prefixed = with_mode(echo_options::framing::length_prefix);
    prefixed.length_prefix = 2;
    echo_case p(prefixed);
    const std::string input = std::string("\0\3abc\0\0", 7) + std::string("\0\1z", 3);
    BOOST_TEST(p.echo(input, segment) == input);
    BOOST_TEST(p.stats.messages == 3u);
}

BOOST_AUTO_TEST_CASE(raw_mode_echoes_each_read_as_it_comes) {
    echo_case c(with_mode(echo_options::framing::raw));
    BOOST_TEST(c.echo("no framing\r\nat all", 3) == "no framing\r\nat all");
}

// A message over max_message closes the connection before any of it is echoed; the close goes through
// service_connection::handle_error: one error counted, one line logged, the account released.
BOOST_AUTO_TEST_CASE(a_message_over_the_maximum_closes_counts_and_logs_once) {
    installed_sink log;
    echo_options o;
    o.max_message = 8;
    echo_case c(o);
    BOOST_TEST(c.stats.connections_open == 1u);
    BOOST_TEST(c.echo("short\r\n" + std::string(20, 'y') + "\r\nnever\r\n", 4) == "short\r\n");
    BOOST_TEST(closed(*c.chat));
    BOOST_TEST(c.stats.errors == 1u);
    BOOST_TEST(c.stats.connections_open == 0u);
    BOOST_REQUIRE_EQUAL(log.sink->lines.size(), 1u);
    BOOST_TEST((log.sink->lines[0].first == asyncore::log_level::error));
    BOOST_TEST(log.sink->lines[0].second.starts_with("asynchat: echo: closing a connection: "));
}

BOOST_AUTO_TEST_CASE(discard_long_drops_that_message_and_serves_the_next) {
    installed_sink log;
    echo_options o;
    o.max_message = 8;
    o.discard_long = true;
    echo_case c(o);
    BOOST_TEST(c.echo(std::string(20, 'y') + "\r\nnext\r\n", 3) == "next\r\n");
    BOOST_TEST(!closed(*c.chat));
    BOOST_TEST(c.stats.errors == 1u);
    BOOST_TEST(c.stats.messages == 1u);
    BOOST_REQUIRE_EQUAL(log.sink->lines.size(), 1u);
    BOOST_TEST((log.sink->lines[0].first == asyncore::log_level::warning));
    BOOST_TEST(log.sink->lines[0].second.find("dropping a message") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- service_connection, with a channel of its own: what every service channel gets from it.

namespace {

class failing_channel final : public asynchat::service_connection<asynchat::async_chat> {
public:
    explicit failing_channel(asynchat::service_stats* stats) : service_connection("probe", stats) {
        set_terminator("\n");
    }
    void collect_incoming_data(std::string_view) override {}
    void found_terminator() override {
        account().count_message();
        throw std::runtime_error("bad input");
    }

private:
    std::string log_name() const override { return "probe-7"; }
};

} // namespace

BOOST_AUTO_TEST_SUITE(service_connection_suite)

BOOST_AUTO_TEST_CASE(a_failure_is_one_error_one_line_and_the_close) {
    installed_sink log;
    asynchat::service_stats stats;
    auto chat = asyncore::make<failing_channel>(&stats);
    asynchat::string_transport t(*chat);
    BOOST_TEST(stats.connections_open == 1u);
    BOOST_TEST(stats.connections_accepted == 1u);
    deliver(*chat, t, "x\n", 0);
    BOOST_TEST(closed(*chat));
    BOOST_TEST(stats.messages == 1u);
    BOOST_TEST(stats.errors == 1u);
    BOOST_TEST(stats.connections_open == 0u);
    BOOST_TEST(stats.traffic.bytes_in == 2u);
    BOOST_REQUIRE_EQUAL(log.sink->lines.size(), 1u);
    BOOST_TEST(log.sink->lines[0].second == "asynchat: probe: closing probe-7: std::runtime_error: bad input");
}

// After close the account is released: the channel, kept alive by a ref, counts nowhere (so it may outlive its
// service), and a second close does not count the connection out twice.
BOOST_AUTO_TEST_CASE(a_closed_channel_counts_nowhere) {
    asynchat::service_stats stats;
    auto chat = asyncore::make<failing_channel>(&stats);
    chat->close();
    chat->close();
    BOOST_TEST(stats.connections_open == 0u);
    BOOST_TEST(chat->account().stats() == nullptr);
    chat->account().count_error();
    BOOST_TEST(stats.errors == 0u);
    BOOST_TEST(stats.connections_accepted == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
