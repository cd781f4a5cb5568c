// The TLS engine sans-I/O: a client engine and a server engine wired to each other in memory, so every wire byte
// and every segmentation is the test's choice. No socket, no loop.
#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <asynchat/tls.hpp>

#include <openssl/ssl.h>

#include "test_certificates.hpp"
#include "tls_test_util.hpp"

namespace bdata = boost::unit_test::data;
namespace tls = asynchat::tls;

namespace test_tls_engine {

using tls_test::cutter;
using tls_test::engine_pair;

// Wire segments of 1..9 bytes, and everything as it comes (0).
std::vector<std::size_t> segment_sizes() { return {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; }

BOOST_AUTO_TEST_SUITE(engine)

BOOST_DATA_TEST_CASE(handshake_and_data_both_ways_at_every_segmentation, bdata::make(segment_sizes()), segment) {
    REQUIRE_CERTIFICATES(certs);
    engine_pair p(tls_test::client_context(certs), tls_test::server_context(certs), "localhost",
                  cutter{segment, std::nullopt});
    BOOST_TEST(!p.client->handshake_done());
    BOOST_TEST(!p.client->wire_pending().empty()); // the ClientHello, ready before anything was received
    BOOST_TEST_REQUIRE(p.handshake());
    BOOST_TEST(p.server_received.empty());
    BOOST_TEST(p.client_received.empty());

    const std::string ping = "PING one\r\nPING two\r\n";
    BOOST_TEST(tls_test::send_all(*p.client, *p.server, ping, p.cut) == ping);
    const std::string pong = "PONG\r\n";
    BOOST_TEST(tls_test::send_all(*p.server, *p.client, pong, p.cut) == pong);
}

BOOST_DATA_TEST_CASE(random_cuts_of_the_wire_both_ways, bdata::xrange(8u), seed) {
    REQUIRE_CERTIFICATES(certs);
    engine_pair p(tls_test::client_context(certs), tls_test::server_context(certs), "localhost",
                  cutter{0, std::mt19937(seed)});
    BOOST_TEST_REQUIRE(p.handshake());
    const std::string up = tls_test::random_bytes(100000 + seed * 777, seed);
    const std::string down = tls_test::random_bytes(50000 + seed * 333, seed + 100);
    BOOST_TEST((tls_test::send_all(*p.client, *p.server, up, p.cut) == up));
    BOOST_TEST((tls_test::send_all(*p.server, *p.client, down, p.cut) == down));
}

// Several MiB each way, through the bounded wire buffer: send() takes at most max_wire_pending before the bytes
// are moved, and what arrives is what was sent.
BOOST_AUTO_TEST_CASE(multi_mebibyte_both_ways_within_the_wire_bound) {
    REQUIRE_CERTIFICATES(certs);
    engine_pair p(tls_test::client_context(certs), tls_test::server_context(certs), "localhost",
                  cutter{0, std::mt19937(7)});
    BOOST_TEST_REQUIRE(p.handshake());
    for (int direction = 0; direction < 2; ++direction) {
        auto& from = direction == 0 ? *p.client : *p.server;
        auto& to = direction == 0 ? *p.server : *p.client;
        const std::string data = tls_test::random_bytes(std::size_t{5} << 20, 40 + direction);
        std::string decoded;
        std::size_t offset = 0, most_pending = 0, sends = 0;
        while (offset < data.size()) {
            iovec iov{const_cast<char*>(data.data() + offset), data.size() - offset};
            const std::size_t n = from.send(&iov, 1);
            BOOST_TEST_REQUIRE(n > 0);
            BOOST_TEST_REQUIRE(n <= tls::max_wire_pending);
            offset += n;
            ++sends;
            most_pending = std::max(most_pending, from.wire_pending().size());
            // A second send before the wire is drained takes nothing: the bound holds across calls.
            BOOST_TEST_REQUIRE(from.send(&iov, 1) == 0u);
            decoded += tls_test::transfer(from, to, p.cut);
        }
        BOOST_TEST(decoded.size() == data.size());
        BOOST_TEST((decoded == data));
        // One record's overhead per 16 KiB of plaintext at most (TLS 1.3: 5 header + 1 type + 16 tag bytes).
        BOOST_TEST(most_pending <= tls::max_wire_pending + 4 * 64);
        BOOST_TEST(sends >= data.size() / tls::max_wire_pending);
    }
}

// A burst of short replies (one iovec each, as the output queue hands them out) becomes whole records, not one
// record per reply: 256 replies of 64 bytes are one 16 KiB record.
BOOST_AUTO_TEST_CASE(small_pieces_are_gathered_into_whole_records) {
    REQUIRE_CERTIFICATES(certs);
    engine_pair p(tls_test::client_context(certs), tls_test::server_context(certs));
    BOOST_TEST_REQUIRE(p.handshake());
    std::vector<std::string> replies;
    std::vector<iovec> iov;
    for (int i = 0; i < 256; ++i) replies.push_back(std::string(62, static_cast<char>('a' + i % 26)) + "\r\n");
    for (auto& r : replies) iov.push_back({r.data(), r.size()});
    BOOST_TEST(p.server->send(iov.data(), static_cast<int>(iov.size())) == 256u * 64u);
    // One record: its 16384 bytes and at most a few dozen of framing, not 256 records' worth (256 * 22 bytes).
    BOOST_TEST(p.server->wire_pending().size() <= 16384u + 64u);
    std::string expected;
    for (auto& r : replies) expected += r;
    BOOST_TEST((tls_test::transfer(*p.server, *p.client, p.cut) == expected));
}

// Before the handshake is done the layer takes no plaintext (it stays queued in the channel, not lost).
BOOST_AUTO_TEST_CASE(send_before_the_handshake_takes_nothing) {
    REQUIRE_CERTIFICATES(certs);
    engine_pair p(tls_test::client_context(certs), tls_test::server_context(certs));
    std::string early = "EHLO early\r\n";
    iovec iov{early.data(), early.size()};
    BOOST_TEST(p.client->send(&iov, 1) == 0u);
    BOOST_TEST(p.server->send(&iov, 1) == 0u);
    BOOST_TEST_REQUIRE(p.handshake());
    BOOST_TEST(tls_test::send_all(*p.client, *p.server, early, p.cut) == early);
}

BOOST_DATA_TEST_CASE(close_notify_each_way, bdata::make(segment_sizes()), segment) {
    REQUIRE_CERTIFICATES(certs);
    engine_pair p(tls_test::client_context(certs), tls_test::server_context(certs), "localhost",
                  cutter{segment, std::nullopt});
    BOOST_TEST_REQUIRE(p.handshake());
    const std::string last = "221 bye\r\n";
    iovec iov{const_cast<char*>(last.data()), last.size()};
    BOOST_TEST(p.server->send(&iov, 1) == last.size());
    p.server->close_notify();
    BOOST_TEST(p.server->send(&iov, 1) == 0u); // nothing after close_notify
    BOOST_TEST(!p.client->peer_closed());
    BOOST_TEST(tls_test::transfer(*p.server, *p.client, p.cut) == last); // the data, then the end of the stream
    BOOST_TEST(p.client->peer_closed());
    BOOST_TEST(!p.server->peer_closed());
    // The client answers with its own.
    p.client->close_notify();
    BOOST_TEST(tls_test::transfer(*p.client, *p.server, p.cut).empty());
    BOOST_TEST(p.server->peer_closed());
}

// A stream cut in the middle of a record (the connection dropped, or an attacker's RST): the partial record
// yields nothing and no error, and the peer did not close cleanly, which the channel can tell from an EOF.
BOOST_AUTO_TEST_CASE(a_truncated_stream_delivers_no_partial_record) {
    REQUIRE_CERTIFICATES(certs);
    engine_pair p(tls_test::client_context(certs), tls_test::server_context(certs));
    BOOST_TEST_REQUIRE(p.handshake());
    const std::string data = "a record that never arrives whole";
    iovec iov{const_cast<char*>(data.data()), data.size()};
    BOOST_TEST(p.server->send(&iov, 1) == data.size());
    const std::string wire(p.server->wire_pending());
    std::string plaintext;
    p.client->receive(std::string_view(wire).substr(0, wire.size() - 1), plaintext);
    BOOST_TEST(plaintext.empty());
    BOOST_TEST(!p.client->peer_closed());
    // The last byte completes it.
    p.client->receive(std::string_view(wire).substr(wire.size() - 1), plaintext);
    BOOST_TEST(plaintext == data);
}

// A record altered in transit: an error (not a handshake_error: the session was up), and nothing of it is
// delivered.
BOOST_AUTO_TEST_CASE(a_tampered_record_is_an_error) {
    REQUIRE_CERTIFICATES(certs);
    engine_pair p(tls_test::client_context(certs), tls_test::server_context(certs));
    BOOST_TEST_REQUIRE(p.handshake());
    const std::string data(1000, 'x');
    iovec iov{const_cast<char*>(data.data()), data.size()};
    BOOST_TEST(p.server->send(&iov, 1) == data.size());
    std::string wire(p.server->wire_pending());
    wire[wire.size() / 2] ^= 1;
    std::string plaintext;
    try {
        p.client->receive(wire, plaintext);
        BOOST_FAIL("a tampered record was accepted");
    } catch (const tls::handshake_error& e) {
        BOOST_FAIL(std::string("handshake_error after the handshake: ") + e.what());
    } catch (const tls::error& e) {
        BOOST_TEST_MESSAGE(e.what());
        BOOST_TEST(std::string(e.what()).find("bad record mac") != std::string::npos);
    }
    BOOST_TEST(plaintext.empty());
    // Failed for good.
    BOOST_CHECK_THROW(p.client->receive("x", plaintext), tls::error);
}

struct not_tls_case {
    std::string name;
    std::string bytes;
    friend std::ostream& operator<<(std::ostream& os, const not_tls_case& c) { return os << c.name; }
};

std::vector<not_tls_case> not_tls_cases() {
    return {{"http", "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"},
            {"smtp", "EHLO client.example\r\n"},
            {"binary", std::string("\x00\x01\x02\x03\x04\x05\x06\x07garbage", 15)}};
}

// Plaintext to a TLS port: handshake_error saying the peer did not speak TLS, whatever the segmentation.
BOOST_DATA_TEST_CASE(plaintext_to_a_tls_server_is_a_handshake_error,
                     bdata::make(not_tls_cases()) * bdata::make(std::vector<std::size_t>{0, 1, 3}), c, segment) {
    REQUIRE_CERTIFICATES(certs);
    auto server = tls_test::server_context(certs)->make_layer();
    std::string plaintext;
    std::string what;
    try {
        for (std::size_t at = 0; at < c.bytes.size(); at += segment ? segment : c.bytes.size())
            server->receive(std::string_view(c.bytes).substr(at, segment ? segment : c.bytes.size()), plaintext);
    } catch (const tls::handshake_error& e) {
        what = e.what();
    }
    BOOST_TEST_MESSAGE(c.name << ": " << what);
    BOOST_TEST(what.starts_with("peer did not speak TLS ("));
    BOOST_TEST(plaintext.empty());
    BOOST_TEST(!server->handshake_done());
}

// A client that connected to a plaintext server (an SMTP greeting where a ServerHello was due).
BOOST_AUTO_TEST_CASE(plaintext_to_a_tls_client_is_a_handshake_error) {
    REQUIRE_CERTIFICATES(certs);
    auto client = tls_test::client_context(certs)->make_layer("localhost");
    std::string plaintext;
    try {
        client->receive("220 mail.example ESMTP ready\r\n", plaintext);
        BOOST_FAIL("no error");
    } catch (const tls::handshake_error& e) {
        BOOST_TEST_MESSAGE(e.what());
        BOOST_TEST(std::string(e.what()).starts_with("peer did not speak TLS ("));
    }
}

// Bytes that start like a TLS record but are not a valid ClientHello.
BOOST_AUTO_TEST_CASE(a_malformed_client_hello_is_a_handshake_error) {
    REQUIRE_CERTIFICATES(certs);
    auto server = tls_test::server_context(certs)->make_layer();
    std::string plaintext;
    const std::string bad("\x16\x03\x01\x00\x08\x01\x00\x00\x04\xff\xff\xff\xff", 13);
    BOOST_CHECK_THROW(server->receive(bad, plaintext), tls::handshake_error);
    // The server's alert telling the client so is ready to go out before the channel closes.
    BOOST_TEST(!server->wire_pending().empty());
}

struct verify_case {
    std::string name;
    std::function<std::shared_ptr<tls::context>(const test_support::test_certificates&)> client;
    std::function<std::shared_ptr<tls::context>(const test_support::test_certificates&)> server;
    std::string host;
    std::string expected;   // the client's handshake_error
    friend std::ostream& operator<<(std::ostream& os, const verify_case& c) { return os << c.name; }
};

std::vector<verify_case> verify_cases() {
    using certs_t = test_support::test_certificates;
    const auto our_server = [](const certs_t& c) { return tls_test::server_context(c); };
    const auto our_client = [](const certs_t& c) { return tls_test::client_context(c); };
    return {
        {"other_ca", [](const certs_t& c) { return tls::context::client({c.other_ca_cert(), true, {}}); }, our_server,
         "localhost", "certificate verify failed: unable to get local issuer certificate"},
        {"self_signed", our_client,
         [](const certs_t& c) { return tls::context::server({c.self_signed_cert(), c.self_signed_key(), {}}); },
         "localhost", "certificate verify failed: self-signed certificate"},
        {"wrong_host_certificate", our_client,
         [](const certs_t& c) { return tls::context::server({c.wrong_host_cert(), c.wrong_host_key(), {}}); },
         "localhost", "certificate verify failed: hostname mismatch"},
        {"wrong_host_name", our_client, our_server, "www.example.com",
         "certificate verify failed: hostname mismatch"},
        {"wrong_ip_address", our_client, our_server, "10.1.2.3", "certificate verify failed: IP address mismatch"},
    };
}

// What the client says when the server's certificate does not verify, and that the server's handshake fails
// too (the client's alert), so neither side carries on.
BOOST_DATA_TEST_CASE(verification_failures_name_the_reason, bdata::make(verify_cases()), c) {
    REQUIRE_CERTIFICATES(certs);
    engine_pair p(c.client(certs), c.server(certs), c.host);
    std::string client_error, server_error;
    for (int round = 0; round < 10 && client_error.empty(); ++round) {
        try {
            p.client_received += tls_test::transfer(*p.server, *p.client, p.cut);
        } catch (const tls::handshake_error& e) {
            client_error = e.what();
        }
        try {
            p.server_received += tls_test::transfer(*p.client, *p.server, p.cut);
        } catch (const tls::handshake_error& e) {
            server_error = e.what();
        }
    }
    BOOST_TEST(client_error == c.expected);
    BOOST_TEST(!p.client->handshake_done());
    BOOST_TEST_MESSAGE(c.name << ": server saw '" << server_error << "'");
    BOOST_TEST(!server_error.empty());
}

struct good_host {
    std::string host;
    friend std::ostream& operator<<(std::ostream& os, const good_host& h) { return os << h.host; }
};

// The certificate names localhost, 127.0.0.1 and ::1: each verifies (IP literals against the IP addresses, with
// no SNI sent for them).
BOOST_DATA_TEST_CASE(names_and_ip_literals_in_the_certificate_verify,
                     bdata::make(std::vector<good_host>{{"localhost"}, {"127.0.0.1"}, {"::1"}, {"[::1]"}}), h) {
    REQUIRE_CERTIFICATES(certs);
    engine_pair p(tls_test::client_context(certs), tls_test::server_context(certs), h.host);
    BOOST_TEST(p.handshake());
}

BOOST_AUTO_TEST_CASE(verify_peer_false_accepts_any_certificate) {
    REQUIRE_CERTIFICATES(certs);
    engine_pair p(tls::context::client({{}, false, {}}),
                  tls::context::server({certs.self_signed_cert(), certs.self_signed_key(), {}}), "");
    BOOST_TEST(p.handshake());
}

BOOST_AUTO_TEST_CASE(a_verifying_client_needs_a_host_name) {
    REQUIRE_CERTIFICATES(certs);
    BOOST_CHECK_THROW(tls_test::client_context(certs)->make_layer(), tls::config_error);
}

BOOST_AUTO_TEST_CASE(alpn_picks_the_servers_preference_among_the_clients_offer) {
    REQUIRE_CERTIFICATES(certs);
    {
        engine_pair p(tls_test::client_context(certs, {"http/1.1", "h2"}),
                      tls_test::server_context(certs, {"h2", "http/1.1"}));
        BOOST_TEST_REQUIRE(p.handshake());
        BOOST_TEST(dynamic_cast<tls::layer&>(*p.server).alpn_protocol() == "h2");
        BOOST_TEST(dynamic_cast<tls::layer&>(*p.client).alpn_protocol() == "h2");
    }
    {
        // Nothing in common: the handshake goes on without ALPN.
        engine_pair p(tls_test::client_context(certs, {"smtp"}), tls_test::server_context(certs, {"http/1.1"}));
        BOOST_TEST_REQUIRE(p.handshake());
        BOOST_TEST(dynamic_cast<tls::layer&>(*p.client).alpn_protocol().empty());
    }
    BOOST_CHECK_THROW(tls_test::client_context(certs, {std::string(256, 'x')}), tls::config_error);
}

BOOST_AUTO_TEST_CASE(the_session_is_tls_1_2_or_later) {
    REQUIRE_CERTIFICATES(certs);
    engine_pair p(tls_test::client_context(certs), tls_test::server_context(certs));
    BOOST_TEST_REQUIRE(p.handshake());
    auto& client = dynamic_cast<tls::layer&>(*p.client);
    BOOST_TEST(client.protocol_version() == "TLSv1.3");
    BOOST_TEST(!client.cipher().empty());
}

// TLS 1.2 is the minimum (RFC 8996): a client that offers at most TLS 1.1 is refused by the server.
BOOST_AUTO_TEST_CASE(tls_1_1_is_refused) {
    REQUIRE_CERTIFICATES(certs);
    auto client_ctx = tls_test::client_context(certs);
    SSL_CTX_set_min_proto_version(client_ctx->native_handle(), TLS1_VERSION);
    SSL_CTX_set_max_proto_version(client_ctx->native_handle(), TLS1_1_VERSION);
    SSL_CTX_set_security_level(client_ctx->native_handle(), 0);   // let this client offer TLS 1.1 at all
    engine_pair p(client_ctx, tls_test::server_context(certs));
    std::string server_error;
    try {
        p.server_received += tls_test::transfer(*p.client, *p.server, p.cut);
    } catch (const tls::handshake_error& e) {
        server_error = e.what();
    }
    BOOST_TEST_MESSAGE(server_error);
    BOOST_TEST(server_error == "unsupported protocol");
    BOOST_TEST(!p.server->handshake_done());
}

// No renegotiation (CVE-2009-3555, and the CPU cost of client-initiated renegotiation, CVE-2011-1473): a TLS 1.2
// client that asks for one gets no new handshake from the server.
BOOST_AUTO_TEST_CASE(renegotiation_is_refused) {
    REQUIRE_CERTIFICATES(certs);
    auto client_ctx = tls_test::client_context(certs);
    SSL_CTX_set_max_proto_version(client_ctx->native_handle(), TLS1_2_VERSION);
    SSL_CTX_clear_options(client_ctx->native_handle(), SSL_OP_NO_RENEGOTIATION);   // this client would
    engine_pair p(client_ctx, tls_test::server_context(certs));
    BOOST_TEST_REQUIRE(p.handshake());
    auto& client = dynamic_cast<tls::layer&>(*p.client);
    BOOST_TEST(client.protocol_version() == "TLSv1.2");
    BOOST_TEST_REQUIRE(SSL_renegotiate(client.native_handle()) == 1);
    SSL_do_handshake(client.native_handle());   // queues the new ClientHello
    BOOST_TEST_REQUIRE(!p.client->wire_pending().empty());
    bool client_failed = false;
    try {
        p.pump();
    } catch (const tls::error& e) {
        client_failed = true;
        BOOST_TEST_MESSAGE(e.what());
    }
    // The server refused (a no_renegotiation alert, which this client takes as fatal) or ignored it: either way
    // no renegotiation took place.
    BOOST_TEST((client_failed || SSL_renegotiate_pending(client.native_handle()) == 1));
    BOOST_TEST(SSL_num_renegotiations(dynamic_cast<tls::layer&>(*p.server).native_handle()) == 0);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(configuration)

std::string config_error_of(const std::function<void()>& make) {
    try {
        make();
    } catch (const tls::config_error& e) {
        return e.what();
    }
    return "(no config_error)";
}

BOOST_AUTO_TEST_CASE(errors_name_the_file_and_the_problem) {
    REQUIRE_CERTIFICATES(certs);
    const std::string missing = (certs.dir / "missing.pem").string();
    BOOST_TEST(config_error_of([&] { tls::context::server({missing, certs.server_key(), {}}); }) ==
               "cannot read certificate chain " + missing + ": No such file or directory");
    BOOST_TEST(config_error_of([&] { tls::context::server({certs.server_cert(), missing, {}}); }) ==
               "cannot read private key " + missing + ": No such file or directory");
    BOOST_TEST(config_error_of([&] { tls::context::server({certs.server_cert(), certs.self_signed_key(), {}}); }) ==
               "private key " + certs.self_signed_key().string() + " does not match certificate " +
                   certs.server_cert().string());
    // A key where the certificate should be, and the other way round: not what each file should hold.
    const std::string not_cert = config_error_of([&] { tls::context::server({certs.server_key(), certs.server_key(), {}}); });
    BOOST_TEST(not_cert.starts_with("cannot read certificate chain " + certs.server_key().string() + ": "));
    const std::string not_key = config_error_of([&] { tls::context::server({certs.server_cert(), certs.server_cert(), {}}); });
    BOOST_TEST(not_key.starts_with("cannot read private key " + certs.server_cert().string() + ": "));
    BOOST_TEST(config_error_of([&] { tls::context::client({missing, true, {}}); }) ==
               "cannot read CA file " + missing + ": No such file or directory");
    BOOST_TEST(config_error_of([&] { tls::context::server({{}, certs.server_key(), {}}); }) ==
               "no certificate chain given");
    BOOST_TEST_MESSAGE(not_cert);
    BOOST_TEST_MESSAGE(not_key);
}

BOOST_AUTO_TEST_CASE(the_system_store_is_the_default_ca) {
    // No CA file: the system's store, which does not know the test CA.
    REQUIRE_CERTIFICATES(certs);
    engine_pair p(tls::context::client({}), tls_test::server_context(certs));
    std::string what;
    try {
        p.pump();
    } catch (const tls::handshake_error& e) {
        what = e.what();
    }
    BOOST_TEST(what.starts_with("certificate verify failed: "));
}

BOOST_AUTO_TEST_SUITE_END()

} // namespace test_tls_engine
