// async_chat with the TLS layer, through asynchat::string_transport: the channel's real code (handle_incoming,
// the output path, close_when_done), no socket and no loop, so the wire segmentation is the test's choice. The
// peer is a client engine driven by the test.
#include <cstddef>
#include <fstream>
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
#include <asynchat/tls.hpp>

#include "test_certificates.hpp"
#include "tls_test_util.hpp"

namespace bdata = boost::unit_test::data;
namespace tls = asynchat::tls;

// Named, not anonymous: -Wsubobject-linkage with the classes BOOST_DATA_TEST_CASE makes.
namespace test_tls_string_transport {

std::vector<std::size_t> segment_sizes() { return {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; }

// A line protocol with SMTP's STARTTLS: "STARTTLS" answers 220 and starts TLS, "QUIT" answers 221 and closes
// when done, "FILE" answers with a file producer (which cannot go out with sendfile under TLS), anything else
// is echoed. Records every line it framed.
class starttls_echo : public asynchat::async_chat {
public:
    explicit starttls_echo(std::shared_ptr<tls::context> ctx) : ctx_(std::move(ctx)) { set_terminator("\r\n"); }
    std::vector<std::string> lines;
    std::string line;
    std::string file_path;
    int closes = 0;
    void collect_incoming_data(std::string_view d) override { line.append(d); }
    void found_terminator() override {
        lines.push_back(std::exchange(line, std::string()));
        const std::string& l = lines.back();
        if (l == "STARTTLS") {
            if (tls::tls_active(*this)) {
                push("454 TLS already active\r\n");
                return;
            }
            push("220 Ready to start TLS\r\n");
            tls::start_tls(*this, ctx_);
        } else if (l == "QUIT") {
            push("221 bye\r\n");
            close_when_done();
        } else if (l == "FILE") {
            push_with_producer(std::make_unique<asynchat::file_producer>(file_path, 1000));
        } else {
            push("echo: " + l + "\r\n");
        }
    }
    void handle_close() override {
        ++closes;
        async_chat::handle_close();
    }

private:
    std::shared_ptr<tls::context> ctx_;
};

// The client's half of the conversation: an engine whose wire bytes go to the channel through the transport in
// pieces of `segment`, and the channel's written() bytes back.
struct peer {
    std::unique_ptr<asynchat::stream_layer> engine;
    asynchat::string_transport& transport;
    std::size_t segment;
    std::string received;   // plaintext decoded from the channel

    // Moves bytes both ways until neither side has more.
    void pump() {
        for (int round = 0; round < 50; ++round) {
            std::string to_channel(engine->wire_pending());
            engine->wire_sent(to_channel.size());
            transport.receive(to_channel, segment);
            const std::string from_channel = transport.written();
            if (to_channel.empty() && from_channel.empty()) return;
            engine->receive(from_channel, received);
        }
    }
    void send(std::string_view text) {
        while (!text.empty()) {
            iovec iov{const_cast<char*>(text.data()), text.size()};
            const std::size_t n = engine->send(&iov, 1);
            BOOST_TEST_REQUIRE(n > 0u);
            text.remove_prefix(n);
            pump();
        }
        pump();
    }
};

BOOST_AUTO_TEST_SUITE(tls_over_string_transport)

BOOST_DATA_TEST_CASE(implicit_tls_echo_and_close_when_done, bdata::make(segment_sizes()), segment) {
    REQUIRE_CERTIFICATES(certs);
    starttls_echo chat(tls_test::server_context(certs));
    asynchat::string_transport t(chat);
    tls::use_tls(chat, tls_test::server_context(certs));
    BOOST_TEST(tls::tls_active(chat));
    peer client{tls_test::client_context(certs)->make_layer("localhost"), t, segment, {}};
    client.pump();
    BOOST_TEST_REQUIRE(client.engine->handshake_done());
    BOOST_TEST(chat.get_stream_layer()->handshake_done());
    client.send("hello\r\nworld\r\n");
    BOOST_TEST(chat.lines == (std::vector<std::string>{"hello", "world"}));
    BOOST_TEST(client.received == "echo: hello\r\necho: world\r\n");
    // QUIT: the reply, then close_notify, then handle_close (once the close_notify is written).
    client.send("QUIT\r\n");
    BOOST_TEST(client.received.ends_with("221 bye\r\n"));
    BOOST_TEST(t.closed_when_done());
    BOOST_TEST(chat.closes == 1);
    BOOST_TEST(client.engine->peer_closed());
}

// Pushed before the handshake is done (an SMTP greeting written at accept): kept, and sent once it is.
BOOST_AUTO_TEST_CASE(output_pushed_during_the_handshake_waits_for_it) {
    REQUIRE_CERTIFICATES(certs);
    starttls_echo chat(tls_test::server_context(certs));
    asynchat::string_transport t(chat);
    tls::use_tls(chat, tls_test::server_context(certs));
    chat.push("220 greeting\r\n");
    BOOST_TEST(t.written().empty());   // nothing: no ClientHello yet, and no plaintext may leave
    peer client{tls_test::client_context(certs)->make_layer("localhost"), t, 0, {}};
    client.pump();
    BOOST_TEST(client.received == "220 greeting\r\n");
}

// The peer's close_notify is its EOF: handle_close runs, as for a read of 0 bytes.
BOOST_AUTO_TEST_CASE(the_peers_close_notify_is_eof) {
    REQUIRE_CERTIFICATES(certs);
    starttls_echo chat(tls_test::server_context(certs));
    asynchat::string_transport t(chat);
    tls::use_tls(chat, tls_test::server_context(certs));
    peer client{tls_test::client_context(certs)->make_layer("localhost"), t, 0, {}};
    client.pump();
    client.send("last line\r\n");
    BOOST_TEST(chat.closes == 0);
    client.engine->close_notify();
    client.pump();
    BOOST_TEST(chat.closes == 1);
    BOOST_TEST(chat.get_stream_layer()->peer_closed());
}

// A file producer under TLS: read through more() and encrypted (sendfile cannot carry TLS), all of it, in order.
BOOST_AUTO_TEST_CASE(file_producers_are_read_and_encrypted) {
    REQUIRE_CERTIFICATES(certs);
    starttls_echo chat(tls_test::server_context(certs));
    chat.file_path = (certs.dir / "payload.bin").string();
    const std::string payload = tls_test::random_bytes(300000, 5);
    {
        std::ofstream(chat.file_path, std::ios::binary) << payload;
    }
    asynchat::string_transport t(chat);
    tls::use_tls(chat, tls_test::server_context(certs));
    peer client{tls_test::client_context(certs)->make_layer("localhost"), t, 0, {}};
    client.pump();
    client.send("before\r\nFILE\r\nafter\r\n");
    BOOST_TEST((client.received == "echo: before\r\n" + payload + "echo: after\r\n"));
}

// STARTTLS: the plaintext conversation, the 220 in plaintext, the handshake, then the same protocol encrypted.
BOOST_DATA_TEST_CASE(starttls_switches_after_the_reply, bdata::make(segment_sizes()), segment) {
    REQUIRE_CERTIFICATES(certs);
    starttls_echo chat(tls_test::server_context(certs));
    asynchat::string_transport t(chat);
    t.receive("EHLO client\r\n", segment);
    BOOST_TEST(t.written() == "echo: EHLO client\r\n");
    t.receive("STARTTLS\r\n", segment);
    BOOST_TEST(chat.stream_layer_pending());
    BOOST_TEST(!chat.readable());              // nothing is read until the switch
    BOOST_TEST(t.written() == "220 Ready to start TLS\r\n");
    BOOST_TEST(!chat.stream_layer_pending());  // switched once the 220 was written
    BOOST_TEST(chat.get_stream_layer() != nullptr);
    peer client{tls_test::client_context(certs)->make_layer("localhost"), t, segment, {}};
    client.pump();
    BOOST_TEST_REQUIRE(client.engine->handshake_done());
    client.send("EHLO again\r\nSTARTTLS\r\n");
    BOOST_TEST(client.received == "echo: EHLO again\r\n454 TLS already active\r\n");
    BOOST_TEST(chat.lines == (std::vector<std::string>{"EHLO client", "STARTTLS", "EHLO again", "STARTTLS"}));
}

// The STARTTLS command injection (CVE-2011-0411, Postfix; the 2021 "NO STARTTLS" findings in many mail
// clients and servers): a man in the middle appends a command to the plaintext STARTTLS, in the same segment.
// The server must not execute it as if it had come through TLS: "EVIL" is never framed, whatever the
// segmentation, and however late before the switch it arrives.
BOOST_DATA_TEST_CASE(cve_2011_0411_starttls_command_injection_is_discarded, bdata::make(segment_sizes()), segment) {
    REQUIRE_CERTIFICATES(certs);
    starttls_echo chat(tls_test::server_context(certs));
    asynchat::string_transport t(chat);
    t.receive("STARTTLS\r\nEVIL\r\n", segment);
    // More injected before the reply has even gone out.
    t.receive("EVIL2\r\n", segment);
    BOOST_TEST(t.written() == "220 Ready to start TLS\r\n");
    peer client{tls_test::client_context(certs)->make_layer("localhost"), t, segment, {}};
    client.pump();
    BOOST_TEST_REQUIRE(client.engine->handshake_done());
    client.send("NOOP\r\n");
    BOOST_TEST(chat.lines == (std::vector<std::string>{"STARTTLS", "NOOP"}));
    BOOST_TEST(client.received == "echo: NOOP\r\n");
}

// Plaintext injected after the switch goes to the TLS layer, which rejects it: a handshake_error for the
// channel's handle_error, never a framed line.
BOOST_AUTO_TEST_CASE(plaintext_after_the_switch_is_a_handshake_error) {
    REQUIRE_CERTIFICATES(certs);
    starttls_echo chat(tls_test::server_context(certs));
    asynchat::string_transport t(chat);
    t.receive("STARTTLS\r\n");
    BOOST_TEST(t.written() == "220 Ready to start TLS\r\n");
    BOOST_CHECK_THROW(t.receive("EVIL\r\n"), tls::handshake_error);
    BOOST_TEST(chat.lines == (std::vector<std::string>{"STARTTLS"}));
}

// A second layer is refused by the channel itself, whatever the caller checked.
BOOST_AUTO_TEST_CASE(a_second_layer_is_refused) {
    REQUIRE_CERTIFICATES(certs);
    starttls_echo chat(tls_test::server_context(certs));
    auto ctx = tls_test::server_context(certs);
    tls::use_tls(chat, ctx);
    BOOST_CHECK_THROW(chat.set_stream_layer(ctx->make_layer()), std::logic_error);
    BOOST_CHECK_THROW(chat.start_stream_layer(ctx->make_layer()), std::logic_error);
    BOOST_CHECK_THROW(tls::start_tls(chat, ctx), tls::error);
    BOOST_CHECK_THROW(chat.set_stream_layer(nullptr), std::invalid_argument);
}

// The client side of STARTTLS: it calls start_tls when the server's 220 arrives, and its ClientHello goes out at
// once. What the server sent after the 220 (injected by a man in the middle: the 2021 "NO STARTTLS" response
// injection) is never framed: in the read that carried the 220 it is discarded, and in a later read it reaches
// the TLS layer, which rejects it (a legitimate server sends nothing before the client's ClientHello).
class starttls_client : public asynchat::async_chat {
public:
    explicit starttls_client(std::shared_ptr<tls::context> ctx) : ctx_(std::move(ctx)) { set_terminator("\r\n"); }
    std::vector<std::string> lines;
    std::string line;
    void collect_incoming_data(std::string_view d) override { line.append(d); }
    void found_terminator() override {
        lines.push_back(std::exchange(line, std::string()));
        if (lines.back().starts_with("220 ")) {
            tls::start_tls(*this, ctx_, "localhost");
            push("EHLO secure\r\n");   // pushed after the switch: goes through TLS
        }
    }

private:
    std::shared_ptr<tls::context> ctx_;
};

BOOST_AUTO_TEST_CASE(a_starttls_client_discards_injected_responses) {
    REQUIRE_CERTIFICATES(certs);
    starttls_client chat(tls_test::client_context(certs));
    asynchat::string_transport t(chat);
    chat.push("STARTTLS\r\n");
    BOOST_TEST(t.written() == "STARTTLS\r\n");
    t.receive("220 go ahead\r\n250 INJECTED\r\n");
    BOOST_TEST(chat.get_stream_layer() != nullptr);
    // The server: an engine that takes the ClientHello.
    auto server = tls_test::server_context(certs)->make_layer();
    std::string server_received;
    for (int round = 0; round < 10; ++round) {
        const std::string hello = t.written();
        server->receive(hello, server_received);
        std::string back(server->wire_pending());
        server->wire_sent(back.size());
        if (hello.empty() && back.empty()) break;
        t.receive(back);
    }
    BOOST_TEST(server->handshake_done());
    BOOST_TEST(server_received == "EHLO secure\r\n");
    BOOST_TEST(chat.lines == (std::vector<std::string>{"220 go ahead"}));
}

BOOST_DATA_TEST_CASE(a_starttls_client_rejects_responses_injected_in_a_later_read,
                     bdata::make(std::vector<std::size_t>{1, 2, 3, 4, 5, 6, 7, 8, 9}), segment) {
    REQUIRE_CERTIFICATES(certs);
    starttls_client chat(tls_test::client_context(certs));
    asynchat::string_transport t(chat);
    chat.push("STARTTLS\r\n");
    BOOST_TEST(t.written() == "STARTTLS\r\n");
    BOOST_CHECK_THROW(t.receive("220 go ahead\r\n250 INJECTED\r\n", segment), tls::handshake_error);
    BOOST_TEST(chat.lines == (std::vector<std::string>{"220 go ahead"}));
}

BOOST_AUTO_TEST_SUITE_END()

} // namespace test_tls_string_transport
