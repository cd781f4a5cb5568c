// The TLS layer over real sockets, on every backend: a TLS line-echo server (async_chat + asynchat::tls) in the
// test process, on a thread of its own, against independent TLS stacks — Python's ssl module and the openssl
// command's s_client — and against peers that misbehave (plaintext to the TLS port, a handshake that stalls).
// Each misbehaving connection must be closed with one log line while the server goes on serving the next client.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <sys/socket.h>
#include <sys/wait.h>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <asynchat/async_chat.hpp>
#include <asynchat/tls.hpp>
#include <asyncore/asyncore.hpp>
#include <asyncore/idle_timer.hpp>
#include <asyncore/listener.hpp>

#include "program_support.hpp"
#include "test_certificates.hpp"
#include "test_support.hpp"
#include "tls_test_util.hpp"

namespace bdata = boost::unit_test::data;
namespace tls = asynchat::tls;
using namespace std::chrono_literals;

// Named, not anonymous: -Wsubobject-linkage with the classes BOOST_DATA_TEST_CASE makes.
namespace test_tls_sockets {

// What the server threads report to the test, under a mutex.
struct server_record {
    std::mutex mutex;
    std::vector<std::string> log;   // one line per connection that failed (handle_error) or went idle
    int closed = 0;                 // connections closed, for any reason
    void add(std::string line) {
        std::lock_guard lock(mutex);
        log.push_back(std::move(line));
    }
};

// Echoes lines; "QUIT" answers "bye" and closes when done (with close_notify); "STARTTLS" (when the channel was
// made without TLS) answers "220 go" and starts it. Errors are logged in one line and close the connection; an
// idle timer closes a peer that stops talking (a stalled handshake included).
class tls_echo : public asynchat::async_chat {
public:
    tls_echo(asyncore::socket s, asyncore::socket_map* map, server_record& record, std::chrono::milliseconds idle,
             std::shared_ptr<tls::context> starttls = nullptr)
        : async_chat(std::move(s), map), record_(record), starttls_(std::move(starttls)) {
        set_terminator("\n");
        if (idle > 0ms)
            idle_.start(*map, idle, [this] {
                record_.add("idle: closed after no traffic");
                close();
            });
    }
    void collect_incoming_data(std::string_view d) override {
        idle_.touch();
        line_.append(d);
    }
    void found_terminator() override {
        idle_.touch();
        if (line_ == "QUIT" || line_ == "QUIT\r") {
            push("bye\n");
            close_when_done();
        } else if (line_ == "STARTTLS" && starttls_ && !tls::tls_active(*this)) {
            push("220 go\n");
            tls::start_tls(*this, starttls_);
        } else {
            push(line_ + "\n");
        }
        line_.clear();
    }
    void handle_error() override {
        record_.add(asyncore::compact_exception());
        close();
    }
    void close() override {
        if (sock().valid()) {
            std::lock_guard lock(record_.mutex);
            ++record_.closed;
        }
        idle_.stop();
        async_chat::close();
    }

private:
    server_record& record_;
    std::shared_ptr<tls::context> starttls_;
    asyncore::idle_timer idle_;
    std::string line_;
};

enum class tls_mode { implicit, starttls };

class tls_listener : public asyncore::listener {
public:
    tls_listener(asyncore::socket_map* map, std::shared_ptr<tls::context> ctx, server_record& record,
                 std::chrono::milliseconds idle, tls_mode mode)
        : listener(asyncore::address::ipv4("127.0.0.1", 0), 64, map), ctx_(std::move(ctx)), record_(record),
          idle_(idle), mode_(mode) {}
    void handle_accepted(asyncore::socket s, asyncore::address) override {
        if (mode_ == tls_mode::starttls) {
            asyncore::make<tls_echo>(std::move(s), &map(), record_, idle_, ctx_);
            return;
        }
        auto channel = asyncore::make<tls_echo>(std::move(s), &map(), record_, idle_);
        tls::use_tls(*channel, ctx_);
    }

private:
    std::shared_ptr<tls::context> ctx_;
    server_record& record_;
    std::chrono::milliseconds idle_;
    tls_mode mode_;
};

// The server on its own thread and socket_map, so that the test thread can use blocking clients and programs.
class tls_echo_server {
public:
    tls_echo_server(std::string backend, std::shared_ptr<tls::context> ctx, std::chrono::milliseconds idle = 0ms,
                    tls_mode mode = tls_mode::implicit)
        : backend_(std::move(backend)) {
        listener_ = asyncore::make<tls_listener>(&map_, std::move(ctx), record, idle, mode);
        port_ = listener_->sock().getsockname().port();
        thread_ = std::thread([this] {
            try {
                while (!stop_) asyncore::loop({.timeout = 20ms, .backend = backend_, .map = &map_, .count = 1});
            } catch (const std::exception& e) {
                record.add(std::string("server loop threw: ") + e.what());
            }
            asyncore::close_all(&map_, true);
        });
    }
    ~tls_echo_server() { stop(); }
    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    std::uint16_t port() const noexcept { return port_; }
    std::vector<std::string> log() {
        std::lock_guard lock(record.mutex);
        return record.log;
    }
    int closed() {
        std::lock_guard lock(record.mutex);
        return record.closed;
    }
    // Waits (with the hang guard) until `n` connections have been closed by the server.
    bool wait_closed(int n) {
        const auto deadline = std::chrono::steady_clock::now() + program_test::hang_guard;
        while (closed() < n) {
            if (std::chrono::steady_clock::now() > deadline) return false;
            std::this_thread::sleep_for(5ms);
        }
        return true;
    }
    server_record record;

private:
    std::string backend_;
    asyncore::socket_map map_;
    asyncore::ref<tls_listener> listener_;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// A blocking client made of the engine under test: connects, handshakes, sends `text`, and returns the first
// `expect` bytes of plaintext that come back (fewer if the connection ends first).
std::string engine_roundtrip(int sock, const std::shared_ptr<tls::context>& ctx, std::string_view text,
                             std::size_t expect);

std::string engine_roundtrip(std::uint16_t port, const std::shared_ptr<tls::context>& ctx, std::string_view text,
                             std::size_t expect) {
    auto sock = program_test::connect_loopback(port);
    return engine_roundtrip(sock.get(), ctx, text, expect);
}

// The same on a connected socket (after a STARTTLS exchange, say).
std::string engine_roundtrip(int sock, const std::shared_ptr<tls::context>& ctx, std::string_view text,
                             std::size_t expect) {
    auto engine = ctx->make_layer("localhost");
    std::string plaintext;
    bool text_sent = false;
    char buf[65536];
    while (plaintext.size() < expect) {
        if (engine->handshake_done() && !text_sent) {
            iovec iov{const_cast<char*>(text.data()), text.size()};
            BOOST_REQUIRE(engine->send(&iov, 1) == text.size());
            text_sent = true;
        }
        const std::string wire(engine->wire_pending());
        if (!wire.empty()) {
            BOOST_REQUIRE(program_test::send_all(sock, wire));
            engine->wire_sent(wire.size());
            continue;
        }
        const ssize_t n = ::recv(sock, buf, sizeof buf, 0);
        if (n <= 0) break;
        try {
            engine->receive(std::string_view(buf, static_cast<std::size_t>(n)), plaintext);
        } catch (const tls::error&) {
            // The alert that tells the server why, as async_chat sends it.
            program_test::send_all(sock, engine->wire_pending());
            throw;
        }
    }
    return plaintext;
}

// Python 3 with its ssl module, or nothing (the test skips).
std::optional<std::string> python_with_ssl() {
    const auto r = program_test::run_program({"python3", "-c", "import ssl"});
    if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0) return std::nullopt;
    return "python3";
}

bool have_openssl_command() {
    const auto r = program_test::run_program({"/bin/sh", "-c", "command -v openssl"});
    return WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
}

BOOST_AUTO_TEST_SUITE(tls_sockets)

// Python's ssl as the client: random plaintext segmentation, several MiB each way (echoed), then a clean close
// (close_notify both ways: unwrap() returns only once the server's close_notify has arrived), then a client
// that resets the connection without one; the server stays up for the next client each time.
BOOST_DATA_TEST_CASE(python_ssl_client_echo_close_notify_and_abrupt_close, bdata::make(test_support::backends()),
                     backend) {
    REQUIRE_CERTIFICATES(certs);
    const auto python = python_with_ssl();
    if (!python) {
        BOOST_TEST_MESSAGE("skipped: python3 with its ssl module is not available");
        return;
    }
    tls_echo_server server(backend, tls_test::server_context(certs));
    const std::string port = std::to_string(server.port());
    struct run {
        std::string mode;
        std::size_t size;
    };
    int expected_closes = 0;
    for (const run& r : {run{"close_notify", std::size_t{3} << 20}, run{"abrupt", std::size_t{1} << 20},
                         run{"close_notify", 1000}}) {
        const auto result = program_test::run_program({*python, TLS_ECHO_CLIENT_SCRIPT, "127.0.0.1", port,
                                                        certs.ca_cert().string(), r.mode, std::to_string(r.size),
                                                        std::to_string(r.size % 1000 + 1)},
                                                       120s);
        BOOST_TEST_MESSAGE(backend << " " << r.mode << ": " << result.out << result.err);
        BOOST_TEST(WIFEXITED(result.status));
        BOOST_TEST(WEXITSTATUS(result.status) == 0);
        BOOST_TEST(result.out.starts_with("OK " + r.mode));
        BOOST_TEST_REQUIRE(server.wait_closed(++expected_closes));
    }
    BOOST_TEST(server.log().empty());
}

// openssl s_client as the client, verifying the chain and the host name; its stdin ends with QUIT, after which
// the server's "bye" and close_notify end the session (s_client -ign_eof reads until then). Once with TLS 1.3,
// once with TLS 1.2.
BOOST_DATA_TEST_CASE(openssl_s_client_echo, bdata::make(test_support::backends()), backend) {
    REQUIRE_CERTIFICATES(certs);
    if (!have_openssl_command()) {
        BOOST_TEST_MESSAGE("skipped: the openssl command is not available");
        return;
    }
    tls_echo_server server(backend, tls_test::server_context(certs));
    const std::string input = (certs.dir / ("s_client_input_" + backend)).string();
    {
        std::ofstream(input) << "hello from s_client\nsecond line\nQUIT\n";
    }
    int closes = 0;
    for (const std::string version : {"-tls1_3", "-tls1_2"}) {
        const std::string command = "exec openssl s_client -connect 127.0.0.1:" + std::to_string(server.port()) +
                                    " " + version + " -CAfile '" + certs.ca_cert().string() +
                                    "' -verify_return_error -verify_hostname localhost -servername localhost"
                                    " -quiet -ign_eof < '" + input + "'";
        const auto result = program_test::run_program({"/bin/sh", "-c", command});
        BOOST_TEST_MESSAGE(backend << " " << version << " stderr: " << result.err);
        BOOST_TEST(WIFEXITED(result.status));
        BOOST_TEST(WEXITSTATUS(result.status) == 0);
        BOOST_TEST(result.out == "hello from s_client\nsecond line\nbye\n");
        BOOST_TEST_REQUIRE(server.wait_closed(++closes));
    }
    BOOST_TEST(server.log().empty());
}

// Plaintext to the TLS port (an HTTP request, an SMTP greeting's answer): that connection is closed, with one
// log line saying the peer did not speak TLS; the next client is served.
BOOST_DATA_TEST_CASE(plaintext_to_the_tls_port_closes_that_connection_only, bdata::make(test_support::backends()),
                     backend) {
    REQUIRE_CERTIFICATES(certs);
    tls_echo_server server(backend, tls_test::server_context(certs));
    const auto client_ctx = tls_test::client_context(certs);
    // A TLS client connected before the plaintext one, and still talking after it: unharmed.
    auto sock = program_test::connect_loopback(server.port());
    int closes = 0;
    std::size_t bad_clients = 0;
    for (const std::string plaintext : {"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", "EHLO client.example\r\n"}) {
        ++bad_clients;
        auto bad = program_test::connect_loopback(server.port());
        BOOST_REQUIRE(program_test::send_all(bad.get(), plaintext));
        const auto got = program_test::recv_to_end(bad.get());
        BOOST_TEST(got.end != program_test::ending::timeout);
        BOOST_TEST_REQUIRE(server.wait_closed(++closes));
        const auto log = server.log();
        BOOST_TEST_REQUIRE(log.size() == bad_clients);
        BOOST_TEST_MESSAGE(backend << ": " << log.back());
        BOOST_TEST(log.back().find("peer did not speak TLS") != std::string::npos);
        BOOST_TEST(engine_roundtrip(server.port(), client_ctx, "next client\n", 12) == "next client\n");
        BOOST_TEST_REQUIRE(server.wait_closed(++closes)); // the round trip's connection, closed when it went
    }
    BOOST_TEST(server.log().size() == 2u);
}

// A peer that connects and sends nothing, or half a ClientHello, and then waits: the idle timer closes it (one
// log line), and the server serves the next client meanwhile and afterwards.
BOOST_DATA_TEST_CASE(a_stalled_handshake_is_closed_by_the_idle_timer, bdata::make(test_support::backends()),
                     backend) {
    REQUIRE_CERTIFICATES(certs);
    tls_echo_server server(backend, tls_test::server_context(certs), 300ms);
    const auto client_ctx = tls_test::client_context(certs);
    auto silent = program_test::connect_loopback(server.port());
    auto half = program_test::connect_loopback(server.port());
    {
        auto engine = client_ctx->make_layer("localhost");
        const std::string hello(engine->wire_pending());
        BOOST_REQUIRE(program_test::send_all(half.get(), hello.substr(0, hello.size() / 2)));
    }
    // Served while the two stall.
    BOOST_TEST(engine_roundtrip(server.port(), client_ctx, "meanwhile\n", 10) == "meanwhile\n");
    for (int fd : {silent.get(), half.get()}) {
        const auto got = program_test::recv_to_end(fd);
        BOOST_TEST(got.data.empty());
        BOOST_TEST(got.end != program_test::ending::timeout);
    }
    BOOST_TEST_REQUIRE(server.wait_closed(3));
    const auto log = server.log();
    BOOST_TEST(std::count(log.begin(), log.end(), "idle: closed after no traffic") == 2);
    BOOST_TEST(engine_roundtrip(server.port(), client_ctx, "afterwards\n", 11) == "afterwards\n");
}

// A client whose CA file does not vouch for the server: the handshake fails on both sides, one log line on the
// server (the client's alert), and the server goes on.
BOOST_DATA_TEST_CASE(a_client_that_rejects_the_certificate, bdata::make(test_support::backends()), backend) {
    REQUIRE_CERTIFICATES(certs);
    tls_echo_server server(backend, tls_test::server_context(certs));
    const auto other = tls::context::client({certs.other_ca_cert(), true, {}});
    std::string what;
    try {
        engine_roundtrip(server.port(), other, "x\n", 2);
    } catch (const tls::handshake_error& e) {
        what = e.what();
    }
    BOOST_TEST(what == "certificate verify failed: unable to get local issuer certificate");
    BOOST_TEST_REQUIRE(server.wait_closed(1));
    const auto log = server.log();
    BOOST_TEST_REQUIRE(log.size() == 1u);
    BOOST_TEST_MESSAGE(backend << ": " << log.front());
    BOOST_TEST(log.front().find("alert unknown ca") != std::string::npos);
    BOOST_TEST(engine_roundtrip(server.port(), tls_test::client_context(certs), "ok\n", 3) == "ok\n");
}

// STARTTLS over a real socket, with the command injection of CVE-2011-0411: "EVIL" travels in the same segment
// as STARTTLS and must never be framed. Had it been, the server would echo it through TLS ahead of the reply to
// the first encrypted line. On the Asio completion backend this also covers a read under way when the switch
// became pending.
BOOST_DATA_TEST_CASE(cve_2011_0411_starttls_injection_over_sockets, bdata::make(test_support::backends()), backend) {
    REQUIRE_CERTIFICATES(certs);
    tls_echo_server server(backend, tls_test::server_context(certs), 0ms, tls_mode::starttls);
    const auto client_ctx = tls_test::client_context(certs);
    auto sock = program_test::connect_loopback(server.port());
    BOOST_REQUIRE(program_test::send_all(sock.get(), "plain line\n"));
    BOOST_TEST(program_test::recv_exact(sock.get(), 11) == "plain line\n");
    BOOST_REQUIRE(program_test::send_all(sock.get(), "STARTTLS\nEVIL\n"));
    BOOST_TEST(program_test::recv_exact(sock.get(), 7) == "220 go\n");
    BOOST_TEST(engine_roundtrip(sock.get(), client_ctx, "secure line\n", 12) == "secure line\n");
    BOOST_TEST(server.log().empty());
}

// Output backpressure holds over TLS: a peer that sends requests and reads nothing makes the server stop reading
// (output_high), with the layer's wire bytes counted and bounded; once the peer reads, everything arrives in
// order and the server reads again (output_low).
class big_replier : public asynchat::async_chat {
public:
    big_replier(asyncore::socket s, asyncore::socket_map* map) : async_chat(std::move(s), map) {
        set_terminator("\n");
        set_output_watermarks(256 * 1024, 64 * 1024);
    }
    std::string hooks;
    std::size_t requests = 0;
    std::size_t most_wire = 0;
    void collect_incoming_data(std::string_view) override {}
    void found_terminator() override {
        ++requests;
        push(std::string(100000, static_cast<char>('a' + requests % 26)));
    }
    void output_high() override { hooks += 'H'; }
    void output_low() override { hooks += 'L'; }
    // Sampled after every event that can send (the read handlers send what they produced).
    void handle_incoming(std::string_view bytes) override {
        async_chat::handle_incoming(bytes);
        sample();
    }
    void handle_write() override {
        async_chat::handle_write();
        sample();
    }
    void sample() {
        if (auto* l = get_stream_layer()) most_wire = std::max(most_wire, l->wire_pending().size());
    }
};

BOOST_DATA_TEST_CASE(output_backpressure_counts_the_layers_wire_bytes, bdata::make(test_support::backends()),
                     backend) {
    REQUIRE_CERTIFICATES(certs);
    asyncore::socket_map map;
    int fds[2];
    BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
    auto channel = asyncore::make<big_replier>(asyncore::socket::adopt(fds[0]), &map);
    program_test::fd peer(fds[1]);
    tls::use_tls(*channel, tls_test::server_context(certs));
    auto client = tls_test::client_context(certs)->make_layer("localhost");
    const auto pass = [&] { asyncore::loop({.timeout = 1ms, .backend = backend, .map = &map, .count = 1}); };
    std::string decoded;
    char buf[65536];
    // The peer's side, by hand: send its wire bytes, and read (when told to) what the server sent.
    const auto peer_io = [&](bool read) {
        for (std::string_view w = client->wire_pending(); !w.empty(); w = client->wire_pending()) {
            const ssize_t n = ::send(peer.get(), w.data(), w.size(), MSG_NOSIGNAL);
            if (n <= 0) break;
            client->wire_sent(static_cast<std::size_t>(n));
        }
        if (!read) return;
        for (;;) {
            const ssize_t n = ::recv(peer.get(), buf, sizeof buf, 0);
            if (n <= 0) break;
            client->receive(std::string_view(buf, static_cast<std::size_t>(n)), decoded);
        }
    };
    const auto deadline = std::chrono::steady_clock::now() + program_test::hang_guard;
    while (!client->handshake_done() && std::chrono::steady_clock::now() < deadline) {
        peer_io(true);
        pass();
    }
    BOOST_TEST_REQUIRE(client->handshake_done());
    // Requests of 100 KB answers, one record each (a read is framed to its end, so one read of them all would be
    // answered whole), and the peer reads nothing.
    std::size_t sent_requests = 0;
    const auto send_request = [&] {
        char nl = '\n';
        iovec iov{&nl, 1};
        BOOST_TEST_REQUIRE(client->send(&iov, 1) == 1u);
        ++sent_requests;
        peer_io(false);
    };
    while (channel->hooks.empty() && sent_requests < 100) {
        send_request();
        for (int i = 0; i < 5; ++i) pass();
    }
    BOOST_TEST(channel->hooks == "H");
    BOOST_TEST(channel->output_paused());
    const std::size_t answered = channel->requests;
    while (sent_requests < 100) send_request();
    for (int i = 0; i < 20; ++i) pass();   // paused: these passes must not read the rest
    BOOST_TEST(channel->requests == answered);
    BOOST_TEST(answered < 100u);
    BOOST_TEST(channel->get_stream_layer()->wire_pending().size() > 0u);   // the socket is full, wire bytes wait
    BOOST_TEST(channel->most_wire <= tls::max_wire_pending + 1024);
    BOOST_TEST(channel->output_backlog() > channel->output_high_watermark());
    // The peer reads: everything arrives, and the server reads again.
    while (decoded.size() < 100u * 100000u && std::chrono::steady_clock::now() < deadline) {
        peer_io(true);
        pass();
    }
    BOOST_TEST(channel->requests == 100u);
    BOOST_TEST_REQUIRE(decoded.size() == 100u * 100000u);
    for (std::size_t i = 0; i < 100; ++i)
        BOOST_TEST_REQUIRE(decoded[i * 100000] == static_cast<char>('a' + (i + 1) % 26));
    BOOST_TEST(channel->hooks.starts_with("HL"));
    asyncore::close_all(&map, true);
}

// An async_chat TLS client (implicit TLS from connect: the ClientHello goes out when the connect completes, the
// line pushed before that waits for the handshake), verifying the server, against the server on its thread.
class tls_line_client : public asynchat::async_chat {
public:
    tls_line_client(asyncore::socket_map* map, std::uint16_t port) : async_chat(map) {
        set_terminator("\n");
        create_socket(AF_INET, SOCK_STREAM);
        connect(asyncore::address::ipv4("127.0.0.1", port));
    }
    std::vector<std::string> lines;
    std::string line;
    std::string error;
    bool closed = false;
    void handle_connect() override {}
    void collect_incoming_data(std::string_view d) override { line.append(d); }
    void found_terminator() override {
        lines.push_back(std::exchange(line, std::string()));
        if (lines.size() == 2) close_when_done();   // close_notify, then close
    }
    void handle_error() override {
        error = asyncore::compact_exception();
        close();
    }
    void handle_close() override {
        closed = true;
        async_chat::handle_close();
    }
};

BOOST_DATA_TEST_CASE(an_async_chat_tls_client, bdata::make(test_support::backends()), backend) {
    REQUIRE_CERTIFICATES(certs);
    tls_echo_server server(backend, tls_test::server_context(certs));
    for (const std::string host : {"localhost", "127.0.0.1", "wrong.example"}) {
        asyncore::socket_map map;
        auto client = asyncore::make<tls_line_client>(&map, server.port());
        tls::use_tls(*client, tls_test::client_context(certs), host);
        client->push("first\nsecond\n");   // before the connect completes
        const auto deadline = std::chrono::steady_clock::now() + program_test::hang_guard;
        while (client->connected() || client->connecting()) {
            BOOST_TEST_REQUIRE((std::chrono::steady_clock::now() < deadline));
            asyncore::loop({.timeout = 20ms, .backend = backend, .map = &map, .count = 1});
        }
        if (host == "wrong.example") {
            BOOST_TEST(client->error == "asynchat::tls::handshake_error: certificate verify failed: hostname mismatch");
            BOOST_TEST(client->lines.empty());
        } else {
            BOOST_TEST(client->error.empty());
            BOOST_TEST(client->lines == (std::vector<std::string>{"first", "second"}));
            BOOST_TEST(client->closed);
        }
        asyncore::close_all(&map, true);
    }
    BOOST_TEST_REQUIRE(server.wait_closed(3));
    // The two good clients closed cleanly; the third's refusal is the server's one log line.
    const auto log = server.log();
    BOOST_TEST_REQUIRE(log.size() == 1u);
    BOOST_TEST(log.front().find("alert bad certificate") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

} // namespace test_tls_sockets
