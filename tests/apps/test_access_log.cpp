// `asynchat serve all --access-log FILE`: every HTTP response one line in the combined log format, every delivered
// SMTP message one line, parsed back field by field; the client's bytes escaped; ab's traffic counted line for
// line; and a logrotate-style rename + SIGHUP that loses no line and splits none. Every backend.
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include <unistd.h>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "program_support.hpp"
#include "test_support.hpp"

namespace bdata = boost::unit_test::data;
namespace fs = std::filesystem;
using namespace program_test;

namespace {

// serve all with --root (a.txt: "hello\n") and --access-log in a scratch directory.
struct logged_server {
    fs::path dir;
    fs::path log;
    std::unique_ptr<child_process> proc;
    std::uint16_t http = 0, smtp = 0;

    explicit logged_server(const std::string& backend)
        : dir(fs::temp_directory_path() / ("asynchat-access-" + std::to_string(::getpid()) + "-" + backend)),
          log(dir / "access.log") {
        fs::remove_all(dir);
        fs::create_directories(dir / "root");
        std::ofstream(dir / "root" / "a.txt") << "hello\n";
        proc = std::make_unique<child_process>(std::vector<std::string>{
            ASYNCHAT_PATH, "serve", "all", "--echo-port", "0", "--chat-port", "0", "--http-port", "0", "--smtp-port",
            "0", "--maildir", (dir / "mail").string(), "--root", (dir / "root").string(), "--access-log",
            log.string(), "--backend", backend});
        for (int i = 0; i < 5; ++i) {
            const auto line = proc->read_line();
            BOOST_REQUIRE_MESSAGE(line, "serve all stopped printing");
            if (line->starts_with("http listening on ")) http = parse_listening_port(line->substr(5));
            if (line->starts_with("smtp listening on ")) smtp = parse_listening_port(line->substr(5));
        }
        BOOST_REQUIRE(http && smtp);
    }
    // SIGTERM and exit 0: every line is in the file once the process is gone.
    void stop() {
        proc->send_signal(SIGTERM);
        const auto status = proc->wait();
        BOOST_REQUIRE(status);
        BOOST_TEST(WIFEXITED(*status));
        BOOST_TEST(WEXITSTATUS(*status) == 0);
    }
    ~logged_server() {
        proc.reset();
        fs::remove_all(dir);
    }
};

std::vector<std::string> lines_of(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

// One HTTP exchange on a fresh connection, the whole response.
std::string exchange(std::uint16_t port, const std::string& request) {
    auto s = connect_loopback(port);
    BOOST_REQUIRE(send_all(s.get(), request));
    return recv_exact(s.get(), 1 << 20);
}

// The combined log format, field by field.
const std::regex combined(R"re(^(\S+) - - \[(\d\d)/([A-Z][a-z]{2})/(\d{4}):(\d\d):(\d\d):(\d\d) \+0000\] )re"
                          R"re("([^"]*)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"$)re");

} // namespace

BOOST_AUTO_TEST_SUITE(access_log)

BOOST_DATA_TEST_CASE(each_response_and_delivery_is_one_parsed_line, bdata::make(test_support::backends()), backend) {
    logged_server server(backend);
    BOOST_TEST(exchange(server.http, "GET /a.txt HTTP/1.1\r\nHost: x\r\nReferer: http://ref.example/\r\n"
                                     "User-Agent: agent \"quoted\"\r\nConnection: close\r\n\r\n")
                   .starts_with("HTTP/1.0 200 "));
    exchange(server.http, "HEAD /a.txt HTTP/1.0\r\n\r\n");
    exchange(server.http, "GET /missing HTTP/1.0\r\n\r\n");
    exchange(server.http, "GET /missing HTTP/1.0\r\nUser-Agent: caf\xc3\xa9\r\n\r\n"); // obs-text: escaped
    exchange(server.http, "GET /\x1b[2Kfake HTTP/1.0\r\n\r\n"); // a control byte: refused, logged as "-"
    exchange(server.http, "NOT A REQUEST\r\n\r\n");
    {
        auto smtp = connect_loopback(server.smtp);
        BOOST_REQUIRE(send_all(smtp.get(), "EHLO me\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nRCPT TO:<c@z>\r\nDATA\r\n"));
        BOOST_REQUIRE(send_all(smtp.get(), "Subject: s\r\n\r\nbody\r\n.\r\nQUIT\r\n"));
        const auto got = recv_to_end(smtp.get());
        BOOST_TEST(got.data.find("250 OK: queued as ") != std::string::npos, got.data);
    }
    server.stop();

    const auto lines = lines_of(server.log);
    BOOST_REQUIRE_EQUAL(lines.size(), 7u);
    struct expected {
        std::string request, status, bytes, referer, agent;
    };
    const std::vector<expected> http{
        {"GET /a.txt HTTP/1.1", "200", "6", "http://ref.example/", "agent \\x22quoted\\x22"},
        {"HEAD /a.txt HTTP/1.0", "200", "-", "-", "-"},
        {"GET /missing HTTP/1.0", "404", "14", "-", "-"},
        {"GET /missing HTTP/1.0", "404", "14", "-", "caf\\xC3\\xA9"},
        {"-", "400", "", "-", "-"},
        {"-", "400", "", "-", "-"},
    };
    for (std::size_t i = 0; i < http.size(); ++i) {
        std::smatch m;
        BOOST_REQUIRE_MESSAGE(std::regex_match(lines[i], m, combined), "not the combined format: " << lines[i]);
        BOOST_TEST(m[1] == "127.0.0.1");
        BOOST_TEST(m[8] == http[i].request);
        BOOST_TEST(m[9] == http[i].status);
        if (!http[i].bytes.empty()) BOOST_TEST(m[10] == http[i].bytes);
        BOOST_TEST(m[11] == http[i].referer);
        BOOST_TEST(m[12] == http[i].agent);
    }
    // The delivery: its id is the stored file's name.
    std::vector<fs::path> stored;
    for (const auto& e : fs::directory_iterator(server.dir / "mail" / "new")) stored.push_back(e.path());
    BOOST_REQUIRE_EQUAL(stored.size(), 1u);
    const std::regex delivered(R"re(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ smtp delivered id=(\S+) client=127\.0\.0\.1 )re"
                               R"re(from=<a@x> to=<b@y>,<c@z> size=(\d+)$)re");
    std::smatch m;
    BOOST_REQUIRE_MESSAGE(std::regex_match(lines[6], m, delivered), "not a delivery line: " << lines[6]);
    BOOST_TEST(m[1] == stored[0].filename().string());
    BOOST_TEST(m[2] == std::to_string(std::string("Subject: s\r\n\r\nbody\r\n").size()));
}

// curl's requests, as a user's would come: a GET with a Referer and a quoting User-Agent, and a HEAD (-I).
BOOST_DATA_TEST_CASE(curls_requests_are_logged_field_by_field, bdata::make(test_support::backends()), backend) {
    REQUIRE_TOOL("curl");
    logged_server server(backend);
    const std::string url = "http://127.0.0.1:" + std::to_string(server.http) + "/a.txt";
    BOOST_TEST(run_program({"curl", "-sS", "-A", "tool \"x\" 1.0", "-e", "http://ref.example/page", url}).out ==
               "hello\n");
    BOOST_TEST(exit_code(run_program({"curl", "-sS", "-I", url})) == 0);
    server.stop();
    const auto lines = lines_of(server.log);
    BOOST_REQUIRE_EQUAL(lines.size(), 2u);
    std::smatch m;
    BOOST_REQUIRE_MESSAGE(std::regex_match(lines[0], m, combined), lines[0]);
    BOOST_TEST(m[1] == "127.0.0.1");
    BOOST_TEST(m[8] == "GET /a.txt HTTP/1.1");
    BOOST_TEST(m[9] == "200");
    BOOST_TEST(m[10] == "6");
    BOOST_TEST(m[11] == "http://ref.example/page");
    BOOST_TEST(m[12] == "tool \\x22x\\x22 1.0");
    BOOST_REQUIRE_MESSAGE(std::regex_match(lines[1], m, combined), lines[1]);
    BOOST_TEST(m[8] == "HEAD /a.txt HTTP/1.1");
    BOOST_TEST(m[9] == "200");
    BOOST_TEST(m[10] == "-");
    BOOST_TEST(m[12].str().starts_with("curl/"));
}

// ab's 1000 keep-alive requests: 1000 lines, each in the format.
BOOST_DATA_TEST_CASE(every_request_of_a_load_is_a_line, bdata::make(test_support::backends()), backend) {
    REQUIRE_TOOL("ab");
    logged_server server(backend);
    const auto r = run_program(
        {"ab", "-q", "-k", "-n", "1000", "-c", "8", "http://127.0.0.1:" + std::to_string(server.http) + "/a.txt"});
    BOOST_TEST(r.out.find("Complete requests:      1000\n") != std::string::npos, r.out);
    server.stop();
    const auto lines = lines_of(server.log);
    BOOST_TEST(lines.size() == 1000u);
    std::size_t well_formed = 0;
    for (const auto& line : lines) well_formed += std::regex_match(line, combined) && line.find("\" 200 6 ") != std::string::npos;
    BOOST_TEST(well_formed == lines.size());
}

// logrotate: rename the file, SIGHUP. The lines answered before the signal are all in the renamed file, those
// after it in the new one; none lost, none split.
BOOST_DATA_TEST_CASE(rename_and_sighup_lose_no_line, bdata::make(test_support::backends()), backend) {
    logged_server server(backend);
    auto keep_alive = connect_loopback(server.http);
    // Requests one at a time, each response read before the next: its line was queued before it was sent.
    const std::string one = "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    auto ask = [&](int n) {
        for (int i = 0; i < n; ++i) {
            BOOST_REQUIRE(send_all(keep_alive.get(), one));
            std::string got;
            while (got.find("\r\n\r\nhello\n") == std::string::npos) {
                char buf[4096];
                const auto k = ::recv(keep_alive.get(), buf, sizeof buf, 0);
                BOOST_REQUIRE(k > 0);
                got.append(buf, static_cast<std::size_t>(k));
            }
        }
    };
    ask(300);
    const fs::path rotated = server.log.string() + ".1";
    fs::rename(server.log, rotated);
    server.proc->send_signal(SIGHUP);
    // The new file appears when the server has reopened: the lines before are then all in the old one.
    for (int i = 0; i < 1000 && !fs::exists(server.log); ++i) ::usleep(10000);
    BOOST_REQUIRE_MESSAGE(fs::exists(server.log), "no new access log after SIGHUP");
    ask(200);
    keep_alive = {};
    server.stop();
    const auto before = lines_of(rotated), after = lines_of(server.log);
    BOOST_TEST(before.size() == 300u);
    BOOST_TEST(after.size() == 200u);
    std::size_t well_formed = 0;
    for (const auto* part : {&before, &after})
        for (const auto& line : *part) well_formed += std::regex_match(line, combined);
    BOOST_TEST(well_formed == 500u);
}

BOOST_AUTO_TEST_SUITE_END()
