// The TLS engine: OpenSSL driven through a BIO of our own that reads the bytes receive() was given and appends
// what OpenSSL writes to a string. Nothing here touches a socket or can block: OpenSSL asks for more input with a
// retry (SSL_ERROR_WANT_READ), and its writes always succeed, so SSL_ERROR_WANT_WRITE never happens and every
// SSL_write_ex completes (no partial writes, and no SSL_write retry that would need the same buffer again: the
// output queue's iovecs may move between calls, which SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER would otherwise be
// about). The bound on the wire output is ours (max_wire_pending), applied before OpenSSL is given plaintext.
#include "asynchat/tls.hpp"

#include <arpa/inet.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/decodererr.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace asynchat::tls {

namespace {

// OpenSSL's reason for the most recent error in this thread's queue ("wrong version number"), and the queue
// emptied; `fallback` when the queue holds nothing. For a file, the first error is the one that says what was
// wrong with it ("no start line"); the last only says which routine gave up ("PEM lib").
enum class which_error { last, first };
std::string take_openssl_reason(const char* fallback, unsigned long* code = nullptr,
                                which_error which = which_error::last) {
    const unsigned long e = which == which_error::first ? ERR_peek_error() : ERR_peek_last_error();
    ERR_clear_error();
    if (code) *code = e;
    if (e == 0) return fallback;
    const char* reason = ERR_reason_error_string(e);
    if (reason) return reason;
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

// "No such file or directory" when the file cannot be opened for reading, "" when it can: OpenSSL's own
// message for a missing file ("system lib") says less.
std::string unreadable(const std::filesystem::path& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return std::strerror(errno);
    std::fclose(f);
    return {};
}

bool is_ip_literal(const std::string& host) {
    unsigned char buf[sizeof(in6_addr)];
    return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// ALPN's wire format: each name preceded by its length.
std::vector<unsigned char> alpn_wire(const std::vector<std::string>& names) {
    std::vector<unsigned char> out;
    for (const auto& n : names) {
        if (n.empty() || n.size() > 255)
            throw config_error("ALPN protocol name must be 1 to 255 bytes: '" + n + "'");
        out.push_back(static_cast<unsigned char>(n.size()));
        out.insert(out.end(), n.begin(), n.end());
    }
    return out;
}

struct ctx_deleter {
    void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
using ctx_ptr = std::unique_ptr<SSL_CTX, ctx_deleter>;

// What every context has: TLS 1.2 at least (RFC 8996 deprecates 1.0 and 1.1), no renegotiation (its attacks and
// its CPU cost for a server: CVE-2009-3555, CVE-2011-1473), no compression (CRIME).
ctx_ptr new_context(const SSL_METHOD* method) {
    ctx_ptr ctx(SSL_CTX_new(method));
    if (!ctx) throw config_error("cannot create a TLS context: " + take_openssl_reason("out of memory"));
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    // An idle connection keeps no 16 KiB record buffers.
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
    return ctx;
}

// The server's ALPN choice: its own preference order among what the client offers. No common protocol: the
// handshake goes on without ALPN (what nginx does) rather than failing.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void* arg) {
    const auto* ours = static_cast<const std::vector<unsigned char>*>(arg);
    for (std::size_t i = 0; i < ours->size(); i += 1 + (*ours)[i]) {
        const unsigned char len = (*ours)[i];
        for (unsigned int j = 0; j < inlen; j += 1u + in[j]) {
            if (in[j] == len && j + 1 + len <= inlen && std::memcmp(in + j + 1, ours->data() + i + 1, len) == 0) {
                *out = in + j + 1;
                *outlen = len;
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

// Reasons OpenSSL gives when the first bytes were not a TLS record at all.
bool is_not_tls_reason(unsigned long e) {
    if (ERR_GET_LIB(e) != ERR_LIB_SSL) return false;
    switch (ERR_GET_REASON(e)) {
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_RECORD_LENGTH_MISMATCH: return true;
    default: return false;
    }
}

} // namespace

// ---- the BIO between OpenSSL and the layer

struct layer_bio {
    static int write(BIO* b, const char* data, int n) {
        auto* l = static_cast<layer*>(BIO_get_data(b));
        BIO_clear_retry_flags(b);
        if (n <= 0) return 0;
        l->wire_.append(data, static_cast<std::size_t>(n));
        return n;
    }
    static int read(BIO* b, char* out, int n) {
        auto* l = static_cast<layer*>(BIO_get_data(b));
        BIO_clear_retry_flags(b);
        if (n <= 0) return 0;
        if (l->input_.empty()) {
            // Not EOF: the bytes have not arrived yet. OpenSSL reports SSL_ERROR_WANT_READ.
            BIO_set_retry_read(b);
            return -1;
        }
        const std::size_t take = std::min(l->input_.size(), static_cast<std::size_t>(n));
        std::memcpy(out, l->input_.data(), take);
        l->input_.remove_prefix(take);
        return static_cast<int>(take);
    }
    static long ctrl(BIO*, int cmd, long, void*) {
        switch (cmd) {
        case BIO_CTRL_FLUSH: return 1;   // written at once: nothing to flush
        default: return 0;               // no kTLS, no pending counts, no EOF
        }
    }
    static int create(BIO* b) {
        BIO_set_init(b, 1);
        return 1;
    }
    static const BIO_METHOD* method() {
        static BIO_METHOD* const m = [] {
            BIO_METHOD* meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "asynchat tls layer");
            if (!meth) return meth;
            BIO_meth_set_write(meth, &layer_bio::write);
            BIO_meth_set_read(meth, &layer_bio::read);
            BIO_meth_set_ctrl(meth, &layer_bio::ctrl);
            BIO_meth_set_create(meth, &layer_bio::create);
            return meth;
        }();
        return m;
    }
};

// ---- context

context::context(ssl_ctx_st* ctx, bool server, const client_config* client) : ctx_(ctx), server_(server) {
    if (client) verify_peer_ = client->verify_peer;
}

context::~context() { SSL_CTX_free(ctx_); }

std::shared_ptr<context> context::server(const server_config& config) {
    ERR_clear_error();
    ctx_ptr ctx = new_context(TLS_server_method());
    const std::string chain = config.certificate_chain.string();
    const std::string key = config.private_key.string();
    if (chain.empty()) throw config_error("no certificate chain given");
    if (key.empty()) throw config_error("no private key given");
    if (auto why = unreadable(config.certificate_chain); !why.empty())
        throw config_error("cannot read certificate chain " + chain + ": " + why);
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), chain.c_str()) != 1)
        throw config_error("cannot read certificate chain " + chain + ": " + take_openssl_reason("not PEM", nullptr, which_error::first));
    if (auto why = unreadable(config.private_key); !why.empty())
        throw config_error("cannot read private key " + key + ": " + why);
    unsigned long code = 0;
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1) {
        // The last error says whether it is a mismatch; the first, what else was wrong with the file.
        const unsigned long first = ERR_peek_error();
        const std::string reason = take_openssl_reason("not PEM", &code);
        const char* first_reason = first ? ERR_reason_error_string(first) : nullptr;
        // OpenSSL 3 compares the key with the certificate as it loads it.
        if (ERR_GET_LIB(code) == ERR_LIB_X509 && (ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH ||
                                                  ERR_GET_REASON(code) == X509_R_KEY_TYPE_MISMATCH))
            throw config_error("private key " + key + " does not match certificate " + chain);
        // OpenSSL 3's decoders say "unsupported" for a file that holds no key (a certificate, say).
        if (first && ERR_GET_LIB(first) == ERR_LIB_OSSL_DECODER) first_reason = "no PEM private key in it";
        throw config_error("cannot read private key " + key + ": " + (first_reason ? first_reason : reason.c_str()));
    }
    if (SSL_CTX_check_private_key(ctx.get()) != 1) {
        ERR_clear_error();
        throw config_error("private key " + key + " does not match certificate " + chain);
    }
    // Sessions resumed by ID need a context name (any fixed one); tickets work without.
    static const unsigned char sid_ctx[] = "asynchat";
    SSL_CTX_set_session_id_context(ctx.get(), sid_ctx, sizeof sid_ctx - 1);
    std::shared_ptr<context> c(new context(ctx.release(), true, nullptr));
    c->alpn_wire_ = alpn_wire(config.alpn);
    if (!c->alpn_wire_.empty()) SSL_CTX_set_alpn_select_cb(c->ctx_, &select_alpn, &c->alpn_wire_);
    return c;
}

std::shared_ptr<context> context::client(const client_config& config) {
    ERR_clear_error();
    ctx_ptr ctx = new_context(TLS_client_method());
    if (config.verify_peer) {
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
        if (!config.ca_file.empty()) {
            const std::string file = config.ca_file.string();
            if (auto why = unreadable(config.ca_file); !why.empty())
                throw config_error("cannot read CA file " + file + ": " + why);
            if (SSL_CTX_load_verify_file(ctx.get(), file.c_str()) != 1)
                throw config_error("cannot read CA file " + file + ": " + take_openssl_reason("not PEM", nullptr, which_error::first));
        } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
            throw config_error("cannot load the system's CA store: " + take_openssl_reason("unknown error"));
        }
    } else {
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    }
    const std::vector<unsigned char> alpn = alpn_wire(config.alpn);
    // SSL_CTX_set_alpn_protos returns 0 on success, unlike the rest of OpenSSL.
    if (!alpn.empty() && SSL_CTX_set_alpn_protos(ctx.get(), alpn.data(), static_cast<unsigned>(alpn.size())) != 0)
        throw config_error("cannot set the ALPN protocols: " + take_openssl_reason("unknown error"));
    return std::shared_ptr<context>(new context(ctx.release(), false, &config));
}

std::unique_ptr<stream_layer> context::make_layer(std::string_view host_name) const {
    return std::unique_ptr<stream_layer>(new layer(shared_from_this(), host_name));
}

// ---- layer

layer::layer(std::shared_ptr<const context> ctx, std::string_view host_name)
    : ctx_(std::move(ctx)), server_(ctx_->server_) {
    ERR_clear_error();
    ssl_ = SSL_new(ctx_->ctx_);
    if (!ssl_) throw error("cannot create a TLS session: " + take_openssl_reason("out of memory"));
    const BIO_METHOD* method = layer_bio::method();
    bio_ = method ? BIO_new(method) : nullptr;
    if (!bio_) {
        SSL_free(ssl_);
        throw error("cannot create a TLS session: " + take_openssl_reason("out of memory"));
    }
    BIO_set_data(bio_, this);
    SSL_set_bio(ssl_, bio_, bio_);   // the SSL owns the BIO from here on (one reference for both directions)
    if (server_) {
        SSL_set_accept_state(ssl_);
        return;
    }
    SSL_set_connect_state(ssl_);
    std::string host(host_name);
    // A bracketed IPv6 literal, as in a URL.
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    const bool ip = !host.empty() && is_ip_literal(host);
    bool ok = true;
    // SNI carries host names only (RFC 6066 section 3: literal addresses are not permitted).
    if (!host.empty() && !ip) ok = SSL_set_tlsext_host_name(ssl_, host.c_str()) == 1;
    if (ctx_->verify_peer_) {
        if (host.empty()) {
            SSL_free(ssl_);
            throw config_error("a TLS client that verifies its peer needs the server's host name");
        }
        if (ip) {
            ok = ok && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str()) == 1;
        } else {
            SSL_set_hostflags(ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            ok = ok && SSL_set1_host(ssl_, host.c_str()) == 1;
        }
    }
    if (!ok) {
        SSL_free(ssl_);
        throw config_error("invalid TLS host name '" + host + "': " + take_openssl_reason("rejected"));
    }
    // The ClientHello, ready in wire_pending() for the channel to send as soon as it is connected.
    try {
        drive_handshake();
    } catch (...) {
        SSL_free(ssl_);
        throw;
    }
}

layer::~layer() { SSL_free(ssl_); }

void layer::drive_handshake() {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) {
        handshake_done_ = true;
        return;
    }
    const int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
    fail(r, "handshake");
}

void layer::receive(std::string_view wire, std::string& plaintext) {
    if (failed_) throw error("TLS: the session has already failed");
    if (wire.empty() || peer_closed_) return;   // after close_notify the peer has nothing more to say
    if (first_bytes_) {
        first_bytes_ = false;
        // Every TLS stream starts with a handshake record (22), or an alert (21) from a peer refusing ours.
        // Anything else is a peer speaking another protocol (plaintext to a TLS port).
        const auto type = static_cast<unsigned char>(wire.front());
        if (type != 22 && type != 21) plaintext_peer_ = true;
    }
    input_ = wire;
    struct clear_input {
        std::string_view& input;
        ~clear_input() { input = {}; }
    } guard{input_};
    if (!handshake_done_) {
        drive_handshake();
        if (!handshake_done_) return;
    }
    read_plaintext(plaintext);
}

void layer::read_plaintext(std::string& plaintext) {
    // All of it, until OpenSSL wants more input: the channel does not call again until the next read. Each record
    // is decrypted into a buffer on the stack and appended: growing the string by a record's worth first would
    // zero-fill 16 KiB per call, for a 100-byte HTTP request too.
    char record[max_record_plaintext];
    for (;;) {
        std::size_t n = 0;
        ERR_clear_error();
        const int r = SSL_read_ex(ssl_, record, sizeof record, &n);
        if (r == 1) {
            plaintext.append(record, n);
            // Every byte given has been read (OpenSSL reads a record's exact length from the BIO) and nothing
            // decrypted is left over: another call could only say SSL_ERROR_WANT_READ.
            if (input_.empty() && SSL_pending(ssl_) == 0) return;
            continue;
        }
        const int e = SSL_get_error(ssl_, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
        if (e == SSL_ERROR_ZERO_RETURN) {
            // close_notify: the end of the peer's stream. Bytes after it mean nothing.
            peer_closed_ = true;
            ERR_clear_error();
            return;
        }
        fail(r, "read");
    }
}

void layer::fail(int ssl_result, const char* during) {
    failed_ = true;
    const int e = SSL_get_error(ssl_, ssl_result);
    unsigned long code = 0;
    std::string reason = take_openssl_reason(e == SSL_ERROR_SYSCALL ? "unexpected end of stream" : "TLS error",
                                             &code);
    if (!handshake_done_) {
        // The client's verdict on the server's certificate, in X509's words ("self-signed certificate",
        // "hostname mismatch", "unable to get local issuer certificate").
        const long verify = SSL_get_verify_result(ssl_);
        if (!server_ && verify != X509_V_OK)
            throw handshake_error(std::string("certificate verify failed: ") +
                                  X509_verify_cert_error_string(verify));
        if (plaintext_peer_ || is_not_tls_reason(code)) throw handshake_error("peer did not speak TLS (" + reason + ")");
        throw handshake_error(reason);
    }
    throw error(std::string("TLS ") + during + " failed: " + reason);
}

std::size_t layer::write_record(const char* data, std::size_t n) {
    std::size_t done = 0;
    while (done < n) {
        std::size_t written = 0;
        ERR_clear_error();
        const int r = SSL_write_ex(ssl_, data + done, n - done, &written);
        if (r != 1) fail(r, "write");
        done += written;
    }
    return done;
}

std::size_t layer::send(const iovec* iov, int iovcnt) {
    if (!handshake_done_ || notify_queued_ || failed_) return 0;
    if (wire_offset_ > 0) {
        // Not everything was sent: what was is dropped from the front before more is appended.
        wire_.erase(0, wire_offset_);
        wire_offset_ = 0;
    }
    if (wire_.size() >= max_wire_pending) return 0;
    const std::size_t budget = max_wire_pending - wire_.size();
    std::size_t offered = 0;
    for (int i = 0; i < iovcnt; ++i) offered += iov[i].iov_len;
    // Room for the records at once (each adds at most a header, a type byte and a tag, or TLS 1.2's explicit
    // nonce and tag: under 64 bytes): the wire buffer does not grow by doubling, record after record.
    const std::size_t plain = std::min(offered, budget);
    wire_.reserve(wire_.size() + plain + (plain / max_record_plaintext + 1) * 64);
    // Small pieces (a burst of short replies) are gathered into whole records; a piece of a record or more goes
    // to OpenSSL as it is, in whole records.
    char stage[max_record_plaintext];
    std::size_t staged = 0;
    std::size_t taken = 0;
    const auto flush_stage = [&] {
        if (staged == 0) return;
        taken += write_record(stage, staged);
        staged = 0;
    };
    for (int i = 0; i < iovcnt; ++i) {
        const char* p = static_cast<const char*>(iov[i].iov_base);
        std::size_t len = iov[i].iov_len;
        while (len > 0) {
            const std::size_t room = budget - taken - staged;
            if (room == 0) {
                flush_stage();
                return taken;
            }
            std::size_t c = std::min(len, room);
            if (staged == 0 && c >= max_record_plaintext) {
                c -= c % max_record_plaintext;
                taken += write_record(p, c);
            } else {
                c = std::min(c, max_record_plaintext - staged);
                std::memcpy(stage + staged, p, c);
                staged += c;
                if (staged == max_record_plaintext) flush_stage();
            }
            p += c;
            len -= c;
        }
    }
    flush_stage();
    return taken;
}

void layer::wire_sent(std::size_t n) {
    if (n > wire_.size() - wire_offset_)
        throw std::out_of_range("asynchat::tls::layer::wire_sent: more bytes than were pending");
    wire_offset_ += n;
    if (wire_offset_ == wire_.size()) {
        // Drained: an idle connection keeps no wire buffer.
        std::string().swap(wire_);
        wire_offset_ = 0;
    }
}

void layer::close_notify() {
    if (failed_ || notify_queued_) return;
    notify_queued_ = true;
    // Before the handshake is done there is no session to close (OpenSSL refuses: "shutdown while in init").
    if (!handshake_done_) return;
    ERR_clear_error();
    SSL_shutdown(ssl_);   // 0: ours is queued, the peer's not yet received; either way nothing to wait for
    ERR_clear_error();
}

std::string layer::alpn_protocol() const {
    const unsigned char* p = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl_, &p, &len);
    return p ? std::string(reinterpret_cast<const char*>(p), len) : std::string();
}

std::string layer::protocol_version() const { return handshake_done_ ? SSL_get_version(ssl_) : ""; }

std::string layer::cipher() const {
    const char* name = handshake_done_ ? SSL_get_cipher_name(ssl_) : nullptr;
    return name ? name : "";
}

// ---- on a channel

layer* layer_of(async_chat& channel) noexcept { return dynamic_cast<layer*>(channel.get_stream_layer()); }

void use_tls(async_chat& channel, const std::shared_ptr<context>& ctx, std::string_view host_name) {
    if (tls_active(channel)) throw error("TLS is already active on this channel");
    channel.set_stream_layer(ctx->make_layer(host_name));
}

void start_tls(async_chat& channel, const std::shared_ptr<context>& ctx, std::string_view host_name) {
    if (tls_active(channel)) throw error("STARTTLS refused: TLS is already active on this channel");
    channel.start_stream_layer(ctx->make_layer(host_name));
}

bool tls_active(async_chat& channel) noexcept {
    return channel.get_stream_layer() != nullptr || channel.stream_layer_pending();
}

} // namespace asynchat::tls
