#pragma once
// asynchat::tls — TLS for any async_chat, as a stream_layer (stream_layer.hpp) under the protocol: Twisted's and
// Netty's design, not Python's ssl.wrap_socket one. The protocol's handlers are unchanged; there is no
// SSLWantRead/SSLWantWrite dance anywhere (docs/tls.md).
//
//   auto ctx = asynchat::tls::context::server({.certificate_chain = "cert.pem", .private_key = "key.pem"});
//   void handle_accepted(asyncore::socket s, asyncore::address) override {
//       auto ch = asyncore::make<echo_channel>(std::move(s));
//       asynchat::tls::use_tls(*ch, ctx);                          // implicit TLS: from the first byte
//   }
//   // SMTP's STARTTLS, in found_terminator:  push("220 Ready\r\n"); asynchat::tls::start_tls(*this, ctx);
//
// The engine (layer) is OpenSSL over in-memory BIOs: sans-I/O, never blocking, so it runs on every backend (the
// Asio completion transport included) and under string_transport. TLS 1.2 is the minimum; renegotiation and
// compression are off; clients verify the chain and the host name by default.
//
// OpenSSL's headers are not included here: a program that uses this layer needs none of them.
#include <cstddef>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <asynchat/async_chat.hpp>
#include <asynchat/stream_layer.hpp>

struct ssl_ctx_st;   // OpenSSL's SSL_CTX
struct ssl_st;       // OpenSSL's SSL
struct bio_st;       // OpenSSL's BIO

namespace asynchat::tls {

struct server_config {
    std::filesystem::path certificate_chain;   // PEM: leaf first, then intermediates
    std::filesystem::path private_key;         // PEM
    std::vector<std::string> alpn;             // protocols accepted, in preference order ("http/1.1"); empty: none
};

struct client_config {
    std::filesystem::path ca_file;             // PEM bundle; empty: the system store
    bool verify_peer = true;                   // chain AND host name; false only for tests/diagnostics
    std::vector<std::string> alpn;             // protocols offered, in preference order
};

// Everything this layer throws derives from it.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The context factories' errors (and make_layer's): one line naming the file and the problem, e.g.
// "cannot read certificate chain /x.pem: No such file or directory",
// "private key /k.pem does not match certificate /c.pem".
class config_error : public error {
public:
    using error::error;
};

// What handle_error receives when a handshake fails: one line saying why ("certificate verify failed:
// self-signed certificate", "certificate verify failed: hostname mismatch", "peer did not speak TLS (http
// request)", "tlsv1 alert unknown ca").
class handshake_error : public error {
public:
    using error::error;
};

// Plaintext the layer keeps in its wire buffer at most before send() takes no more (it can then exceed it by
// one record's overhead): the rest waits in the channel's queue, where the output watermarks count it.
inline constexpr std::size_t max_wire_pending = std::size_t{64} << 10;
// Most plaintext bytes per TLS record (the protocol's own limit). Small pieces of output are gathered up to it,
// so that a burst of short lines costs one record, not one each.
inline constexpr std::size_t max_record_plaintext = 16384;

class layer;

// Owns an SSL_CTX: TLS 1.2 minimum, no renegotiation, no compression. Shared by every channel it serves (and
// safe to share between threads, as OpenSSL's SSL_CTX is).
class context : public std::enable_shared_from_this<context> {
public:
    // Throws config_error: a file that cannot be read, a certificate or key that does not parse, a key that
    // does not match the certificate, an ALPN name longer than 255 bytes.
    static std::shared_ptr<context> server(const server_config& config);
    static std::shared_ptr<context> client(const client_config& config);
    ~context();
    context(const context&) = delete;
    context& operator=(const context&) = delete;

    bool is_server() const noexcept { return server_; }
    // A layer for one connection. host_name (clients only): sent as SNI (unless it is an IP literal) and the
    // name the certificate must match (DNS name, or IP address for a literal). A verifying client needs one:
    // config_error without it.
    std::unique_ptr<stream_layer> make_layer(std::string_view host_name = {}) const;

    ssl_ctx_st* native_handle() const noexcept { return ctx_; }

private:
    friend class layer;
    context(ssl_ctx_st* ctx, bool server, const client_config* client);
    ssl_ctx_st* ctx_;
    bool server_;
    bool verify_peer_ = false;
    std::vector<unsigned char> alpn_wire_;   // the server's ALPN list in wire format (length-prefixed names)
};

// One TLS connection's engine. Made by context::make_layer; reach it from a channel with layer_of().
class layer final : public stream_layer {
public:
    ~layer() override;
    layer(const layer&) = delete;
    layer& operator=(const layer&) = delete;

    // ---- stream_layer
    // Throws handshake_error while the handshake is incomplete, error after (a bad record, a fatal alert).
    void receive(std::string_view wire, std::string& plaintext) override;
    std::size_t send(const iovec* iov, int iovcnt) override;
    std::string_view wire_pending() const noexcept override {
        return std::string_view(wire_).substr(wire_offset_);
    }
    void wire_sent(std::size_t n) override;
    void close_notify() override;
    bool peer_closed() const noexcept override { return peer_closed_; }
    bool handshake_done() const noexcept override { return handshake_done_; }

    // ---- what the handshake agreed on (empty before it is done)
    // The ALPN protocol selected ("http/1.1"), or empty when none was.
    std::string alpn_protocol() const;
    // "TLSv1.3", "TLSv1.2".
    std::string protocol_version() const;
    // The cipher suite's OpenSSL name ("TLS_AES_256_GCM_SHA384").
    std::string cipher() const;
    bool is_server() const noexcept { return server_; }

    ssl_st* native_handle() const noexcept { return ssl_; }

private:
    friend class context;
    friend struct layer_bio;
    layer(std::shared_ptr<const context> ctx, std::string_view host_name);
    void drive_handshake();
    void read_plaintext(std::string& plaintext);
    [[noreturn]] void fail(int ssl_result, const char* during);
    std::size_t write_record(const char* data, std::size_t n);

    std::shared_ptr<const context> ctx_;   // the SSL_CTX must outlive the SSL
    ssl_st* ssl_ = nullptr;
    bio_st* bio_ = nullptr;                // ours: reads from input_, writes to wire_
    std::string_view input_;               // during receive(): the wire bytes OpenSSL has not read yet
    std::string wire_;                     // wire bytes produced; wire_offset_ of them already sent
    std::size_t wire_offset_ = 0;
    bool server_;
    bool first_bytes_ = true;              // nothing received yet: the first byte tells a TLS peer from plaintext
    bool plaintext_peer_ = false;          // ... and it was not a TLS record
    bool handshake_done_ = false;
    bool peer_closed_ = false;
    bool notify_queued_ = false;
    bool failed_ = false;                  // a fatal error: no close_notify, nothing more is processed
};

// The TLS layer of a channel (installed, not pending), or null.
layer* layer_of(async_chat& channel) noexcept;

// Implicit TLS: the channel speaks TLS from its first byte. Call before any byte is read or pushed.
void use_tls(async_chat& channel, const std::shared_ptr<context>& ctx, std::string_view host_name = {});
// STARTTLS (RFC 3207, RFC 2595 section 3.1): TLS starts after what is already pushed (the "220 Ready" reply) is
// sent; bytes received after the command that asked for it are discarded (CVE-2011-0411, the 2021 "NO STARTTLS"
// findings). On a client, call it when the server's go-ahead arrives. error if TLS is already active.
void start_tls(async_chat& channel, const std::shared_ptr<context>& ctx, std::string_view host_name = {});
// A layer is installed or pending on the channel (a second STARTTLS is refused: check this first).
bool tls_active(async_chat& channel) noexcept;

} // namespace asynchat::tls
