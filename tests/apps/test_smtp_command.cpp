// `asynchat serve smtp` and `asynchat send-mail` as programs, on every backend, with real clients: Python's
// smtplib (smtplib_client.py), swaks, our own send-mail, raw sockets for the idle timeout, and a crash test that
// SIGKILLs the server under load and checks that every acknowledged message is complete in new/.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "program_support.hpp"
#include "maildir_test_util.hpp"
#include "test_support.hpp"

#ifndef ASYNCHAT_PATH
#error "ASYNCHAT_PATH must name the asynchat binary"
#endif
#ifndef SMTPLIB_CLIENT_SCRIPT
#error "SMTPLIB_CLIENT_SCRIPT must name smtplib_client.py"
#endif

namespace bdata = boost::unit_test::data;
namespace fs = std::filesystem;
using maildir_test::files_in;
using maildir_test::slurp;
using maildir_test::temp_dir;
using namespace program_test;
using namespace std::chrono_literals;

namespace {

// `asynchat serve smtp` on a free port, its Maildir under dir.
struct smtp_server {
    child_process process;
    std::uint16_t port = 0;
    smtp_server(const std::string& backend, const fs::path& maildir, std::vector<std::string> extra = {})
        : process([&] {
              std::vector<std::string> argv{ASYNCHAT_PATH, "serve", "smtp", "--port", "0", "--backend", backend,
                                            "--maildir", maildir.string()};
              argv.insert(argv.end(), extra.begin(), extra.end());
              return argv;
          }()) {
        const auto line = process.read_line();
        BOOST_REQUIRE_MESSAGE(line, "the server printed no listening line");
        port = parse_listening_port(*line);
    }
};

// Runs a shell command line to completion; its exit status (-1 if it did not exit by the hang guard).
int run_shell(const std::string& command) {
    child_process sh({"/bin/sh", "-c", command});
    sh.read_all();
    const auto status = sh.wait();
    if (!status || !WIFEXITED(*status)) return -1;
    return WEXITSTATUS(*status);
}

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// ---- a blocking SMTP client for the crash test's threads (no Boost.Test macros: they are not thread-safe)

class raw_client {
public:
    explicit raw_client(std::uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        timeval tv{5, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok_ = ::connect(fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0;
    }
    ~raw_client() { ::close(fd_); }
    bool ok() const { return ok_; }
    bool send(std::string_view data) { return ok_ && (ok_ = send_all(fd_, data)); }
    // The code of the next complete reply; 0 when the connection failed first.
    int reply() {
        for (;;) {
            const auto eol = buffer_.find("\r\n");
            if (eol != std::string::npos) {
                const std::string line = buffer_.substr(0, eol);
                buffer_.erase(0, eol + 2);
                if (line.size() >= 3 && (line.size() == 3 || line[3] == ' ')) return std::atoi(line.substr(0, 3).c_str());
                continue;
            }
            char chunk[4096];
            const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n <= 0) return ok_ = false, 0;
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }

private:
    int fd_ = -1;
    bool ok_ = false;
    std::string buffer_;
};

// The body of crash-test message `token`: about 10 KiB, its token at the start and the end, so that a file
// cut short anywhere does not match.
std::string crash_body(const std::string& token) {
    std::string body = "Message-Token: " + token + "\r\n\r\n";
    for (int i = 0; i < 100; ++i) body += std::string(98, static_cast<char>('a' + i % 26)) + "\r\n";
    return body + "End-Token: " + token + "\r\n";
}
const std::string crash_head = "Return-Path: <load@x>\r\nX-Envelope-To: <sink@y>\r\n";

} // namespace

BOOST_AUTO_TEST_SUITE(serve_smtp)

BOOST_DATA_TEST_CASE(python_smtplib, bdata::make(test_support::backends()), backend) {
    temp_dir dir(true);
    smtp_server server(backend, dir.path / "mail", {"--max-size", "100000"});
    child_process client({"/usr/bin/python3", SMTPLIB_CLIENT_SCRIPT, std::to_string(server.port),
                          (dir.path / "mail").string(), "100000"});
    const auto out = client.read_all();
    BOOST_REQUIRE(out);
    BOOST_TEST_MESSAGE(*out);
    const auto status = client.wait();
    BOOST_REQUIRE(status);
    BOOST_TEST(WIFEXITED(*status));
    BOOST_TEST(WEXITSTATUS(*status) == 0, *out);
    BOOST_TEST(out->find("ALL OK") != std::string::npos, *out);
}

BOOST_DATA_TEST_CASE(swaks, bdata::make(test_support::backends()), backend) {
    if (!fs::exists("/usr/bin/swaks")) {
        BOOST_TEST_MESSAGE("swaks is not installed: skipped");
        return;
    }
    temp_dir dir(true);
    smtp_server server(backend, dir.path / "mail");
    const fs::path data = dir.path / "data";
    std::ofstream(data, std::ios::binary) << "Subject: swaks\n\n.dot line\nbody\n";
    for (const char* pipelining : {"", " --pipeline"}) {
        const std::string command = "exec /usr/bin/swaks --server 127.0.0.1:" + std::to_string(server.port) +
                                    " --from a@x --to b@y,c@z --data @" + shell_quote(data.string()) +
                                    " --silent 2" + pipelining;
        BOOST_TEST(run_shell(command) == 0, command);
    }
    const auto files = files_in(dir.path / "mail" / "new");
    BOOST_REQUIRE_EQUAL(files.size(), 2u);
    for (const auto& f : files) {
        // swaks adds a CRLF of its own before the final dot: the stored message begins with what it was given.
        BOOST_TEST(maildir_test::without_received(f).starts_with("Return-Path: <a@x>\r\nX-Envelope-To: <b@y>, <c@z>\r\n"
                                        "Subject: swaks\r\n\r\n.dot line\r\nbody\r\n"));
    }
}

BOOST_DATA_TEST_CASE(send_mail_against_serve_smtp, bdata::make(test_support::backends()), backend) {
    temp_dir dir(true);
    // --delivery-cpus 0: the delivery threads pinned (CPU 0 exists everywhere).
    smtp_server server(backend, dir.path / "mail", {"--max-size", "1000", "--delivery-cpus", "0"});
    const fs::path message = dir.path / "message";
    std::ofstream(message, std::ios::binary) << "Subject: ours\n\n.leading dot\n.\nbare\rcr\r\nno final newline";
    const std::string base = "exec " + std::string(ASYNCHAT_PATH) + " send-mail --server 127.0.0.1:" +
                             std::to_string(server.port);
    BOOST_TEST(run_shell(base + " --from a@x --to b@y --to c@z < " + shell_quote(message.string())) == 0);
    auto files = files_in(dir.path / "mail" / "new");
    BOOST_REQUIRE_EQUAL(files.size(), 1u);
    BOOST_TEST(maildir_test::without_received(files[0]) == "Return-Path: <a@x>\r\nX-Envelope-To: <b@y>, <c@z>\r\n"
                                  "Subject: ours\r\n\r\n.leading dot\r\n.\r\nbare\rcr\r\nno final newline\r\n");
    // The null sender.
    BOOST_TEST(run_shell(base + " --from '' --to b@y < " + shell_quote(message.string())) == 0);
    // Refused (over --max-size): exit 1 with the server's reply on stderr.
    const fs::path big = dir.path / "big";
    std::ofstream(big, std::ios::binary) << std::string(2000, 'x') << "\n";
    const fs::path err = dir.path / "err";
    BOOST_TEST(run_shell(base + " --from a@x --to b@y < " + shell_quote(big.string()) + " 2> " +
                         shell_quote(err.string())) == 1);
    BOOST_TEST(slurp(err).find("552") != std::string::npos, slurp(err));
    BOOST_TEST(files_in(dir.path / "mail" / "new").size() == 2u);
}

BOOST_AUTO_TEST_CASE(send_mail_bad_arguments_exit_2) {
    const std::string bin = ASYNCHAT_PATH;
    BOOST_TEST(run_shell("exec " + bin + " send-mail --from a --to b </dev/null 2>/dev/null") == 2);
    BOOST_TEST(run_shell("exec " + bin + " send-mail --server 127.0.0.1:25 --to b </dev/null 2>/dev/null") == 2);
    BOOST_TEST(run_shell("exec " + bin + " send-mail --server nowhere --from a --to b </dev/null 2>/dev/null") == 2);
    BOOST_TEST(run_shell("exec " + bin + " send-mail --server 127.0.0.1:25 --from 'a>b' --to b </dev/null "
                         "2>/dev/null") == 2);
    BOOST_TEST(run_shell("exec " + bin + " serve smtp --port 0 </dev/null 2>/dev/null") == 2); // no --maildir
}

BOOST_AUTO_TEST_CASE(send_mail_to_nobody_listening_exits_1) {
    auto [held, port] = refusing_port();
    BOOST_TEST(run_shell("exec " + std::string(ASYNCHAT_PATH) + " send-mail --server 127.0.0.1:" +
                         std::to_string(port) + " --from a --to b </dev/null 2>/dev/null") == 1);
}

BOOST_DATA_TEST_CASE(idle_client_gets_421_and_is_closed, bdata::make(test_support::backends()), backend) {
    temp_dir dir(true);
    smtp_server server(backend, dir.path / "mail", {"--idle-timeout", "0.3"});
    fd c = connect_loopback(server.port);
    const std::string greeting = "220 localhost ESMTP asynchat\r\n";
    BOOST_TEST(recv_exact(c.get(), greeting.size()) == greeting);
    BOOST_REQUIRE(send_all(c.get(), "NOOP\r\n"));
    BOOST_TEST(recv_exact(c.get(), 8) == "250 OK\r\n");
    const std::string bye = "421 localhost Error: timeout exceeded\r\n";
    BOOST_TEST(recv_exact(c.get(), bye.size()) == bye);
    BOOST_TEST(recv_eof(c.get()));
}

// A client that pipelines a whole session and half-closes at once (its FIN arrives while the message is being
// delivered) still gets every reply, the 250 that waited for the disk and the 221 included, and then the server
// closes: the channel does not read while it delivers, so it meets the end of the input only after the commands
// before it are answered.
BOOST_DATA_TEST_CASE(half_close_during_delivery_gets_every_reply, bdata::make(test_support::backends()), backend) {
    temp_dir dir(true);
    smtp_server server(backend, dir.path / "mail");
    fd c = connect_loopback(server.port);
    BOOST_REQUIRE(send_all(c.get(), "EHLO me\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nhello\r\n.\r\n"
                                    "NOOP\r\nQUIT\r\n"));
    BOOST_REQUIRE(::shutdown(c.get(), SHUT_WR) == 0);
    std::string got;
    for (;;) {
        const std::string more = recv_exact(c.get(), 1);
        if (more.empty()) break;
        got += more;
    }
    BOOST_TEST(got.find("\r\n354 ") != std::string::npos, got);
    BOOST_TEST(got.find("\r\n250 OK: queued as ") != std::string::npos, got);
    BOOST_TEST(got.ends_with("\r\n250 OK\r\n221 Bye\r\n"), got);
    BOOST_TEST(files_in(dir.path / "mail" / "new").size() == 1u);
}

// The loop stays responsive while deliveries are in flight: a client that only pings is answered while another
// delivers continuously.
BOOST_DATA_TEST_CASE(pings_are_answered_during_deliveries, bdata::make(test_support::backends()), backend) {
    temp_dir dir(true);
    smtp_server server(backend, dir.path / "mail");
    raw_client sender(server.port), pinger(server.port);
    BOOST_REQUIRE(sender.reply() == 220);
    BOOST_REQUIRE(pinger.reply() == 220);
    sender.send("EHLO s\r\n");
    BOOST_REQUIRE(sender.reply() == 250);
    std::string session;
    for (int i = 0; i < 20; ++i) session += "MAIL FROM:<load@x>\r\nRCPT TO:<sink@y>\r\nDATA\r\n" + crash_body("p" + std::to_string(i)) + ".\r\n";
    BOOST_REQUIRE(sender.send(session));
    for (int i = 0; i < 20; ++i) {
        BOOST_REQUIRE(pinger.send("NOOP\r\n"));
        BOOST_REQUIRE(pinger.reply() == 250);
    }
    for (int i = 0; i < 20; ++i) {
        BOOST_REQUIRE(sender.reply() == 250);
        BOOST_REQUIRE(sender.reply() == 250);
        BOOST_REQUIRE(sender.reply() == 354);
        BOOST_REQUIRE(sender.reply() == 250);
    }
    BOOST_TEST(files_in(dir.path / "mail" / "new").size() == 20u);
}

// Clients send continuously; the server is killed with SIGKILL; every message a client saw 250 for is complete in
// new/, and nothing in new/ is partial. Twice on the same Maildir, the second server starting on what the first
// left behind.
BOOST_DATA_TEST_CASE(sigkill_loses_no_acknowledged_message, bdata::make(test_support::backends()), backend) {
    temp_dir dir(true);
    const fs::path maildir = dir.path / "mail";
    std::set<std::string> acknowledged;
    for (int round = 0; round < 2; ++round) {
        smtp_server server(backend, maildir);
        std::mutex m;
        std::condition_variable progress;
        std::size_t acked_this_round = 0;
        std::atomic<bool> stop{false};
        std::vector<std::thread> senders;
        for (int t = 0; t < 4; ++t)
            senders.emplace_back([&, t, port = server.port] {
                raw_client c(port);
                if (c.reply() != 220 || !c.send("EHLO load\r\n") || c.reply() != 250) return;
                for (int n = 0; !stop; ++n) {
                    const std::string token = std::to_string(round) + "-" + std::to_string(t) + "-" + std::to_string(n);
                    if (!c.send("MAIL FROM:<load@x>\r\nRCPT TO:<sink@y>\r\nDATA\r\n")) return;
                    if (c.reply() != 250 || c.reply() != 250 || c.reply() != 354) return;
                    if (!c.send(crash_body(token) + ".\r\n")) return;
                    if (c.reply() != 250) return;
                    std::lock_guard lock(m);
                    acknowledged.insert(token);
                    ++acked_this_round;
                    progress.notify_all();
                }
            });
        {
            std::unique_lock lock(m);
            // Enough traffic that the kill lands mid-stream, with deliveries in flight.
            BOOST_TEST(progress.wait_for(lock, hang_guard, [&] { return acked_this_round >= 40; }));
        }
        server.process.send_signal(SIGKILL);
        const auto status = server.process.wait();
        BOOST_REQUIRE(status);
        BOOST_TEST(WIFSIGNALED(*status));
        stop = true;
        for (auto& s : senders) s.join();

        std::set<std::string> stored;
        for (const auto& f : files_in(maildir / "new")) {
            const std::string content = maildir_test::without_received(f);
            const auto start = content.find("Message-Token: ");
            BOOST_REQUIRE_MESSAGE(start != std::string::npos, "partial file in new/: " << f);
            const std::string token = content.substr(start + 15, content.find("\r\n", start) - start - 15);
            BOOST_TEST((content == crash_head + crash_body(token)), "partial or damaged file in new/: " << f);
            stored.insert(token);
        }
        std::size_t missing = 0;
        for (const auto& token : acknowledged) missing += stored.count(token) == 0;
        BOOST_TEST(missing == 0u, missing << " acknowledged messages missing after round " << round);
        BOOST_TEST_MESSAGE("round " << round << ": " << acknowledged.size() << " acknowledged, " << stored.size()
                                    << " in new/");
    }
}

BOOST_AUTO_TEST_SUITE_END()
