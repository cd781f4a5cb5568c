// asynchat::smtp::smtp_client driven through string_transport: the conversation against scripted replies, the
// EHLO -> HELO fallback, refused recipients, malformed replies, and the client against our own server with the
// bytes carried in memory both ways. wire_data: line endings and dot-stuffing.
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include <asynchat/smtp/client.hpp>

#include "smtp_test_util.hpp"

using namespace smtp_test;
using asynchat::smtp::outgoing_message;
using asynchat::smtp::smtp_client;
using asynchat::smtp::wire_data;

namespace {

outgoing_message sample(std::vector<std::string> to = {"b@y"}) {
    outgoing_message m;
    m.mail_from = "a@x";
    m.rcpt_tos = std::move(to);
    m.data = "Subject: s\n\nhello\n";
    return m;
}

// The client and the transport that plays its server.
struct conversation {
    smtp_client client;
    asynchat::string_transport wire{client};
    std::vector<std::string> seen;   // "COMMAND -> code"
    explicit conversation(outgoing_message m) : client(std::move(m)) {
        client.on_reply = [this](std::string_view command, const asynchat::smtp::server_reply& r) {
            seen.push_back(std::string(command) + " -> " + std::to_string(r.code));
        };
    }
    std::string server_says(std::string_view bytes) {
        wire.receive(bytes, 1);
        return escape(wire.written());
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(smtp_wire_data)

BOOST_AUTO_TEST_CASE(line_endings_become_crlf) {
    BOOST_TEST(escape(wire_data("a\nb\n")) == escape("a\r\nb\r\n.\r\n"));
    BOOST_TEST(escape(wire_data("a\r\nb\r\n")) == escape("a\r\nb\r\n.\r\n"));
    BOOST_TEST(escape(wire_data("a\r\nb\nc")) == escape("a\r\nb\r\nc\r\n.\r\n"));
    BOOST_TEST(escape(wire_data("\n\n")) == escape("\r\n\r\n.\r\n"));
    BOOST_TEST(escape(wire_data("")) == escape(".\r\n"));
}

BOOST_AUTO_TEST_CASE(a_final_line_ending_is_added) {
    BOOST_TEST(escape(wire_data("no end")) == escape("no end\r\n.\r\n"));
    BOOST_TEST(escape(wire_data("cr\r")) == escape("cr\r\r\n.\r\n"));
}

BOOST_AUTO_TEST_CASE(leading_dots_are_doubled) {
    BOOST_TEST(escape(wire_data(".\n")) == escape("..\r\n.\r\n"));
    BOOST_TEST(escape(wire_data(".x\n..y\nz.\n")) == escape("..x\r\n...y\r\nz.\r\n.\r\n"));
    BOOST_TEST(escape(wire_data("a\r\n.\r\n")) == escape("a\r\n..\r\n.\r\n"));
    // Only a line's first byte: a dot after a bare CR is inside a line.
    BOOST_TEST(escape(wire_data("a\r.b\n")) == escape("a\r.b\r\n.\r\n"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(smtp_client_conversation)

BOOST_AUTO_TEST_CASE(one_message_step_by_step) {
    conversation c(sample({"b@y", "c@z"}));
    BOOST_TEST(c.server_says("220 mx ESMTP\r\n") == escape("EHLO localhost\r\n"));
    BOOST_TEST(c.server_says("250-mx\r\n250-SIZE 1000\r\n250 PIPELINING\r\n") ==
               escape("MAIL FROM:<a@x> SIZE=18\r\n"));
    BOOST_TEST(c.server_says("250 OK\r\n") == escape("RCPT TO:<b@y>\r\n"));
    BOOST_TEST(c.server_says("250 OK\r\n") == escape("RCPT TO:<c@z>\r\n"));
    BOOST_TEST(c.server_says("250 OK\r\n") == escape("DATA\r\n"));
    BOOST_TEST(c.server_says("354 go\r\n") == escape("Subject: s\r\n\r\nhello\r\n.\r\n"));
    BOOST_TEST(!c.client.accepted());
    BOOST_TEST(c.server_says("250 queued\r\n") == escape("QUIT\r\n"));
    BOOST_TEST(c.client.accepted());
    c.server_says("221 bye\r\n");
    BOOST_TEST(c.client.finished());
    BOOST_TEST(c.wire.closed_when_done());
    BOOST_TEST(!c.client.failure());
    BOOST_TEST((c.seen == std::vector<std::string>{" -> 220", "EHLO localhost -> 250", "MAIL FROM:<a@x> SIZE=18 -> 250",
                                                   "RCPT TO:<b@y> -> 250", "RCPT TO:<c@z> -> 250", "DATA -> 354",
                                                   ". -> 250", "QUIT -> 221"}));
}

BOOST_AUTO_TEST_CASE(eight_bit_data_says_body_8bitmime_when_offered) {
    auto m = sample();
    m.data = "caf\xc3\xa9\n";
    conversation c(std::move(m));
    c.server_says("220 mx\r\n");
    BOOST_TEST(c.server_says("250-mx\r\n250 8BITMIME\r\n") == escape("MAIL FROM:<a@x> BODY=8BITMIME\r\n"));
}

BOOST_AUTO_TEST_CASE(helo_when_ehlo_is_refused) {
    conversation c(sample());
    c.server_says("220 old\r\n");
    BOOST_TEST(c.server_says("502 not implemented\r\n") == escape("HELO localhost\r\n"));
    BOOST_TEST(c.server_says("250 old\r\n") == escape("MAIL FROM:<a@x>\r\n"));
}

BOOST_AUTO_TEST_CASE(a_refused_recipient_is_skipped) {
    conversation c(sample({"nobody@y", "b@y"}));
    c.server_says("220 mx\r\n");
    c.server_says("250 mx\r\n");
    c.server_says("250 OK\r\n");
    BOOST_TEST(c.server_says("550 no such user\r\n") == escape("RCPT TO:<b@y>\r\n"));
    BOOST_TEST(c.server_says("250 OK\r\n") == escape("DATA\r\n"));
    BOOST_REQUIRE_EQUAL(c.client.refused().size(), 1u);
    BOOST_TEST(c.client.refused()[0].text == "550 no such user");
}

BOOST_AUTO_TEST_CASE(every_recipient_refused_fails_and_quits) {
    conversation c(sample({"nobody@y"}));
    c.server_says("220 mx\r\n");
    c.server_says("250 mx\r\n");
    c.server_says("250 OK\r\n");
    BOOST_TEST(c.server_says("550 no such user\r\n") == escape("QUIT\r\n"));
    BOOST_REQUIRE(c.client.failure());
    BOOST_TEST(c.client.failure()->code == 550);
}

BOOST_AUTO_TEST_CASE(a_refused_message_fails_with_the_reply) {
    conversation c(sample());
    for (auto r : {"220 mx\r\n", "250 mx\r\n", "250 OK\r\n", "250 OK\r\n", "354 go\r\n"}) c.server_says(r);
    BOOST_TEST(c.server_says("552-too\r\n552 big\r\n") == escape("QUIT\r\n"));
    BOOST_TEST(!c.client.accepted());
    BOOST_REQUIRE(c.client.failure());
    BOOST_TEST(c.client.failure()->code == 552);
    BOOST_TEST(c.client.failure()->text == "552-too\n552 big");
}

BOOST_AUTO_TEST_CASE(a_greeting_other_than_220_fails) {
    conversation c(sample());
    BOOST_TEST(c.server_says("554 go away\r\n") == escape("QUIT\r\n"));
    BOOST_TEST(c.client.failure()->code == 554);
}

BOOST_AUTO_TEST_CASE(a_malformed_reply_ends_the_conversation) {
    for (auto bad : {"hello\r\n", "22\r\n", "2200 x\r\n", "220-a\r\n221 b\r\n"}) {
        conversation c(sample());
        c.server_says(bad);
        BOOST_TEST(c.client.finished(), bad);
        BOOST_REQUIRE(c.client.failure());
        BOOST_TEST(c.client.failure()->code == 0);
    }
}

BOOST_AUTO_TEST_CASE(an_endless_reply_is_cut_off) {
    conversation c(sample());
    std::string flood;
    for (std::size_t i = 0; i <= smtp_client::max_reply_lines; ++i) flood += "220-more\r\n";
    c.server_says(flood);
    BOOST_TEST(c.client.finished());
    BOOST_TEST(c.client.failure()->code == 0);
}

// Our client against our server, the bytes carried between two string_transports until both are quiet.
BOOST_AUTO_TEST_CASE(client_against_server_in_memory) {
    recording_server server;
    asynchat::smtp::smtp_channel channel(server);
    asynchat::string_transport server_wire(channel);
    auto m = sample({"b@y", "c@z"});
    m.data = "Subject: x\n.starts with a dot\n.\n..\nbare\rcr\nlast line without end";
    smtp_client client(m);
    asynchat::string_transport client_wire(client);
    channel.start();
    for (int round = 0; round < 100 && !client.finished(); ++round) {
        const std::string to_client = server_wire.written();
        client_wire.receive(to_client, 3);
        const std::string to_server = client_wire.written();
        server_wire.receive(to_server, 5);
        if (to_client.empty() && to_server.empty()) break;
    }
    BOOST_TEST(client.accepted());
    BOOST_REQUIRE_EQUAL(server.messages.size(), 1u);
    BOOST_TEST(escape(server.messages[0].content) ==
               escape("Subject: x\r\n.starts with a dot\r\n.\r\n..\r\nbare\rcr\r\nlast line without end\r\n"));
    BOOST_TEST((server.messages[0].rcpt_tos == std::vector<std::string>{"b@y", "c@z"}));
}

BOOST_AUTO_TEST_SUITE_END()
