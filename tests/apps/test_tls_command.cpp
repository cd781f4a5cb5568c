// TLS in the asynchat command, driven from outside with real clients, on every backend: curl, `asynchat get` and
// `openssl s_client` against `serve http|echo --tls-cert`, Python's ssl and smtplib, swaks and `asynchat
// send-mail --starttls` against `serve smtp --tls-cert` (STARTTLS, RFC 3207), the STARTTLS command injection
// (CVE-2011-0411), plaintext and stalled handshakes on TLS ports, and the bad arguments. Certificates are made at
// test time (tests/support/test_certificates.hpp). A test whose tool is missing says so and passes.
#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <sys/socket.h>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "chat_test_util.hpp"
#include "program_support.hpp"
#include "http_test_util.hpp"
#include "maildir_test_util.hpp"
#include "test_certificates.hpp"
#include "test_support.hpp"

#ifndef ASYNCHAT_PATH
#error "ASYNCHAT_PATH must name the asynchat binary"
#endif
#ifndef TLS_CLIENTS_SCRIPT
#error "TLS_CLIENTS_SCRIPT must name tls_clients.py"
#endif

namespace bdata = boost::unit_test::data;
namespace fs = std::filesystem;
using chat_test::shell_quote;
using namespace program_test;

namespace {

#define REQUIRE_CERTIFICATES()                                                                                  \
    if (!test_support::certificates()) {                                                                        \
        BOOST_TEST_MESSAGE("the openssl command cannot make test certificates: skipped");                       \
        BOOST_TEST(true);                                                                                       \
        return;                                                                                                 \
    }                                                                                                           \
    const test_support::test_certificates& pki = *test_support::certificates()

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::size_t lines_in(const std::string& text) { return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')); }

// `asynchat serve ...` with its stderr in a file, so that a test can count the lines a bad client caused (the
// shell execs the server: the pid, the signals and the exit status are its own).
class tls_server {
public:
    tls_server(const std::vector<std::string>& args, const std::string& backend)
        : err_(dir_.path / "stderr"), proc_(command(args, backend, err_)) {}
    ~tls_server() {
        const std::string err = slurp(err_);
        if (!err.empty()) BOOST_TEST_MESSAGE("server stderr:\n" << err);
    }
    std::uint16_t port() const noexcept { return proc_.port(); }
    std::string url(const std::string& path, const std::string& host = "127.0.0.1") const {
        return "https://" + host + ":" + std::to_string(port()) + path;
    }
    std::string errors() const { return slurp(err_); }
    void stop() { proc_.stop(); }

private:
    static std::vector<std::string> command(const std::vector<std::string>& args, const std::string& backend,
                                            const fs::path& err) {
        std::string line = "exec " + shell_quote(ASYNCHAT_PATH);
        for (const auto& a : args) line += " " + shell_quote(a);
        line += " --port 0 --backend " + shell_quote(backend) + " 2>" + shell_quote(err.string());
        return {"/bin/sh", "-c", line};
    }
    maildir_test::temp_dir dir_{true};
    fs::path err_;
    serve_process proc_;
};

std::vector<std::string> with_cert(std::vector<std::string> args, const fs::path& cert, const fs::path& key) {
    args.insert(args.end(), {"--tls-cert", cert.string(), "--tls-key", key.string()});
    return args;
}

// The Python scenario `name` (tls_clients.py) against port: its output, and exit status 0 required.
void python_scenario(const std::string& name, std::uint16_t port, const fs::path& ca,
                     const std::vector<std::string>& args = {}) {
    std::vector<std::string> argv{"python3", TLS_CLIENTS_SCRIPT, name, std::to_string(port), ca.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto r = run_program(argv);
    BOOST_TEST(exit_code(r) == 0, name << ": " << r.out << r.err);
    BOOST_TEST(r.out == "ok " + name + "\n", r.out << r.err);
}

// A plain TCP connection that sends `bytes`, then everything until the server closes it: how it ended.
ending send_and_wait_for_the_close(std::uint16_t port, std::string_view bytes) {
    auto sock = connect_loopback(port);
    if (!bytes.empty()) BOOST_REQUIRE(send_all(sock.get(), bytes));
    return recv_to_end(sock.get()).end;
}

} // namespace

BOOST_AUTO_TEST_SUITE(https)

BOOST_DATA_TEST_CASE(curl_over_https_keeps_the_connection_alive, bdata::make(test_support::backends()), backend) {
    REQUIRE_CERTIFICATES();
    REQUIRE_TOOL("curl");
    http_test::site site;
    tls_server s(with_cert({"serve", "http", "--root", site.root.string()}, pki.server_cert(), pki.server_key()),
                 backend);
    const auto r = run_program({"curl", "-sv", "--cacert", pki.ca_cert().string(), "-H", "Connection: keep-alive",
                                "-w", " connects=%{num_connects}\n", s.url("/a.txt"), s.url("/sub/")});
    BOOST_TEST(exit_code(r) == 0, r.err);
    // Two requests, one TLS connection: the second transfer made no new one.
    BOOST_TEST(r.out == "hello\n connects=1\n<p>sub</p>\n connects=0\n");
    BOOST_TEST(r.err.find("Re-using existing connection") != std::string::npos, r.err);
    BOOST_TEST(r.err.find("ALPN: server accepted http/1.1") != std::string::npos, r.err);
    // A file larger than a TLS record, read through the layer in bounded chunks instead of sendfile.
    const auto big = run_program({"curl", "-s", "--cacert", pki.ca_cert().string(), s.url("/big.bin")});
    BOOST_TEST(exit_code(big) == 0, big.err);
    BOOST_TEST((big.out == site.big));
    BOOST_TEST(s.errors() == "");
    s.stop();
}

BOOST_DATA_TEST_CASE(curl_refuses_a_certificate_its_ca_did_not_sign, bdata::make(test_support::backends()), backend) {
    REQUIRE_CERTIFICATES();
    REQUIRE_TOOL("curl");
    http_test::site site;
    tls_server self_signed(
        with_cert({"serve", "http", "--root", site.root.string()}, pki.self_signed_cert(), pki.self_signed_key()),
        backend);
    const auto r = run_program({"curl", "-s", "--cacert", pki.ca_cert().string(), self_signed.url("/a.txt")});
    BOOST_TEST(exit_code(r) == 60, r.err); // curl's "peer certificate cannot be authenticated"
    BOOST_TEST(r.out == "");
    // The server serves the next client; and once it has stopped (so that its log is complete), it said one line
    // about the one that gave up.
    const auto ok = run_program({"curl", "-s", "--cacert", pki.self_signed_cert().string(), self_signed.url("/a.txt")});
    BOOST_TEST(ok.out == "hello\n", ok.err);
    self_signed.stop();
    BOOST_TEST(lines_in(self_signed.errors()) == 1u, self_signed.errors());
}

BOOST_DATA_TEST_CASE(get_https_verifies_the_chain_and_prints_the_body, bdata::make(test_support::backends()),
                     backend) {
    REQUIRE_CERTIFICATES();
    http_test::site site;
    tls_server s(with_cert({"serve", "http", "--root", site.root.string()}, pki.server_cert(), pki.server_key()),
                 backend);
    for (const std::string host : {"127.0.0.1", "localhost"}) {
        const auto r = run_program(
            {ASYNCHAT_PATH, "get", s.url("/a.txt", host), "--cacert", pki.ca_cert().string(), "--backend", backend});
        BOOST_TEST(exit_code(r) == 0, host << ": " << r.err);
        BOOST_TEST(r.out == "hello\n");
        BOOST_TEST(r.err == "");
    }
    const auto big = run_program({ASYNCHAT_PATH, "get", s.url("/big.bin"), "--cacert", pki.ca_cert().string()});
    BOOST_TEST(exit_code(big) == 0, big.err);
    BOOST_TEST((big.out == site.big));
    s.stop();
}

BOOST_DATA_TEST_CASE(get_https_verification_failures_exit_1_with_one_line, bdata::make(test_support::backends()),
                     backend) {
    REQUIRE_CERTIFICATES();
    http_test::site site;
    const std::vector<std::string> serve{"serve", "http", "--root", site.root.string()};
    tls_server good(with_cert(serve, pki.server_cert(), pki.server_key()), backend);
    tls_server self_signed(with_cert(serve, pki.self_signed_cert(), pki.self_signed_key()), backend);
    tls_server wrong_host(with_cert(serve, pki.wrong_host_cert(), pki.wrong_host_key()), backend);
    struct failing {
        std::string url, ca, why;
    };
    for (const auto& f : {failing{self_signed.url("/a.txt"), pki.ca_cert().string(), "self-signed"},
                          failing{good.url("/a.txt"), pki.other_ca_cert().string(), "unable to get local issuer"},
                          failing{wrong_host.url("/a.txt"), pki.ca_cert().string(), "IP address mismatch"},
                          failing{wrong_host.url("/a.txt", "localhost"), pki.ca_cert().string(), "hostname mismatch"}}) {
        const auto r = run_program({ASYNCHAT_PATH, "get", f.url, "--cacert", f.ca, "--backend", backend});
        BOOST_TEST(exit_code(r) == 1, f.url << ": " << r.err);
        BOOST_TEST(r.out == "");
        BOOST_TEST(lines_in(r.err) == 1u, r.err);
        BOOST_TEST(r.err.find("certificate verify failed") != std::string::npos, r.err);
        BOOST_TEST(r.err.find(f.why) != std::string::npos, r.err);
    }
    // http:// to the TLS port is not a verification: the server closes it as a client that did not speak TLS.
    const auto plain = run_program({ASYNCHAT_PATH, "get", "http://127.0.0.1:" + std::to_string(good.port()) + "/a.txt"});
    BOOST_TEST(exit_code(plain) == 1, plain.err);
    BOOST_TEST(lines_in(plain.err) == 1u, plain.err);
    good.stop();
    self_signed.stop();
    wrong_host.stop();
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(tls_ports)

// Plaintext to a TLS port: that connection is closed with one line on stderr, and the next (TLS) client is served.
BOOST_DATA_TEST_CASE(plaintext_to_a_tls_port_closes_that_connection_only, bdata::make(test_support::backends()),
                     backend) {
    REQUIRE_CERTIFICATES();
    REQUIRE_TOOL("python3");
    {
        tls_server echo(with_cert({"serve", "echo"}, pki.server_cert(), pki.server_key()), backend);
        auto bystander = connect_loopback(echo.port()); // open through it all, and unharmed
        BOOST_TEST(send_and_wait_for_the_close(echo.port(), "hello\r\n") != ending::timeout);
        const std::string err = echo.errors();
        BOOST_TEST(lines_in(err) == 1u, err);
        BOOST_TEST(err.find("did not speak TLS") != std::string::npos, err);
        python_scenario("echo", echo.port(), pki.ca_cert(), {"after plaintext"});
        BOOST_TEST(!readable_within(bystander.get(), std::chrono::milliseconds(0)));
        echo.stop();
    }
    http_test::site site;
    tls_server http(with_cert({"serve", "http", "--root", site.root.string()}, pki.server_cert(), pki.server_key()),
                    backend);
    BOOST_TEST(send_and_wait_for_the_close(http.port(), "GET /a.txt HTTP/1.0\r\n\r\n") != ending::timeout);
    BOOST_TEST(lines_in(http.errors()) == 1u, http.errors());
    const auto r = run_program({ASYNCHAT_PATH, "get", http.url("/a.txt"), "--cacert", pki.ca_cert().string()});
    BOOST_TEST(r.out == "hello\n", r.err);
    http.stop();
}

// A client that connects and starts a handshake it never finishes holds nothing for long: --idle-timeout closes
// it, and the server serves the next client.
BOOST_DATA_TEST_CASE(a_stalled_handshake_is_closed_by_the_idle_timeout, bdata::make(test_support::backends()),
                     backend) {
    REQUIRE_CERTIFICATES();
    REQUIRE_TOOL("python3");
    tls_server echo(with_cert({"serve", "echo", "--idle-timeout", "0.3"}, pki.server_cert(), pki.server_key()),
                    backend);
    // Nothing at all, then the first bytes of a ClientHello's record header and no more.
    BOOST_TEST(send_and_wait_for_the_close(echo.port(), "") == ending::eof);
    BOOST_TEST(send_and_wait_for_the_close(echo.port(), std::string_view("\x16\x03\x01\x02\x00\x01", 6)) == ending::eof);
    python_scenario("echo", echo.port(), pki.ca_cert(), {"after the stall"});
    echo.stop();
}

BOOST_DATA_TEST_CASE(openssl_s_client_gets_its_line_back, bdata::make(test_support::backends()), backend) {
    REQUIRE_CERTIFICATES();
    REQUIRE_TOOL("openssl");
    // The idle timeout ends the conversation once the line is back: s_client (-quiet goes on after its stdin's
    // end) then sees the close and exits.
    tls_server echo(with_cert({"serve", "echo", "--idle-timeout", "0.5"}, pki.server_cert(), pki.server_key()),
                    backend);
    const auto r = run_program(
        {"/bin/sh", "-c",
         "printf 'over tls\\r\\n' | openssl s_client -quiet -verify_return_error -verify_ip 127.0.0.1 -CAfile " +
             shell_quote(pki.ca_cert().string()) + " -connect 127.0.0.1:" + std::to_string(echo.port())});
    BOOST_TEST(r.out == "over tls\r\n", r.err);
    BOOST_TEST(r.err.find("verify return:1") != std::string::npos, r.err);
    echo.stop();
}

BOOST_DATA_TEST_CASE(python_ssl_echo_and_chat_with_close_notify, bdata::make(test_support::backends()), backend) {
    REQUIRE_CERTIFICATES();
    REQUIRE_TOOL("python3");
    tls_server echo(with_cert({"serve", "echo"}, pki.server_cert(), pki.server_key()), backend);
    python_scenario("echo", echo.port(), pki.ca_cert(), {"a line over TLS"});
    BOOST_TEST(echo.errors() == "");
    echo.stop();
    tls_server chat(with_cert({"serve", "chat"}, pki.server_cert(), pki.server_key()), backend);
    python_scenario("chat", chat.port(), pki.ca_cert());
    chat.stop();
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(starttls)

struct smtp_fixture {
    maildir_test::temp_dir dir{true};
    fs::path maildir = dir.path / "mail";
    std::vector<std::string> serve(std::vector<std::string> extra = {}) const {
        std::vector<std::string> args{"serve", "smtp", "--maildir", maildir.string()};
        args.insert(args.end(), extra.begin(), extra.end());
        return args;
    }
    std::size_t delivered() const { return maildir_test::files_in(maildir / "new").size(); }
};

BOOST_DATA_TEST_CASE(python_smtplib_starttls_then_a_delivery, bdata::make(test_support::backends()), backend) {
    REQUIRE_CERTIFICATES();
    REQUIRE_TOOL("python3");
    smtp_fixture f;
    tls_server s(with_cert(f.serve(), pki.server_cert(), pki.server_key()), backend);
    python_scenario("smtplib", s.port(), pki.ca_cert(), {f.maildir.string()});
    BOOST_TEST(f.delivered() == 1u);
    s.stop();
}

BOOST_DATA_TEST_CASE(swaks_tls_then_a_delivery, bdata::make(test_support::backends()), backend) {
    REQUIRE_CERTIFICATES();
    REQUIRE_TOOL("swaks");
    if (run_program({"perl", "-MNet::SSLeay", "-e", "1"}).status != 0) {
        BOOST_TEST_MESSAGE("swaks --tls needs Net::SSLeay (libnet-ssleay-perl): skipped");
        return;
    }
    smtp_fixture f;
    tls_server s(with_cert(f.serve(), pki.server_cert(), pki.server_key()), backend);
    const auto r = run_program({"swaks", "--server", "127.0.0.1:" + std::to_string(s.port()), "--tls", "--tls-verify",
                                "--tls-ca-path", pki.ca_cert().string(), "--from", "a@x", "--to", "b@y", "--body",
                                "sent over TLS"});
    BOOST_TEST(exit_code(r) == 0, r.out << r.err);
    BOOST_TEST(r.out.find("=== TLS started with cipher") != std::string::npos, r.out);
    // The EHLO over TLS no longer offers STARTTLS.
    BOOST_TEST(r.out.find("<~  250-STARTTLS") == std::string::npos, r.out);
    const auto files = maildir_test::files_in(f.maildir / "new");
    BOOST_REQUIRE_EQUAL(files.size(), 1u);
    BOOST_TEST(maildir_test::slurp(files[0]).find("\r\n\r\nsent over TLS\r\n") != std::string::npos);
    s.stop();
}

// CVE-2011-0411 (and the 2021 "NO STARTTLS" findings): commands sent in plaintext in the same segment as STARTTLS
// are never executed, before or after the handshake.
BOOST_DATA_TEST_CASE(starttls_command_injection_cve_2011_0411, bdata::make(test_support::backends()), backend) {
    REQUIRE_CERTIFICATES();
    REQUIRE_TOOL("python3");
    smtp_fixture f;
    tls_server s(with_cert(f.serve(), pki.server_cert(), pki.server_key()), backend);
    for (const char* injected : {"RSET\\r\\n", "MAIL FROM:<evil@x>\\r\\nRCPT TO:<victim@y>\\r\\nDATA\\r\\nforged\\r\\n.\\r\\n",
                                 "EHLO injected\\r\\nQUIT\\r\\n"})
        python_scenario("inject", s.port(), pki.ca_cert(), {injected});
    // Only the messages the scenarios sent over TLS were stored, none forged.
    BOOST_TEST(f.delivered() == 3u);
    for (const auto& file : maildir_test::files_in(f.maildir / "new"))
        BOOST_TEST(maildir_test::slurp(file).find("forged") == std::string::npos);
    s.stop();
}

BOOST_DATA_TEST_CASE(after_starttls_the_session_starts_over, bdata::make(test_support::backends()), backend) {
    REQUIRE_CERTIFICATES();
    REQUIRE_TOOL("python3");
    smtp_fixture f;
    tls_server s(with_cert(f.serve(), pki.server_cert(), pki.server_key()), backend);
    python_scenario("mail-before-ehlo", s.port(), pki.ca_cert());
    s.stop();
    tls_server required(with_cert(f.serve({"--require-tls"}), pki.server_cert(), pki.server_key()), backend);
    python_scenario("require-tls", required.port(), pki.ca_cert());
    required.stop();
}

BOOST_DATA_TEST_CASE(send_mail_starttls, bdata::make(test_support::backends()), backend) {
    REQUIRE_CERTIFICATES();
    smtp_fixture f;
    tls_server s(with_cert(f.serve(), pki.server_cert(), pki.server_key()), backend);
    const fs::path message = f.dir.path / "message";
    std::ofstream(message, std::ios::binary) << "Subject: ours over tls\n\nbody\n";
    const auto send = [&](std::uint16_t port, const std::string& extra) {
        return run_program({"/bin/sh", "-c",
                            "exec " + shell_quote(ASYNCHAT_PATH) + " send-mail --server 127.0.0.1:" +
                                std::to_string(port) + " --from a@x --to b@y " + extra + " < " +
                                shell_quote(message.string())});
    };
    const auto ok = send(s.port(), "--starttls --cacert " + shell_quote(pki.ca_cert().string()));
    BOOST_TEST(exit_code(ok) == 0, ok.err);
    BOOST_TEST(f.delivered() == 1u);
    // A CA that did not sign the server's certificate: exit 1, one line saying why, nothing sent.
    const auto untrusted = send(s.port(), "--starttls --cacert " + shell_quote(pki.other_ca_cert().string()));
    BOOST_TEST(exit_code(untrusted) == 1, untrusted.err);
    BOOST_TEST(lines_in(untrusted.err) == 1u, untrusted.err);
    BOOST_TEST(untrusted.err.find("certificate verify failed") != std::string::npos, untrusted.err);
    BOOST_TEST(f.delivered() == 1u);
    s.stop();
    // A server without TLS: --starttls refuses to go on in plaintext.
    tls_server plain(f.serve(), backend);
    const auto refused = send(plain.port(), "--starttls --cacert " + shell_quote(pki.ca_cert().string()));
    BOOST_TEST(exit_code(refused) == 1, refused.err);
    BOOST_TEST(refused.err.find("does not offer STARTTLS") != std::string::npos, refused.err);
    BOOST_TEST(f.delivered() == 1u);
    plain.stop();
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(serve_all_tls)

// One certificate for the whole process: echo, chat and HTTP speak TLS from the first byte, SMTP offers STARTTLS.
BOOST_DATA_TEST_CASE(every_service_speaks_tls, bdata::make(test_support::backends()), backend) {
    REQUIRE_CERTIFICATES();
    REQUIRE_TOOL("python3");
    maildir_test::temp_dir dir(true);
    const fs::path maildir = dir.path / "mail";
    child_process proc({ASYNCHAT_PATH, "serve", "all", "--echo-port", "0", "--chat-port", "0", "--http-port", "0",
                        "--smtp-port", "0", "--maildir", maildir.string(), "--backend", backend, "--tls-cert",
                        pki.server_cert().string(), "--tls-key", pki.server_key().string()});
    BOOST_REQUIRE(proc.read_line()); // "smtp delivers to ..."
    std::map<std::string, std::uint16_t> ports;
    for (const char* name : {"echo", "chat", "http", "smtp"}) {
        const auto line = proc.read_line();
        BOOST_REQUIRE(line);
        ports[name] = parse_listening_port(line->substr(std::string(name).size() + 1));
    }
    python_scenario("echo", ports["echo"], pki.ca_cert(), {"all"});
    python_scenario("chat", ports["chat"], pki.ca_cert());
    const auto r = run_program({ASYNCHAT_PATH, "get", "https://127.0.0.1:" + std::to_string(ports["http"]) + "/metrics",
                                "--cacert", pki.ca_cert().string()});
    BOOST_TEST(exit_code(r) == 0, r.err);
    BOOST_TEST(r.out.find("asynchat_connections_accepted_total") != std::string::npos, r.out);
    python_scenario("smtplib", ports["smtp"], pki.ca_cert(), {maildir.string()});
    proc.send_signal(SIGTERM);
    const auto status = proc.wait();
    BOOST_REQUIRE(status);
    BOOST_TEST(WIFEXITED(*status));
    BOOST_TEST(WEXITSTATUS(*status) == 0);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(tls_options)

// Bad TLS arguments exit 2 with one line naming the option, before anything listens.
BOOST_AUTO_TEST_CASE(bad_tls_arguments_exit_2_with_one_line_naming_the_option) {
    REQUIRE_CERTIFICATES();
    http_test::site site;
    const std::string cert = pki.server_cert().string(), key = pki.server_key().string();
    const std::string missing = (site.dir.path() / "missing.pem").string();
    const std::string not_pem = (site.root / "a.txt").string();
    struct bad {
        std::vector<std::string> tls_args;
        std::string option;
    };
    const std::vector<bad> cases{
        {{"--tls-cert", cert}, "--tls-key"},                                      // a key is needed
        {{"--tls-key", key}, "--tls-cert"},                                       // ... and a certificate
        {{"--tls-cert", missing, "--tls-key", key}, "--tls-cert"},                // unreadable
        {{"--tls-cert", cert, "--tls-key", missing}, "--tls-key"},
        {{"--tls-cert", site.root.string(), "--tls-key", key}, "--tls-cert"},     // a directory
        {{"--tls-cert", not_pem, "--tls-key", key}, "--tls-cert"},                // not PEM
        {{"--tls-cert", cert, "--tls-key", not_pem}, "--tls-key"},
        {{"--tls-cert", cert, "--tls-key", pki.self_signed_key().string()}, "--tls-key"}, // not this cert's key
    };
    maildir_test::temp_dir mail(true);
    const std::vector<std::vector<std::string>> commands{
        {"serve", "echo", "--port", "0"},
        {"serve", "chat", "--port", "0"},
        {"serve", "http", "--port", "0", "--root", site.root.string()},
        {"serve", "smtp", "--port", "0", "--maildir", (mail.path / "m").string()},
        {"serve", "all", "--echo-port", "0", "--chat-port", "0", "--http-port", "0", "--smtp-port", "0", "--maildir",
         (mail.path / "m").string()},
    };
    for (const auto& command : commands) {
        for (const auto& c : cases) {
            std::vector<std::string> argv{ASYNCHAT_PATH};
            argv.insert(argv.end(), command.begin(), command.end());
            argv.insert(argv.end(), c.tls_args.begin(), c.tls_args.end());
            const auto r = run_program(argv);
            BOOST_TEST(exit_code(r) == 2, command[1] << " " << c.tls_args[1] << ": " << r.err);
            BOOST_TEST(r.out == "");
            BOOST_TEST(lines_in(r.err) == 1u, r.err);
            BOOST_TEST(r.err.find(c.option) != std::string::npos, c.option << ": " << r.err);
        }
    }
    // --require-tls without a certificate; --cacert without --starttls, or unreadable.
    for (const auto& [args, option] : std::vector<std::pair<std::vector<std::string>, std::string>>{
             {{"serve", "smtp", "--maildir", (mail.path / "m").string(), "--port", "0", "--require-tls"}, "--require-tls"},
             {{"send-mail", "--server", "127.0.0.1:25", "--from", "a", "--to", "b", "--cacert", cert}, "--starttls"},
             {{"send-mail", "--server", "127.0.0.1:25", "--from", "a", "--to", "b", "--starttls", "--cacert", missing},
              "--cacert"},
             {{"get", "https://127.0.0.1:1/", "--cacert", missing}, "--cacert"},
             {{"get", "https://127.0.0.1:1/", "--cacert", not_pem}, "--cacert"},
         }) {
        std::vector<std::string> argv{ASYNCHAT_PATH};
        argv.insert(argv.end(), args.begin(), args.end());
        const auto r = run_program(argv);
        BOOST_TEST(exit_code(r) == 2, args[0] << ": " << r.err);
        BOOST_TEST(lines_in(r.err) == 1u, r.err);
        BOOST_TEST(r.err.find(option) != std::string::npos, option << ": " << r.err);
    }
}

BOOST_AUTO_TEST_SUITE_END()
