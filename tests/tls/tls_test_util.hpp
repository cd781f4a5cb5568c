#pragma once
// Shared by the TLS suites: contexts made from the test certificates, and two engines wired to each other in
// memory with the segmentation a test chooses.
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include <sys/uio.h>

#include <asynchat/tls.hpp>

#include "test_certificates.hpp"

// In a test case: binds `c` to the test certificates, or skips the case (with a message) when openssl could not
// make them. Needs Boost.Test's unit_test.hpp.
#define REQUIRE_CERTIFICATES(c)                                                                                    \
    const auto& c##_opt = test_support::certificates();                                                           \
    if (!c##_opt) {                                                                                                \
        BOOST_TEST_MESSAGE("skipped: the openssl command could not make the test certificates");                  \
        return;                                                                                                    \
    }                                                                                                              \
    const auto& c = *c##_opt

namespace tls_test {

namespace tls = asynchat::tls;

inline std::shared_ptr<tls::context> server_context(const test_support::test_certificates& c,
                                                    std::vector<std::string> alpn = {}) {
    return tls::context::server({c.server_cert(), c.server_key(), std::move(alpn)});
}

inline std::shared_ptr<tls::context> client_context(const test_support::test_certificates& c,
                                                    std::vector<std::string> alpn = {}) {
    return tls::context::client({c.ca_cert(), true, std::move(alpn)});
}

// How the wire bytes travel between the engines: cut into pieces of `segment` bytes (0: as they come), or at
// random places when `random_cuts` is set.
struct cutter {
    std::size_t segment = 0;
    std::optional<std::mt19937> random_cuts;
    std::size_t next(std::size_t available) {
        if (random_cuts) return std::uniform_int_distribution<std::size_t>(1, available)(*random_cuts);
        return segment == 0 ? available : std::min(segment, available);
    }
};

// Moves what `from` has pending into `to`, piece by piece; returns the plaintext `to` decoded.
inline std::string transfer(asynchat::stream_layer& from, asynchat::stream_layer& to, cutter& cut) {
    std::string plaintext;
    for (;;) {
        const std::string_view wire = from.wire_pending();
        if (wire.empty()) return plaintext;
        const std::size_t n = cut.next(wire.size());
        const std::string piece(wire.substr(0, n));
        from.wire_sent(n);
        to.receive(piece, plaintext);
    }
}

// Hands `data` to the layer until it has taken all of it, moving the wire bytes to the peer whenever the layer
// stops taking; returns what the peer decoded.
inline std::string send_all(asynchat::stream_layer& from, asynchat::stream_layer& to, std::string_view data,
                            cutter& cut) {
    std::string decoded;
    while (!data.empty()) {
        iovec iov{const_cast<char*>(data.data()), data.size()};
        const std::size_t n = from.send(&iov, 1);
        data.remove_prefix(n);
        decoded += transfer(from, to, cut);
        if (n == 0 && from.wire_pending().empty()) break; // refuses for good: the test's assertions say so
    }
    decoded += transfer(from, to, cut);
    return decoded;
}

// A client and a server engine; handshake() runs the flights until both are done (a bounded number of them).
struct engine_pair {
    std::unique_ptr<asynchat::stream_layer> client;
    std::unique_ptr<asynchat::stream_layer> server;
    cutter cut;
    std::string client_received; // plaintext decoded so far
    std::string server_received;

    engine_pair(const std::shared_ptr<tls::context>& client_ctx, const std::shared_ptr<tls::context>& server_ctx,
                std::string_view host = "localhost", cutter c = {})
        : client(client_ctx->make_layer(host)), server(server_ctx->make_layer()), cut(std::move(c)) {}

    // Moves bytes both ways until neither side has any pending.
    void pump() {
        for (int round = 0; round < 50; ++round) {
            if (client->wire_pending().empty() && server->wire_pending().empty()) return;
            server_received += transfer(*client, *server, cut);
            client_received += transfer(*server, *client, cut);
        }
    }
    bool handshake() {
        pump();
        return client->handshake_done() && server->handshake_done();
    }
};

inline std::string random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 gen(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(gen());
    return s;
}

} // namespace tls_test
