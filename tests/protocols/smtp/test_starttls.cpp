// STARTTLS (RFC 3207) in the SMTP server and client, without TLS: protocols/ do not link the TLS layer, so the
// application's start_tls callback is played here by a test double — nothing at all, or an identity stream layer
// (chat/include/asynchat/stream_layer.hpp) whose "handshake" is done once it has carried a byte. What is tested is
// the protocol side: the EHLO offer, the 220, the session forgetting the client (RFC 3207 4.2), and no command
// received in plaintext after STARTTLS ever being acted on (the STARTTLS command injection, CVE-2011-0411), at
// every segmentation. The real TLS handshake with real clients is tests/apps/test_tls_command.cpp.
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <asynchat/smtp/client.hpp>
#include <asynchat/stream_layer.hpp>

#include "smtp_test_util.hpp"

namespace bdata = boost::unit_test::data;
using namespace smtp_test;
using asynchat::smtp::smtp_options;
using asynchat::smtp::smtp_session;

namespace {

const std::string plain_ehlo =
    replies({"250-localhost", "250-SIZE 33554432", "250-8BITMIME", "250-PIPELINING", "250 HELP"});
const std::string tls_ehlo =
    replies({"250-localhost", "250-SIZE 33554432", "250-8BITMIME", "250-PIPELINING", "250-STARTTLS", "250 HELP"});
const std::string ready = replies({"220 2.0.0 Ready to start TLS"});

// A layer that changes nothing: wire bytes are the plaintext. Its "handshake" is done once a byte has come
// through it, as a TLS server's is once the client's Finished has arrived, or (done_at_start) at once, which is
// near enough a client's for these tests.
class identity_layer final : public asynchat::stream_layer {
public:
    explicit identity_layer(bool done_at_start = false) : done_(done_at_start) {}
    void receive(std::string_view wire, std::string& plaintext) override {
        if (!wire.empty()) done_ = true;
        plaintext.append(wire);
    }
    std::size_t send(const iovec* iov, int iovcnt) override {
        std::size_t n = 0;
        for (int i = 0; i < iovcnt; ++i) {
            wire_.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
            n += iov[i].iov_len;
        }
        return n;
    }
    std::string_view wire_pending() const noexcept override { return wire_; }
    void wire_sent(std::size_t n) override { wire_.erase(0, n); }
    void close_notify() override {}
    bool peer_closed() const noexcept override { return false; }
    bool handshake_done() const noexcept override { return done_; }

private:
    std::string wire_;
    bool done_ = false;
};

// Options offering STARTTLS; `calls` counts the callback's calls, which install an identity layer when `layer`.
smtp_options starttls_options(int& calls, bool layer, bool require_tls = false) {
    smtp_options o;
    o.require_tls = require_tls;
    o.start_tls = [&calls, layer](asynchat::async_chat& channel) {
        ++calls;
        if (layer) channel.start_stream_layer(std::make_unique<identity_layer>());
    };
    return o;
}

} // namespace

BOOST_AUTO_TEST_SUITE(starttls_server)

BOOST_AUTO_TEST_CASE(ehlo_offers_starttls_only_when_the_application_does) {
    {
        recording_server server;
        client c(server);
        BOOST_TEST(c.exchange("EHLO x\r\n") == plain_ehlo);
        // Not offered: an unknown command, as before STARTTLS existed.
        BOOST_TEST(c.exchange("STARTTLS\r\n") == replies({"500 Error: command not recognized"}));
        BOOST_TEST(c.exchange("HELP\r\n") ==
                   replies({"214 Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP"}));
    }
    int calls = 0;
    recording_server server(starttls_options(calls, false));
    client c(server);
    BOOST_TEST(c.exchange("EHLO x\r\n") == tls_ehlo);
    BOOST_TEST(c.exchange("HELP\r\n") ==
               replies({"214 Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS"}));
    BOOST_TEST(calls == 0);
}

BOOST_AUTO_TEST_CASE(starttls_with_an_argument_is_501) {
    int calls = 0;
    recording_server server(starttls_options(calls, false));
    client c(server);
    c.exchange("EHLO x\r\n");
    BOOST_TEST(c.exchange("STARTTLS now\r\n") == replies({"501 5.5.4 Syntax: STARTTLS"}));
    BOOST_TEST(calls == 0);
    BOOST_TEST(c.exchange("NOOP\r\n") == replies({"250 OK"}));
}

// CVE-2011-0411: whatever follows STARTTLS in the same read (or any read before the handshake) was sent in
// plaintext; answering it, or remembering it, would let a man in the middle speak inside the TLS session. The
// callback here installs nothing, so only the session's own rule stands between the command and an answer.
BOOST_DATA_TEST_CASE(commands_pipelined_after_starttls_are_never_answered_cve_2011_0411, bdata::xrange(0, 10),
                     segment) {
    int calls = 0;
    recording_server server(starttls_options(calls, false));
    client c(server);
    const std::string got = c.exchange(
        "EHLO x\r\nSTARTTLS\r\nRSET\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n",
        static_cast<std::size_t>(segment));
    BOOST_TEST(got == tls_ehlo + ready);
    BOOST_TEST(calls == 1);
    BOOST_TEST(server.messages.empty());
    BOOST_TEST(!c.wire.closed_when_done());
    BOOST_TEST((c.channel.session().current_state() == smtp_session::state::tls_starting));
}

BOOST_AUTO_TEST_CASE(after_the_handshake_the_session_starts_over) {
    int calls = 0;
    recording_server server(starttls_options(calls, false));
    client c(server);
    c.exchange("EHLO before.tls\r\nMAIL FROM:<a@x>\r\n");
    BOOST_TEST(c.exchange("STARTTLS\r\n") == ready);
    BOOST_TEST(c.channel.session().tls());
    c.channel.session().tls_started();
    // RFC 3207 4.2: the EHLO name and the transaction begun before are forgotten.
    BOOST_TEST(c.channel.session().helo_name().empty());
    BOOST_TEST(c.exchange("MAIL FROM:<a@x>\r\n") == replies({"503 Error: send HELO first"}));
    // Over TLS, STARTTLS is no longer offered, and a second one is refused.
    BOOST_TEST(c.exchange("EHLO after.tls\r\n") == plain_ehlo);
    BOOST_TEST(c.exchange("STARTTLS\r\n") == replies({"503 5.5.1 Error: TLS already active"}));
    BOOST_TEST(c.exchange(
                   "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nSubject: t\r\n\r\nover tls\r\n.\r\n") ==
               replies({"250 OK", "250 OK", "354 End data with <CR><LF>.<CR><LF>", "250 OK"}));
    BOOST_REQUIRE_EQUAL(server.messages.size(), 1u);
    BOOST_TEST(server.messages[0].content == "Subject: t\r\n\r\nover tls\r\n");
    BOOST_TEST(calls == 1);
}

BOOST_AUTO_TEST_CASE(require_tls_refuses_mail_rcpt_and_data_before_starttls) {
    int calls = 0;
    recording_server server(starttls_options(calls, false, true));
    client c(server);
    c.exchange("EHLO x\r\n");
    const std::string must = replies({"530 5.7.0 Must issue a STARTTLS command first"});
    BOOST_TEST(c.exchange("MAIL FROM:<a@x>\r\n") == must);
    BOOST_TEST(c.exchange("RCPT TO:<b@y>\r\n") == must);
    BOOST_TEST(c.exchange("DATA\r\n") == must);
    // What needs no protection still works.
    BOOST_TEST(c.exchange("NOOP\r\n") == replies({"250 OK"}));
    BOOST_TEST(c.exchange("STARTTLS\r\n") == ready);
    c.channel.session().tls_started();
    c.exchange("EHLO x\r\n");
    BOOST_TEST(c.exchange("MAIL FROM:<a@x>\r\n") == replies({"250 OK"}));
}

BOOST_AUTO_TEST_CASE(a_timeout_or_a_shutdown_while_the_handshake_is_pending_closes) {
    int calls = 0;
    recording_server server(starttls_options(calls, false));
    client c(server);
    c.exchange("EHLO x\r\nSTARTTLS\r\n");
    c.channel.session().timeout();
    BOOST_TEST(c.got() == replies({"421 localhost Error: timeout exceeded"}));
    BOOST_TEST(c.wire.closed_when_done());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(starttls_server_with_a_layer)

// The whole chain on the channel: the 220 goes out in plaintext, the rest of the read that carried STARTTLS is
// discarded by async_chat (the layer is pending), and the first line through the layer ends tls_starting.
BOOST_DATA_TEST_CASE(the_channel_takes_commands_again_through_the_layer_cve_2011_0411, bdata::xrange(0, 10),
                     segment) {
    int calls = 0;
    recording_server server(starttls_options(calls, true));
    client c(server);
    c.exchange("EHLO x\r\n");
    BOOST_TEST(c.exchange("STARTTLS\r\nRSET\r\nMAIL FROM:<evil@x>\r\n", static_cast<std::size_t>(segment)) == ready);
    BOOST_TEST(calls == 1);
    BOOST_REQUIRE(c.channel.get_stream_layer());
    // Through the layer: HELP's reply is the first one; nothing injected was answered before it.
    BOOST_TEST(c.exchange("HELP\r\n", static_cast<std::size_t>(segment)) ==
               replies({"214 Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP"}));
    BOOST_TEST((c.channel.session().current_state() == smtp_session::state::command));
    // ...and left no envelope behind: a new EHLO is needed, then a transaction starts clean.
    BOOST_TEST(c.exchange("RCPT TO:<b@y>\r\n") == replies({"503 Error: send HELO first"}));
    BOOST_TEST(c.exchange("EHLO x\r\n") == plain_ehlo);
    BOOST_TEST(c.exchange("RCPT TO:<b@y>\r\n") == replies({"503 Error: need MAIL command"}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(starttls_client)

using asynchat::smtp::outgoing_message;
using asynchat::smtp::smtp_client;

struct upgrading_client {
    smtp_client client;
    asynchat::string_transport wire{client};
    int calls = 0;
    explicit upgrading_client(bool layer) : client(message()) {
        client.start_tls = [this, layer](asynchat::async_chat& channel) {
            ++calls;
            if (layer) channel.start_stream_layer(std::make_unique<identity_layer>(true));
        };
    }
    static outgoing_message message() {
        outgoing_message m;
        m.mail_from = "a@x";
        m.rcpt_tos = {"b@y"};
        m.data = "Subject: s\n\nhello\n";
        return m;
    }
    std::string server_says(std::string_view bytes, std::size_t segment = 1) {
        wire.receive(bytes, segment);
        return escape(wire.written());
    }
};

BOOST_AUTO_TEST_CASE(upgrades_after_ehlo_then_says_ehlo_again_over_tls) {
    upgrading_client c(true);
    BOOST_TEST(c.server_says("220 mx ESMTP\r\n") == escape("EHLO localhost\r\n"));
    BOOST_TEST(c.server_says("250-mx\r\n250-SIZE 1000\r\n250 STARTTLS\r\n") == escape("STARTTLS\r\n"));
    // Replies injected behind the 220 in the same read are never framed: the EHLO's reply must come over TLS.
    BOOST_TEST(c.server_says("220 2.0.0 Ready to start TLS\r\n250-forged\r\n250 SIZE 5\r\n", 0) ==
               escape("EHLO localhost\r\n"));
    BOOST_TEST(c.calls == 1);
    // Only what the server says over TLS counts: no SIZE now, so MAIL has no SIZE=.
    BOOST_TEST(c.server_says("250-mx\r\n250 8BITMIME\r\n") == escape("MAIL FROM:<a@x>\r\n"));
    BOOST_TEST(c.server_says("250 OK\r\n") == escape("RCPT TO:<b@y>\r\n"));
    BOOST_TEST(c.server_says("250 OK\r\n") == escape("DATA\r\n"));
    BOOST_TEST(c.server_says("354 go\r\n") == escape("Subject: s\r\n\r\nhello\r\n.\r\n"));
    BOOST_TEST(c.server_says("250 OK\r\n") == escape("QUIT\r\n"));
    BOOST_TEST(c.client.accepted());
}

BOOST_AUTO_TEST_CASE(a_reply_before_the_handshake_is_done_is_dropped) {
    // No layer installed: the handshake never completes, so nothing the "server" says is taken for a reply.
    upgrading_client c(false);
    c.server_says("220 mx ESMTP\r\n");
    c.server_says("250-mx\r\n250 STARTTLS\r\n");
    BOOST_TEST(c.server_says("220 go\r\n") == escape("EHLO localhost\r\n"));
    BOOST_TEST(c.server_says("250 mx\r\n") == "");
    BOOST_TEST(!c.client.accepted());
    BOOST_TEST(!c.client.finished());
}

BOOST_AUTO_TEST_CASE(no_starttls_offered_is_a_failure_and_quit) {
    upgrading_client c(true);
    c.server_says("220 mx ESMTP\r\n");
    BOOST_TEST(c.server_says("250-mx\r\n250 SIZE 1000\r\n") == escape("QUIT\r\n"));
    BOOST_REQUIRE(c.client.failure());
    BOOST_TEST(c.client.failure()->text == "the server does not offer STARTTLS");
    BOOST_TEST(c.calls == 0);
}

BOOST_AUTO_TEST_CASE(a_refused_starttls_or_ehlo_is_a_failure_without_helo) {
    {
        upgrading_client c(true);
        c.server_says("220 mx ESMTP\r\n");
        c.server_says("250-mx\r\n250 STARTTLS\r\n");
        BOOST_TEST(c.server_says("454 4.7.0 TLS not available\r\n") == escape("QUIT\r\n"));
        BOOST_REQUIRE(c.client.failure());
        BOOST_TEST(c.client.failure()->code == 454);
        BOOST_TEST(c.calls == 0);
    }
    upgrading_client c(true);
    c.server_says("220 mx ESMTP\r\n");
    // Without EHLO there are no extensions, so no STARTTLS: no falling back to HELO in plaintext.
    BOOST_TEST(c.server_says("500 what\r\n") == escape("QUIT\r\n"));
    BOOST_REQUIRE(c.client.failure());
    BOOST_TEST(c.client.failure()->text.find("STARTTLS") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(starttls_server_deliveries)

// Commands pipelined behind a message over the layer are held during its delivery, then framed from the
// completion (line_receiver::set_line_mode -> handle_incoming({})): with a stream layer too, they must be framed
// then and not wait for a read that never comes (the client is waiting for their replies).
BOOST_AUTO_TEST_CASE(commands_held_during_a_delivery_are_answered_over_the_layer) {
    int calls = 0;
    recording_server server(starttls_options(calls, true));
    server.hold = true;
    client c(server);
    c.exchange("EHLO x\r\nSTARTTLS\r\n");
    c.exchange("EHLO x\r\n");
    BOOST_TEST(c.exchange("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nhi\r\n.\r\nNOOP\r\nQUIT\r\n") ==
               replies({"250 OK", "250 OK", "354 End data with <CR><LF>.<CR><LF>"}));
    BOOST_REQUIRE_EQUAL(server.held.size(), 1u);
    server.held[0]("250 OK: stored");
    BOOST_TEST(c.got() == replies({"250 OK: stored", "250 OK", "221 Bye"}));
    BOOST_TEST(c.wire.closed_when_done());
    server.held.clear(); // before the channel (a stack object here) goes
}

BOOST_AUTO_TEST_SUITE_END()
