// `asynchat serve all`: three services in one map and one loop, on every backend. The figures on /metrics must
// follow what the test itself did to the other services, which is what shows they share the loop and the map.
#include <array>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <string>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include "program_support.hpp"
#include "test_support.hpp"

namespace bdata = boost::unit_test::data;
using namespace program_test;

namespace {

struct serve_all {
    std::filesystem::path maildir;
    child_process proc;
    std::map<std::string, std::uint16_t> ports;

    explicit serve_all(const std::string& backend, std::vector<std::string> extra = {})
        : maildir(std::filesystem::temp_directory_path() /
                  ("asynchat-serve-all-" + std::to_string(::getpid()) + "-" + backend)),
          proc([&] {
              std::filesystem::remove_all(maildir);
              std::vector<std::string> argv{ASYNCHAT_PATH, "serve", "all", "--echo-port", "0", "--chat-port", "0",
                                            "--http-port", "0", "--smtp-port", "0", "--maildir", maildir.string(),
                                            "--backend", backend};
              argv.insert(argv.end(), extra.begin(), extra.end());
              return argv;
          }()) {
        auto first = proc.read_line();
        BOOST_REQUIRE_MESSAGE(first, "serve all printed nothing");
        BOOST_REQUIRE_MESSAGE(*first == "smtp delivers to " + maildir.lexically_normal().string(),
                              "expected the Maildir line first, got " << *first);
        for (const char* name : {"echo", "chat", "http", "smtp"}) {
            auto line = proc.read_line();
            BOOST_REQUIRE_MESSAGE(line, "serve all printed no line for " << name);
            const std::string prefix = std::string(name) + " ";
            BOOST_REQUIRE_MESSAGE(line->starts_with(prefix), "expected '" << name << " listening on ...', got " << *line);
            ports[name] = parse_listening_port(line->substr(prefix.size()));
        }
    }
    ~serve_all() {
        if (!proc.reaped()) {
            proc.send_signal(SIGTERM);
            proc.wait();
        }
        std::filesystem::remove_all(maildir);
    }
};

// The reply of an SMTP server up to its last line ("250 ...", not "250-..."): what one command gets back.
std::string smtp_reply(int sock) {
    std::string reply;
    char c;
    while (::recv(sock, &c, 1, 0) == 1) {
        reply += c;
        if (c != '\n') continue;
        const auto start = reply.rfind('\n', reply.size() - 2);
        const std::string_view last = std::string_view(reply).substr(start == std::string::npos ? 0 : start + 1);
        if (last.size() >= 4 && last[3] == ' ') break;
    }
    return reply;
}

// One HTTP/1.0 request without keep-alive: the whole response, up to the server's close.
std::string http_get(std::uint16_t port, const std::string& path, const std::string& method = "GET") {
    auto s = connect_loopback(port);
    BOOST_REQUIRE(send_all(s.get(), method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"));
    return recv_exact(s.get(), 1 << 22);
}

std::string body_of(const std::string& response) {
    const auto end = response.find("\r\n\r\n");
    BOOST_REQUIRE_MESSAGE(end != std::string::npos, "no end of headers in: " << response.substr(0, 200));
    return response.substr(end + 4);
}

// The value of one sample line of the Prometheus text, e.g. metric(text, "asynchat_messages_total", "echo").
std::uint64_t metric(const std::string& text, const std::string& name, const std::string& service = "") {
    const std::string key = service.empty() ? name + " " : name + "{service=\"" + service + "\"} ";
    const auto at = text.find("\n" + key);
    BOOST_REQUIRE_MESSAGE(at != std::string::npos, "no sample " << key << "in /metrics");
    const char* first = text.data() + at + 1 + key.size();
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(first, text.data() + text.size(), v);
    BOOST_REQUIRE(ec == std::errc{});
    BOOST_REQUIRE(*end == '\n');
    return v;
}

// http_get through a PROXY v1 header naming 192.0.2.50 (for a server started with --proxy-protocol).
std::string http_get_behind_proxy(std::uint16_t port, const std::string& path) {
    auto s = connect_loopback(port);
    BOOST_REQUIRE(send_all(s.get(), "PROXY TCP4 192.0.2.50 127.0.0.1 50000 80\r\nGET " + path +
                                        " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"));
    return recv_exact(s.get(), 1 << 22);
}

} // namespace

BOOST_AUTO_TEST_SUITE(serve_all_command)

BOOST_DATA_TEST_CASE(three_services_one_loop, bdata::make(test_support::backends()), backend) {
    serve_all server(backend);

    // echo: LF-terminated lines come back byte for byte, CR included.
    auto echo = connect_loopback(server.ports["echo"]);
    BOOST_REQUIRE(send_all(echo.get(), "one\r\ntwo\n"));
    BOOST_TEST(recv_exact(echo.get(), 9) == "one\r\ntwo\n");

    // chat: two members, one line from each side.
    auto alice = connect_loopback(server.ports["chat"]);
    auto bob = connect_loopback(server.ports["chat"]);
    BOOST_TEST(recv_exact(alice.get(), 15) == "HELLO guest-1\r\n");
    BOOST_TEST(recv_exact(bob.get(), 15) == "HELLO guest-2\r\n");
    BOOST_REQUIRE(send_all(alice.get(), "NICK alice\nhi bob\n"));
    BOOST_TEST(recv_exact(alice.get(), 10) == "OK alice\r\n");
    BOOST_TEST(recv_exact(bob.get(), 16) == "<alice> hi bob\r\n");

    // smtp: one message, acknowledged only once it is in new/.
    auto mail = connect_loopback(server.ports["smtp"]);
    BOOST_TEST(smtp_reply(mail.get()).starts_with("220"));
    for (const char* command : {"HELO test\r\n", "MAIL FROM:<a@example.org>\r\n", "RCPT TO:<b@example.org>\r\n"}) {
        BOOST_REQUIRE(send_all(mail.get(), command));
        BOOST_TEST(smtp_reply(mail.get()).starts_with("250"), command);
    }
    BOOST_REQUIRE(send_all(mail.get(), "DATA\r\n"));
    BOOST_TEST(smtp_reply(mail.get()).starts_with("354"));
    BOOST_REQUIRE(send_all(mail.get(), "Subject: hi\r\n\r\nhello\r\n.\r\n"));
    BOOST_TEST(smtp_reply(mail.get()).starts_with("250"));
    std::size_t delivered = 0;
    for (const auto& f : std::filesystem::directory_iterator(server.maildir / "new")) delivered += f.is_regular_file();
    BOOST_TEST(delivered == 1u);
    mail.reset();

    // /metrics follows: 2 chat members open, 2 echo messages, 2 chat lines, 1 mail, this very request.
    const std::string response = http_get(server.ports["http"], "/metrics");
    BOOST_TEST(response.starts_with("HTTP/1.0 200"));
    BOOST_TEST(response.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
    const std::string text = "\n" + body_of(response);
    BOOST_TEST(metric(text, "asynchat_connections_open", "chat") == 2u);
    BOOST_TEST(metric(text, "asynchat_connections_open", "echo") == 1u);
    BOOST_TEST(metric(text, "asynchat_connections_accepted_total", "http") == 1u);
    BOOST_TEST(metric(text, "asynchat_messages_total", "echo") == 2u);
    BOOST_TEST(metric(text, "asynchat_messages_total", "chat") == 2u);
    BOOST_TEST(metric(text, "asynchat_bytes_received_total", "echo") == 9u);
    BOOST_TEST(metric(text, "asynchat_bytes_sent_total", "echo") == 9u);
    BOOST_TEST(metric(text, "asynchat_bytes_received_total", "chat") == 18u);
    BOOST_TEST(metric(text, "asynchat_messages_total", "smtp") == 1u);
    BOOST_TEST(metric(text, "asynchat_loop_passes_total") > 0u);
    // 4 listeners, the signal watcher (exit_on_signals' self-pipe), the delivery completions' eventfd, echo, 2 chat
    // members, this request. (The SMTP client has gone: its channel may or may not have left yet, so it is not
    // counted — it closed before this request was even sent, and its EOF is read in the same or an earlier pass.)
    // With workers (ASYNCHAT_WORKERS, the suite's second run) the figure is the answering worker's loop's, which
    // holds some of these and an inbox besides: checked with one loop only.
    const char* workers = std::getenv("ASYNCHAT_WORKERS");
    if (!workers || std::string(workers) == "1")
        BOOST_TEST(metric(text, "asynchat_channels") == 4u + 1u + 1u + 1u + 2u + 1u);
    BOOST_TEST(text.find("asynchat_info{backend=\"" + backend + "\"} 1\n") != std::string::npos);
    // Every family is introduced by its HELP and TYPE lines, as scrapers expect.
    for (const char* family : {"asynchat_connections_open", "asynchat_connections_accepted_total",
                               "asynchat_bytes_received_total", "asynchat_bytes_sent_total",
                               "asynchat_messages_total", "asynchat_errors_total", "asynchat_loop_passes_total"}) {
        BOOST_TEST(text.find(std::string("\n# HELP ") + family + " ") != std::string::npos, family);
        BOOST_TEST(text.find(std::string("\n# TYPE ") + family + " ") != std::string::npos, family);
    }

    // A member leaving shows at once.
    bob.reset();
    BOOST_REQUIRE(send_all(alice.get(), "QUIT\n"));
    BOOST_TEST(recv_exact(alice.get(), 5) == "BYE\r\n");
    BOOST_TEST(recv_eof(alice.get()));
    const std::string after = "\n" + body_of(http_get(server.ports["http"], "/metrics"));
    BOOST_TEST(metric(after, "asynchat_connections_open", "chat") == 0u);
    BOOST_TEST(metric(after, "asynchat_connections_accepted_total", "http") == 2u);
    BOOST_TEST(metric(after, "asynchat_messages_total", "http") >= 1u);
}

BOOST_DATA_TEST_CASE(status_page_and_bundled_site, bdata::make(test_support::backends()), backend) {
    serve_all server(backend);
    const auto status = http_get(server.ports["http"], "/status");
    BOOST_TEST(status.starts_with("HTTP/1.0 200"));
    BOOST_TEST(status.find("Content-Type: text/html") != std::string::npos);
    for (const char* service : {"<td>echo</td>", "<td>chat</td>", "<td>http</td>", "<td>smtp</td>"})
        BOOST_TEST(status.find(service) != std::string::npos, service);
    BOOST_TEST(status.find("<b>" + backend + "</b>") != std::string::npos);

    const auto index = http_get(server.ports["http"], "/");
    BOOST_TEST(index.starts_with("HTTP/1.0 200"));
    BOOST_TEST(body_of(index).find("<h1>asynchat-cpp</h1>") != std::string::npos);
    const auto css = http_get(server.ports["http"], "/style.css");
    BOOST_TEST(css.find("Content-Type: text/css") != std::string::npos);
    const auto head = http_get(server.ports["http"], "/index.html", "HEAD");
    BOOST_TEST(head.starts_with("HTTP/1.0 200"));
    BOOST_TEST(body_of(head).empty());
    BOOST_TEST(http_get(server.ports["http"], "/no-such-page").starts_with("HTTP/1.0 404"));
}

// A real browser loads the bundled site through our server: the page, its stylesheet, its logo and its script,
// which fetches /metrics and fills the table. The DOM Chromium dumps after running the script says what worked.
BOOST_DATA_TEST_CASE(chromium_loads_the_site, bdata::make(test_support::backends()), backend) {
    const char* chromium = "/usr/bin/chromium";
    if (::access(chromium, X_OK) != 0) {
        BOOST_TEST_MESSAGE("skipped: no " << chromium << " (Debian package chromium)");
        return;
    }
    serve_all server(backend);
    const auto profile = std::filesystem::temp_directory_path() /
                         ("asynchat-chromium-" + std::to_string(::getpid()) + "-" + backend);
    std::filesystem::remove_all(profile);
    child_process browser({chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           "--disable-dev-shm-usage", "--user-data-dir=" + profile.string(),
                           "--virtual-time-budget=10000", "--dump-dom",
                           "http://127.0.0.1:" + std::to_string(server.ports["http"]) + "/"});
    const auto dom = browser.read_all(std::chrono::seconds(60));
    browser.wait();
    std::filesystem::remove_all(profile);
    BOOST_REQUIRE_MESSAGE(dom, "chromium did not finish");
    BOOST_TEST(dom->find("assets: css=ok logo=ok") != std::string::npos, "stylesheet and logo: " << *dom);
    BOOST_TEST(dom->find("data-metrics=\"ok\"") != std::string::npos);
    BOOST_TEST(dom->find("data-service=\"http\"") != std::string::npos);
    BOOST_TEST(dom->find("id=\"backend\">" + backend + "<") != std::string::npos);

    // The server saw the browser's requests: page, stylesheet, logo, script and at least one /metrics.
    const std::string text = "\n" + body_of(http_get(server.ports["http"], "/metrics"));
    BOOST_TEST(metric(text, "asynchat_messages_total", "http") >= 5u);
}

BOOST_AUTO_TEST_CASE(bad_arguments_exit_2) {
    for (std::vector<std::string> args : {std::vector<std::string>{"--echo-port", "x"},
                                          {"--root", "/no/such/dir"},
                                          {"--backend", "nope"},
                                          {"--chat-max-line", "0"},
                                          {"--smtp-max-size", "0"}}) {
        std::vector<std::string> argv{ASYNCHAT_PATH, "serve", "all"};
        argv.insert(argv.end(), args.begin(), args.end());
        child_process p(argv);
        const auto status = p.wait();
        BOOST_REQUIRE(status);
        BOOST_TEST(WIFEXITED(*status));
        BOOST_TEST(WEXITSTATUS(*status) == 2, args[0]);
    }
}

BOOST_AUTO_TEST_SUITE_END()

// /healthz and /readyz (docs/deploy.md): alive and ready while serving; from SIGTERM on, during --drain-delay, new
// connections are still served and /readyz says 503 (a balancer takes the instance out), /healthz still 200;
// then the drain, and exit 0.
BOOST_AUTO_TEST_SUITE(serve_all_health)

BOOST_DATA_TEST_CASE(readyz_goes_503_for_the_drain_delay, bdata::make(test_support::backends()), backend) {
    serve_all server(backend, {"--drain-delay", "3"});
    const auto status_line = [](const std::string& r) { return r.substr(0, r.find("\r\n")); };
    const std::string healthy = http_get(server.ports["http"], "/healthz");
    BOOST_TEST(status_line(healthy) == "HTTP/1.0 200 OK");
    BOOST_TEST(body_of(healthy) == "ok\n");
    BOOST_TEST(healthy.find("\r\nCache-Control: no-store\r\n") != std::string::npos);
    const std::string ready = http_get(server.ports["http"], "/readyz");
    BOOST_TEST(status_line(ready) == "HTTP/1.0 200 OK");
    BOOST_TEST(body_of(ready) == "ready\n");
    BOOST_TEST(status_line(http_get(server.ports["http"], "/readyz", "HEAD")) == "HTTP/1.0 200 OK");

    server.proc.send_signal(SIGTERM);
    // The signal is handled by the loop: the first answer may still be from before it.
    std::string draining;
    for (int i = 0; i < 100 && status_line(draining) != "HTTP/1.0 503 Service Unavailable"; ++i) {
        draining = http_get(server.ports["http"], "/readyz");
        if (i) ::usleep(10000);
    }
    BOOST_TEST(status_line(draining) == "HTTP/1.0 503 Service Unavailable");
    BOOST_TEST(body_of(draining) == "draining\n");
    BOOST_TEST(status_line(http_get(server.ports["http"], "/healthz")) == "HTTP/1.0 200 OK");
    // The other services still take new connections too.
    auto echo = connect_loopback(server.ports["echo"]);
    BOOST_REQUIRE(send_all(echo.get(), "still\n"));
    BOOST_TEST(recv_exact(echo.get(), 6) == "still\n");
    echo = {};
    const auto status = server.proc.wait();
    BOOST_REQUIRE(status);
    BOOST_TEST(WIFEXITED(*status));
    BOOST_TEST(WEXITSTATUS(*status) == 0);
}

BOOST_AUTO_TEST_SUITE_END()

// `serve all --proxy-protocol`: every service reads HAProxy's PROXY header first (asynchat::serve's
// service::proxy); what follows is the protocol, and the client the header names is the one SMTP records.
BOOST_AUTO_TEST_SUITE(serve_all_behind_a_proxy)

// PROXY v2, TCP over IPv4, from src:sport to dst:dport (HAProxy's send-proxy-v2).
std::string proxy_v2_tcp4(std::array<unsigned char, 4> src, std::uint16_t sport, std::array<unsigned char, 4> dst,
                          std::uint16_t dport) {
    std::string h("\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c", 16);
    for (auto b : src) h += static_cast<char>(b);
    for (auto b : dst) h += static_cast<char>(b);
    for (auto port : {sport, dport}) {
        h += static_cast<char>(port >> 8);
        h += static_cast<char>(port & 0xff);
    }
    return h;
}

BOOST_DATA_TEST_CASE(each_service_behind_the_header, bdata::make(test_support::backends()), backend) {
    serve_all server(backend, {"--proxy-protocol"});

    // SMTP after a v1 header: the stored message's Received line names the client the header named.
    {
        auto smtp = connect_loopback(server.ports["smtp"]);
        BOOST_REQUIRE(send_all(smtp.get(), "PROXY TCP4 203.0.113.7 127.0.0.1 56324 25\r\n"));
        BOOST_TEST(smtp_reply(smtp.get()).starts_with("220 "));
        for (const char* command : {"EHLO client.example\r\n", "MAIL FROM:<a@x>\r\n", "RCPT TO:<b@y>\r\n",
                                    "DATA\r\n", "Subject: behind\r\n\r\nbody\r\n.\r\n"}) {
            BOOST_REQUIRE(send_all(smtp.get(), command));
            BOOST_TEST(!smtp_reply(smtp.get()).starts_with("5"), command);
        }
        BOOST_REQUIRE(send_all(smtp.get(), "QUIT\r\n"));
        smtp_reply(smtp.get());
    }
    std::vector<std::filesystem::path> stored;
    for (const auto& e : std::filesystem::directory_iterator(server.maildir / "new")) stored.push_back(e.path());
    BOOST_REQUIRE_EQUAL(stored.size(), 1u);
    std::ifstream in(stored[0], std::ios::binary);
    const std::string message{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    BOOST_TEST(message.find("\r\nReceived: from client.example ([203.0.113.7]) by ") != std::string::npos, message);

    // HTTP after a v2 header; echo after a v2 LOCAL one (a balancer's own health check).
    {
        auto http = connect_loopback(server.ports["http"]);
        BOOST_REQUIRE(send_all(http.get(), proxy_v2_tcp4({198, 51, 100, 9}, 40000, {127, 0, 0, 1}, 80) +
                                               "GET /metrics HTTP/1.0\r\n\r\n"));
        BOOST_TEST(recv_exact(http.get(), 1 << 20).starts_with("HTTP/1.0 200 "));
    }
    {
        auto echo = connect_loopback(server.ports["echo"]);
        BOOST_REQUIRE(send_all(echo.get(), std::string("\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00", 16) + "hi\n"));
        BOOST_TEST(recv_exact(echo.get(), 3) == "hi\n");
    }

    // No header: closed without a byte of the protocol (no 220, no HTTP response), counted as an error.
    for (const char* name : {"smtp", "http"}) {
        auto bare = connect_loopback(server.ports[name]);
        BOOST_REQUIRE(send_all(bare.get(), "GET / HTTP/1.0\r\n\r\n"));
        const auto got = recv_to_end(bare.get());
        BOOST_TEST(got.data == "", name);
        BOOST_TEST(got.end != ending::timeout, name);
    }
    const std::string metrics = body_of(http_get_behind_proxy(server.ports["http"], "/metrics"));
    BOOST_TEST(metric(metrics, "asynchat_errors_total", "smtp") == 1u);
    BOOST_TEST(metric(metrics, "asynchat_errors_total", "http") == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

