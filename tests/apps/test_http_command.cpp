// `asynchat serve http` and `asynchat get`, run as a user runs them: the server spawned with --port 0 on every
// backend, then spoken to by real clients over loopback — curl, Python's http.client (and a raw socket for
// pipelining), ApacheBench and wrk — and `asynchat get` against it and against tiny misbehaving servers. A test
// whose tool is not installed says so and passes without running it.
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "program_support.hpp"
#include "http_test_util.hpp"
#include "test_support.hpp"

#ifndef ASYNCHAT_PATH
#error "ASYNCHAT_PATH must name the asynchat binary"
#endif

namespace bdata = boost::unit_test::data;
using namespace program_test;

namespace http_command_tests {

// `asynchat serve http --root ROOT --port 0 --backend BACKEND`, running, with the port it announced.
class http_server {
public:
    http_server(const std::filesystem::path& root, const std::string& backend, std::vector<std::string> extra = {})
        : process_(command(root, backend, extra)) {
        const auto line = process_.read_line();
        BOOST_REQUIRE_MESSAGE(line, "asynchat serve http printed no first line");
        port_ = parse_listening_port(*line);
    }
    std::uint16_t port() const noexcept { return port_; }
    std::string url(std::string_view path) const { return "http://127.0.0.1:" + std::to_string(port_) + std::string(path); }
    // SIGTERM, and exit status 0 required: a sanitizer report or a crash fails the test whose traffic caused it.
    void stop() {
        process_.send_signal(SIGTERM);
        const auto status = process_.wait();
        BOOST_REQUIRE_MESSAGE(status, "asynchat still running after SIGTERM");
        BOOST_TEST_REQUIRE(WIFEXITED(*status), "asynchat was killed by signal " << WTERMSIG(*status));
        BOOST_TEST(WEXITSTATUS(*status) == 0);
    }

private:
    static std::vector<std::string> command(const std::filesystem::path& root, const std::string& backend,
                                            const std::vector<std::string>& extra) {
        std::vector<std::string> argv{ASYNCHAT_PATH, "serve", "http", "--root", root.string(), "--port", "0",
                                      "--backend", backend};
        argv.insert(argv.end(), extra.begin(), extra.end());
        return argv;
    }
    child_process process_;
    std::uint16_t port_ = 0;
};

command_result get(const std::string& url, const std::string& backend) {
    return run_program({ASYNCHAT_PATH, "get", url, "--backend", backend});
}

struct served {
    http_test::site site;
    std::string backend;
    http_server server;
    explicit served(const std::string& b, std::vector<std::string> extra = {})
        : backend(b), server(site.root, b, std::move(extra)) {}
};

BOOST_AUTO_TEST_SUITE(curl_suite)

BOOST_DATA_TEST_CASE(keep_alive_reuses_one_connection, bdata::make(test_support::backends()), backend) {
    REQUIRE_TOOL("curl");
    served s(backend);
    const auto r = run_program({"curl", "-sv", "-H", "Connection: keep-alive", "-w", " connects=%{num_connects}\n",
                                s.server.url("/a.txt"), s.server.url("/sub/")});
    BOOST_TEST(exit_code(r) == 0, r.err);
    // The second transfer made no new connection.
    BOOST_TEST(r.out == "hello\n connects=1\n<p>sub</p>\n connects=0\n");
    BOOST_TEST(r.err.find("Re-using existing connection") != std::string::npos, r.err);
    s.server.stop();
}

BOOST_DATA_TEST_CASE(head_with_dash_i, bdata::make(test_support::backends()), backend) {
    REQUIRE_TOOL("curl");
    served s(backend);
    const auto r = run_program({"curl", "-sI", s.server.url("/big.bin")});
    BOOST_TEST(exit_code(r) == 0, r.err);
    BOOST_TEST(r.out.starts_with("HTTP/1.0 200 OK\r\n"), r.out);
    BOOST_TEST(r.out.find("\r\nContent-Length: 100000\r\n") != std::string::npos, r.out);
    BOOST_TEST(r.out.ends_with("\r\n\r\n"), r.out); // the headers and nothing else
    s.server.stop();
}

BOOST_DATA_TEST_CASE(not_modified_with_dash_z, bdata::make(test_support::backends()), backend) {
    REQUIRE_TOOL("curl");
    served s(backend);
    // -z FILE sends If-Modified-Since with FILE's modification time: the served file itself, so not modified.
    const auto same = run_program({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-z",
                                   (s.site.root / "a.txt").string(), s.server.url("/a.txt")});
    BOOST_TEST(same.out == "304");
    const auto older = run_program({"curl", "-s", "-w", " %{http_code}", "-z", "Sun, 06 Nov 1994 08:49:37 GMT",
                                    s.server.url("/a.txt")});
    BOOST_TEST(older.out == "hello\n 200");
    s.server.stop();
}

BOOST_DATA_TEST_CASE(traversal_with_path_as_is, bdata::make(test_support::backends()), backend) {
    REQUIRE_TOOL("curl");
    served s(backend);
    for (const char* target : {"/../outside/secret.txt", "/%2e%2e/outside/secret.txt", "/..%2foutside%2fsecret.txt",
                               "/sub/../../outside/secret.txt", "/evil", "/evildir/secret.txt", "/a.txt%00"}) {
        const auto r = run_program({"curl", "-s", "--path-as-is", "-w", "\n%{http_code}", s.server.url(target)});
        const std::string code = r.out.substr(r.out.rfind('\n') + 1);
        BOOST_TEST((code == "403" || code == "404"), target << " -> " << code);
        BOOST_TEST(r.out.find(http_test::secret_marker) == std::string::npos, target);
    }
    s.server.stop();
}

BOOST_DATA_TEST_CASE(post_echo, bdata::make(test_support::backends()), backend) {
    REQUIRE_TOOL("curl");
    served s(backend);
    s.site.dir.write("upload.bin", s.site.big);
    const auto r = run_program({"curl", "-s", "--data-binary", "@" + (s.site.dir.path() / "upload.bin").string(),
                                s.server.url("/echo")});
    BOOST_TEST(exit_code(r) == 0, r.err);
    BOOST_TEST((r.out == s.site.big));
    s.server.stop();
}

BOOST_AUTO_TEST_SUITE_END()

// Python's http.client over one kept-alive connection, then two requests pipelined on a raw socket in one send.
const char* python_client = R"PY(
import http.client, socket, sys
port = int(sys.argv[1])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
c.request("GET", "/a.txt")
r1 = c.getresponse(); b1 = r1.read(); sock1 = c.sock
c.request("POST", "/echo", body=b"ping pong")
r2 = c.getresponse(); b2 = r2.read()
assert r1.status == 200 and b1 == b"hello\n", (r1.status, b1)
assert r2.status == 200 and b2 == b"ping pong", (r2.status, b2)
assert sock1 is not None and c.sock is sock1, "http.client opened a second connection"
print("keep-alive ok")
s = socket.create_connection(("127.0.0.1", port), timeout=20)
s.sendall(b"GET /sub/ HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk: break
    data += chunk
first = data.find(b"<p>sub</p>"); second = data.find(b"hello\n")
assert data.count(b"HTTP/1.0 200 OK\r\n") == 2 and 0 < first < second, data
print("pipelining ok")
big = open(sys.argv[2], "rb").read()
for half_close in (False, True):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n" * 2 +
              b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    if half_close: s.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk: break
        data += chunk
    assert data.count(b"HTTP/1.0 200 OK\r\n") == 3, data[:300]
    assert data.count(big) == 2 and data.endswith(b"\r\n\r\nhello\n"), len(data)
print("pipelined files ok")
)PY";

BOOST_DATA_TEST_CASE(python_http_client_keep_alive_and_pipelining, bdata::make(test_support::backends()), backend) {
    REQUIRE_TOOL("python3");
    served s(backend);
    const auto r = run_program(
        {"python3", "-c", python_client, std::to_string(s.server.port()), (s.site.root / "big.bin").string()});
    BOOST_TEST(exit_code(r) == 0, r.err);
    BOOST_TEST(r.out == "keep-alive ok\npipelining ok\npipelined files ok\n", r.err);
    s.server.stop();
}

BOOST_DATA_TEST_CASE(apache_bench_keep_alive, bdata::make(test_support::backends()), backend) {
    REQUIRE_TOOL("ab");
    served s(backend);
    const auto r = run_program({"ab", "-q", "-k", "-n", "200", "-c", "4", s.server.url("/a.txt")});
    BOOST_TEST(exit_code(r) == 0, r.err);
    BOOST_TEST(r.out.find("Complete requests:      200\n") != std::string::npos, r.out);
    BOOST_TEST(r.out.find("Failed requests:        0\n") != std::string::npos, r.out);
    BOOST_TEST(r.out.find("Keep-Alive requests:    200\n") != std::string::npos, r.out);
    s.server.stop();
}

BOOST_DATA_TEST_CASE(wrk_keep_alive, bdata::make(test_support::backends()), backend) {
    REQUIRE_TOOL("wrk");
    served s(backend);
    const auto r = run_program({"wrk", "-t1", "-c4", "-d1s", s.server.url("/a.txt")});
    BOOST_TEST(exit_code(r) == 0, r.err);
    BOOST_TEST(r.out.find(" requests in ") != std::string::npos, r.out);
    BOOST_TEST(r.out.find("Socket errors") == std::string::npos, r.out);
    BOOST_TEST(r.out.find("Non-2xx") == std::string::npos, r.out);
    s.server.stop();
}

BOOST_AUTO_TEST_SUITE(get_suite)

BOOST_DATA_TEST_CASE(get_writes_the_body_and_exits_0, bdata::make(test_support::backends()), backend) {
    served s(backend);
    const auto small = get(s.server.url("/a.txt"), backend);
    BOOST_TEST(exit_code(small) == 0, small.err);
    BOOST_TEST(small.out == "hello\n");
    const auto big = get(s.server.url("/big.bin?x=1"), backend);
    BOOST_TEST(exit_code(big) == 0, big.err);
    BOOST_TEST((big.out == s.site.big));
    s.server.stop();
}

BOOST_DATA_TEST_CASE(get_over_ipv6, bdata::make(test_support::backends()), backend) {
    http_test::site site;
    child_process server({ASYNCHAT_PATH, "serve", "http", "--root", site.root.string(), "--host", "::1", "--port", "0",
                          "--backend", backend});
    const auto line = server.read_line();
    BOOST_TEST_REQUIRE(line.has_value());
    BOOST_TEST_REQUIRE(line->starts_with("listening on [::1]:"), *line);
    const std::string port = line->substr(line->rfind(':') + 1);
    const auto r = get("http://[::1]:" + port + "/sub/", backend);
    BOOST_TEST(exit_code(r) == 0, r.err);
    BOOST_TEST(r.out == "<p>sub</p>\n");
}

BOOST_DATA_TEST_CASE(get_head_and_redirects, bdata::make(test_support::backends()), backend) {
    served s(backend);
    const auto head = run_program({ASYNCHAT_PATH, "get", "--head", s.server.url("/big.bin"), "--backend", backend});
    BOOST_TEST(exit_code(head) == 0, head.err);
    BOOST_TEST(head.out.empty());
    // Redirects are not followed: a 301 is not a 2xx.
    const auto moved = get(s.server.url("/sub"), backend);
    BOOST_TEST(exit_code(moved) == 1);
    BOOST_TEST(moved.err.find("301 Moved Permanently") != std::string::npos, moved.err);
    s.server.stop();
}

BOOST_DATA_TEST_CASE(get_of_a_404_exits_1, bdata::make(test_support::backends()), backend) {
    served s(backend);
    const auto r = get(s.server.url("/missing"), backend);
    BOOST_TEST(exit_code(r) == 1);
    BOOST_TEST(r.err.find("404 Not Found") != std::string::npos, r.err);
    s.server.stop();
}

BOOST_DATA_TEST_CASE(get_of_a_refused_port_exits_1, bdata::make(test_support::backends()), backend) {
    auto [held, port] = refusing_port();
    const auto r = get("http://127.0.0.1:" + std::to_string(port) + "/", backend);
    BOOST_TEST(exit_code(r) == 1);
    BOOST_TEST(r.err.find("refused") != std::string::npos, r.err);
}

// A server that promises more than it sends, then closes: the body is cut short.
BOOST_DATA_TEST_CASE(get_of_a_body_cut_short_exits_1, bdata::make(test_support::backends()), backend) {
    auto [listener, port] = listen_loopback();
    std::thread peer([l = listener.get()] {
        fd conn(::accept(l, nullptr, nullptr));
        if (!conn) return;
        char buf[4096];
        (void)::recv(conn.get(), buf, sizeof buf, 0); // the request (small enough for one read)
        send_all(conn.get(), "HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\nonly this");
    });
    const auto r = get("http://127.0.0.1:" + std::to_string(port) + "/", backend);
    peer.join();
    BOOST_TEST(exit_code(r) == 1);
    BOOST_TEST(r.out == "only this");
    BOOST_TEST(r.err.find("91 bytes") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(get_with_a_bad_url_exits_2_with_one_line) {
    for (const char* url : {"ftp://x/", "http://[::1/", "http://host:99999/", "not a url"}) {
        const auto r = run_program({ASYNCHAT_PATH, "get", url});
        BOOST_TEST(exit_code(r) == 2, url);
        BOOST_TEST(r.out.empty());
        BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1, r.err);
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(serve_http_options)

BOOST_AUTO_TEST_CASE(a_missing_or_unreadable_root_exits_2_naming_the_option) {
    http_test::temp_dir dir;
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"serve", "http"},
          std::vector<std::string>{"serve", "http", "--root", (dir.path() / "nope").string()},
          std::vector<std::string>{"serve", "http", "--root", "/etc/passwd"}}) {
        std::vector<std::string> argv{ASYNCHAT_PATH};
        argv.insert(argv.end(), args.begin(), args.end());
        const auto r = run_program(argv);
        BOOST_TEST(exit_code(r) == 2);
        BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1, r.err);
        BOOST_TEST(r.err.find("--root") != std::string::npos, r.err);
    }
}

BOOST_DATA_TEST_CASE(an_idle_connection_is_closed, bdata::make(test_support::backends()), backend) {
    served s(backend, {"--idle-timeout", "0.2"});
    auto sock = connect_loopback(s.server.port());
    // Nothing sent: the server closes it after 0.2 s; the read's own timeout is the hang guard.
    BOOST_TEST(recv_eof(sock.get()));
    // A connection in use is not closed while it works.
    auto busy = connect_loopback(s.server.port());
    BOOST_TEST(send_all(busy.get(), "GET /a.txt HTTP/1.0\r\n\r\n"));
    const std::string reply = recv_exact(busy.get(), 1 << 16);
    BOOST_TEST(reply.ends_with("\r\n\r\nhello\n"));
    s.server.stop();
}

BOOST_DATA_TEST_CASE(limits_from_the_command_line, bdata::make(test_support::backends()), backend) {
    served s(backend, {"--max-body", "4"});
    auto sock = connect_loopback(s.server.port());
    BOOST_TEST(send_all(sock.get(), "POST /echo HTTP/1.0\r\nContent-Length: 5\r\n\r\n"));
    const std::string reply = recv_exact(sock.get(), 1 << 16); // until the close
    BOOST_TEST(reply.starts_with("HTTP/1.0 413 "), reply);
    s.server.stop();
}

BOOST_AUTO_TEST_SUITE_END()

} // namespace http_command_tests
