// Two `asynchat serve all --proxy-protocol` instances behind a real HAProxy (package haproxy), configured by
// examples/haproxy/haproxy.cfg — the file docs/deploy.md shows — with only its ports and paths moved: curl,
// Python's smtplib and two chat clients through it, from 127.0.0.2 (HAProxy itself connects from 127.0.0.1, so
// seeing .2 on the far side proves the PROXY header carried it) into the access logs and the stored message's
// Received line; health checks with GET /readyz; an instance killed mid-test is taken out and no request fails
// after; an instance draining (SIGTERM with --drain-delay) answers /readyz 503, HAProxy takes it out while it is
// still serving, and it exits 0. One backend (the default): the PROXY path is the same code on every backend,
// and is tested on each by tests/protocols/common/test_serve_proxy.cpp and test_serve_all.cpp.
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include "program_support.hpp"

namespace fs = std::filesystem;
using namespace program_test;

namespace {

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
    for (std::size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size()) text.replace(at, from.size(), to);
}

// One instance: serve all with the PROXY protocol, an access log, a --root with a.txt.
struct instance {
    fs::path dir;
    std::unique_ptr<child_process> proc;
    std::map<std::string, std::uint16_t> ports;
    instance(const fs::path& base, const std::string& name) : dir(base / name) {
        fs::create_directories(dir / "root");
        std::ofstream(dir / "root" / "a.txt") << "hello\n";
        proc = std::make_unique<child_process>(std::vector<std::string>{
            ASYNCHAT_PATH, "serve", "all", "--proxy-protocol", "--drain-delay", "3", "--echo-port", "0",
            "--chat-port", "0", "--http-port", "0", "--smtp-port", "0", "--maildir", (dir / "mail").string(), "--root",
            (dir / "root").string(), "--access-log", (dir / "access.log").string()});
        for (int i = 0; i < 5; ++i) {
            const auto line = proc->read_line();
            BOOST_REQUIRE_MESSAGE(line, name << " stopped printing");
            const auto space = line->find(' ');
            if (line->find(" listening on ") != std::string::npos)
                ports[line->substr(0, space)] = parse_listening_port(line->substr(space + 1));
        }
        BOOST_REQUIRE(ports.count("http") && ports.count("smtp") && ports.count("chat"));
    }
};

// HAProxy's runtime API (the stats socket): each server's status ("UP", "DOWN", ...) by "backend/server".
std::map<std::string, std::string> server_states(const std::string& socket_path) {
    const int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un where{};
    where.sun_family = AF_UNIX;
    socket_path.copy(where.sun_path, sizeof where.sun_path - 1);
    std::map<std::string, std::string> states;
    if (::connect(s, reinterpret_cast<sockaddr*>(&where), sizeof where) != 0) {
        ::close(s);
        return states;
    }
    send_all(s, "show stat\n");
    std::string csv;
    char buf[8192];
    for (ssize_t n; (n = ::recv(s, buf, sizeof buf, 0)) > 0;) csv.append(buf, static_cast<std::size_t>(n));
    ::close(s);
    std::size_t status_column = 0;
    std::size_t start = 0;
    while (start < csv.size()) {
        const std::size_t end = csv.find('\n', start);
        const std::string line = csv.substr(start, end == std::string::npos ? std::string::npos : end - start);
        start = end == std::string::npos ? csv.size() : end + 1;
        std::vector<std::string> fields;
        for (std::size_t a = line.starts_with("# ") ? 2 : 0, b;; a = b + 1) {
            b = line.find(',', a);
            fields.push_back(line.substr(a, b == std::string::npos ? std::string::npos : b - a));
            if (b == std::string::npos) break;
        }
        if (line.starts_with("# ")) {
            for (std::size_t i = 0; i < fields.size(); ++i)
                if (fields[i] == "status") status_column = i;
        } else if (status_column && fields.size() > status_column) {
            states[fields[0] + "/" + fields[1]] = fields[status_column];
        }
    }
    return states;
}

// Waits (up to 20 s) until every named server has `status`.
bool wait_for(const std::string& socket_path, std::vector<std::string> servers, const std::string& status) {
    for (int i = 0; i < 400; ++i) {
        const auto states = server_states(socket_path);
        bool all = true;
        for (const auto& s : servers) all = all && states.count(s) && states.at(s).starts_with(status);
        if (all) return true;
        ::usleep(50000);
    }
    return false;
}

// A TCP connection from 127.0.0.2 to 127.0.0.1:port.
fd connect_from_dot_two(std::uint16_t port) {
    fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, "127.0.0.2", &from.sin_addr);
    BOOST_REQUIRE(::bind(s.get(), reinterpret_cast<sockaddr*>(&from), sizeof from) == 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::connect(s.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
    timeval tv{20, 0};
    ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return s;
}

// The next CRLF-terminated line.
std::string read_line(int s) {
    std::string line;
    char c;
    while (::recv(s, &c, 1, 0) == 1) {
        line += c;
        if (line.ends_with("\r\n")) return line.substr(0, line.size() - 2);
    }
    return line + "(closed)";
}

} // namespace

BOOST_AUTO_TEST_SUITE(behind_haproxy)

BOOST_AUTO_TEST_CASE(two_instances_behind_haproxy) {
    REQUIRE_TOOL("haproxy");
    REQUIRE_TOOL("curl");
    const fs::path base = fs::temp_directory_path() / ("asynchat-haproxy-" + std::to_string(::getpid()));
    fs::remove_all(base);
    fs::create_directories(base);
    instance a(base, "a"), b(base, "b");

    // The documented configuration, with the test's ports and paths.
    const fs::path source = fs::path(SOURCE_DIR) / "examples" / "haproxy" / "haproxy.cfg";
    std::string config = slurp(source);
    BOOST_REQUIRE(!config.empty());
    BOOST_TEST(slurp(fs::path(SOURCE_DIR) / "docs" / "deploy.md").find(config) != std::string::npos,
               "docs/deploy.md does not show examples/haproxy/haproxy.cfg as it is");
    const std::uint16_t front_http = refusing_port().second, front_smtp = refusing_port().second,
                        front_chat = refusing_port().second;
    const std::string admin = (base / "admin.sock").string();
    replace_all(config, "/run/haproxy/admin.sock", admin);
    for (const auto& [from, to] : std::vector<std::pair<std::string, std::uint16_t>>{
             {"18080", a.ports["http"]}, {"18025", a.ports["smtp"]}, {"18023", a.ports["chat"]},
             {"28080", b.ports["http"]}, {"28025", b.ports["smtp"]}, {"28023", b.ports["chat"]},
             {"8080", front_http}, {"8025", front_smtp}, {"8023", front_chat}}) {
        replace_all(config, "127.0.0.1:" + from, "127.0.0.1:" + std::to_string(to));
        replace_all(config, "port " + from + " ", "port " + std::to_string(to) + " ");
    }
    std::ofstream(base / "haproxy.cfg") << config;
    child_process haproxy({"/bin/sh", "-c", "exec haproxy -db -f " + (base / "haproxy.cfg").string() + " 2>&1"});
    const std::vector<std::string> all_servers{"asynchat_http/a", "asynchat_http/b", "asynchat_smtp/a",
                                               "asynchat_smtp/b", "asynchat_chat/a", "asynchat_chat/b"};
    BOOST_REQUIRE_MESSAGE(wait_for(admin, all_servers, "UP"), "HAProxy never saw both instances up");

    // curl from 127.0.0.2: both instances serve (round robin), and log the client HAProxy's header named.
    const std::string url = "http://127.0.0.1:" + std::to_string(front_http) + "/a.txt";
    for (int i = 0; i < 6; ++i) {
        const auto r = run_program({"curl", "-sS", "--interface", "127.0.0.2", url});
        BOOST_TEST(r.out == "hello\n", r.err);
    }
    // smtplib from 127.0.0.2: the message's Received line names it.
    const auto mail = run_program(
        {"/usr/bin/python3", "-c",
         "import smtplib,sys\n"
         "with smtplib.SMTP('127.0.0.1', " + std::to_string(front_smtp) + ", source_address=('127.0.0.2', 0)) as s:\n"
         "    s.sendmail('a@x', ['b@y'], 'Subject: via haproxy\\r\\n\\r\\nbody\\r\\n')\n"});
    BOOST_TEST(exit_code(mail) == 0, mail.err);
    // Two chat members from 127.0.0.2 (balance source: the same instance, the same room) talk.
    {
        auto alice = connect_from_dot_two(front_chat), bob = connect_from_dot_two(front_chat);
        BOOST_TEST(read_line(alice.get()).starts_with("HELLO guest-"));
        BOOST_TEST(read_line(bob.get()).starts_with("HELLO guest-"));
        send_all(alice.get(), "NICK alice\n");
        BOOST_TEST(read_line(alice.get()) == "OK alice");
        send_all(alice.get(), "hi through haproxy\n");
        BOOST_TEST(read_line(bob.get()) == "<alice> hi through haproxy");
    }
    // Every line is in the logs once each instance has written its buffer (within 200 ms; polled).
    const auto dot_two_lines = [&] {
        std::size_t n = 0;
        for (const auto* i : {&a, &b}) {
            const std::string log = slurp(i->dir / "access.log");
            for (std::size_t at = 0; (at = log.find("\n127.0.0.2 - - [", at)) != std::string::npos; ++at) ++n;
            n += log.starts_with("127.0.0.2 - - [");
        }
        return n;
    };
    for (int i = 0; i < 100 && dot_two_lines() < 6; ++i) ::usleep(50000);
    BOOST_TEST(dot_two_lines() == 6u);
    std::string stored;
    for (int i = 0; i < 100 && stored.empty(); ++i) {
        for (const auto* inst : {&a, &b})
            if (fs::is_directory(inst->dir / "mail" / "new"))
                for (const auto& e : fs::directory_iterator(inst->dir / "mail" / "new")) stored = slurp(e.path());
        if (stored.empty()) ::usleep(50000);
    }
    BOOST_TEST(stored.find("\r\nReceived: from ") != std::string::npos, stored);
    BOOST_TEST(stored.find(" ([127.0.0.2]) by ") != std::string::npos, stored);

    // Instance a killed: HAProxy's checks take it out of every backend, and no request fails after.
    a.proc->send_signal(SIGKILL);
    a.proc->wait();
    BOOST_REQUIRE(wait_for(admin, {"asynchat_http/a", "asynchat_smtp/a", "asynchat_chat/a"}, "DOWN"));
    int failed = 0;
    for (int i = 0; i < 20; ++i) failed += run_program({"curl", "-sS", "--interface", "127.0.0.2", url}).out != "hello\n";
    BOOST_TEST(failed == 0);

    // Instance b draining (SIGTERM, --drain-delay 3): it answers /readyz 503 on a direct connection, and HAProxy
    // takes it out while it is still serving; then it exits 0.
    b.proc->send_signal(SIGTERM);
    std::string readyz;
    for (int i = 0; i < 100 && readyz.find(" 503 ") == std::string::npos; ++i) {
        auto direct = connect_loopback(b.ports["http"]);
        send_all(direct.get(), "PROXY TCP4 192.0.2.1 127.0.0.1 1234 80\r\nGET /readyz HTTP/1.0\r\n\r\n");
        readyz = recv_exact(direct.get(), 4096);
        if (readyz.find(" 503 ") == std::string::npos) ::usleep(20000);
    }
    BOOST_TEST(readyz.starts_with("HTTP/1.0 503 "), readyz);
    BOOST_TEST(wait_for(admin, {"asynchat_http/b"}, "DOWN"));
    const auto status = b.proc->wait();
    BOOST_REQUIRE(status);
    BOOST_TEST(WIFEXITED(*status));
    BOOST_TEST(WEXITSTATUS(*status) == 0);
    haproxy.send_signal(SIGTERM);
    haproxy.wait();
    fs::remove_all(base);
}

BOOST_AUTO_TEST_SUITE_END()
