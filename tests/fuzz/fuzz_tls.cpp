// The TLS engine (asynchat::tls::layer) fed what a hostile peer can send. Three modes, chosen by the first byte:
//   0  a server engine reads the input as a client's first flight (garbage, truncated or odd ClientHellos);
//   1  a client engine, its ClientHello sent, reads the input as the server's answer;
//   2  a real handshake in memory, then the client's application records are corrupted by XOR with the input
//      before the server reads them (a tampering man in the middle).
// The input is cut into reads at places the fuzzer chooses. Checked: only asynchat::tls::error escapes (a crash,
// a sanitizer report or another exception is a finding); the wire output stays bounded; in mode 2, plaintext
// the server decodes from a corrupted record is never something other than what the client sent (AEAD).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include <sys/uio.h>

#include <fuzzer/FuzzedDataProvider.h>

#include <asynchat/tls.hpp>

#include "test_certificates.hpp"

namespace tls = asynchat::tls;

namespace {

struct contexts {
    std::shared_ptr<tls::context> server;
    std::shared_ptr<tls::context> client;
};

const contexts& ctx() {
    static const contexts c = [] {
        const auto& certs = test_support::certificates();
        if (!certs) {
            std::fprintf(stderr, "fuzz_tls: cannot make test certificates (is the openssl command installed?)\n");
            std::abort();
        }
        return contexts{tls::context::server({certs->server_cert(), certs->server_key(), {"http/1.1"}}),
                        tls::context::client({certs->ca_cert(), true, {"http/1.1"}})};
    }();
    return c;
}

// Wire output a layer may hold: its bound plus a record's worth of handshake or alert bytes.
constexpr std::size_t wire_bound = tls::max_wire_pending + 64 * 1024;

void feed(asynchat::stream_layer& layer, FuzzedDataProvider& in, std::string& plaintext) {
    while (in.remaining_bytes() > 0) {
        const std::string piece = in.ConsumeRandomLengthString(2048);
        if (piece.empty()) break;
        layer.receive(piece, plaintext);
        if (layer.wire_pending().size() > wire_bound) std::abort();
        layer.wire_sent(layer.wire_pending().size());
    }
}

void move_all(asynchat::stream_layer& from, asynchat::stream_layer& to, std::string& plaintext) {
    for (int i = 0; i < 64 && !from.wire_pending().empty(); ++i) {
        const std::string wire(from.wire_pending());
        from.wire_sent(wire.size());
        to.receive(wire, plaintext);
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ctx();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    const int mode = in.ConsumeIntegralInRange(0, 2);
    std::string plaintext;
    try {
        if (mode == 0) {
            auto server = ctx().server->make_layer();
            feed(*server, in, plaintext);
        } else if (mode == 1) {
            auto client = ctx().client->make_layer("localhost");
            client->wire_sent(client->wire_pending().size());   // the ClientHello, made with the layer
            feed(*client, in, plaintext);
        } else {
            auto client = ctx().client->make_layer("localhost");
            auto server = ctx().server->make_layer();
            std::string ignored;
            for (int flight = 0; flight < 8 && !(client->handshake_done() && server->handshake_done()); ++flight) {
                move_all(*client, *server, ignored);
                move_all(*server, *client, ignored);
            }
            if (!client->handshake_done() || !server->handshake_done()) std::abort(); // the engines' own bug
            const std::string message = "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n";
            iovec iov{const_cast<char*>(message.data()), message.size()};
            if (client->send(&iov, 1) != message.size()) std::abort();
            std::string wire(client->wire_pending());
            client->wire_sent(wire.size());
            const std::string mask = in.ConsumeRemainingBytesAsString();
            for (std::size_t i = 0; i < mask.size() && i < wire.size(); ++i) wire[i] ^= mask[i];
            server->receive(wire, plaintext);
            // Whatever the server accepted must be what was sent (a prefix of it): AEAD lets nothing else through.
            if (std::string_view(message).substr(0, plaintext.size()) != plaintext) std::abort();
        }
    } catch (const tls::error&) {
        // The expected outcome of bad input: the channel's handle_error closes that connection.
    }
    return 0;
}
