// DispatcherTests and DispatcherWithSendTests of CPython's test_asyncore.py.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <asyncore/asyncore.hpp>

#include "test_support.hpp"

namespace bdata = boost::unit_test::data;
using namespace std::chrono_literals;

namespace {

// Python's support.captured_stdout/captured_stderr. The capture is at the file-descriptor level, so it sees
// the output however the library writes it (iostreams, stdio or write(2)). No Boost.Test assertion may run
// while a capture is active: its report would be captured too.
class captured_output {
public:
    explicit captured_output(int fd) : fd_(fd) {
        flush_streams();
        file_ = std::tmpfile();
        if (!file_) throw std::runtime_error("tmpfile failed");
        saved_ = ::dup(fd_);
        ::dup2(::fileno(file_), fd_);
    }
    ~captured_output() {
        restore();
        std::fclose(file_);
    }
    captured_output(const captured_output&) = delete;
    captured_output& operator=(const captured_output&) = delete;

    // Ends the capture and returns what was written, split into lines (as Python's splitlines()).
    std::vector<std::string> lines() {
        restore();
        std::string text;
        std::rewind(file_);
        char buf[4096];
        for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, file_)) > 0;) text.append(buf, n);
        std::vector<std::string> result;
        std::istringstream in(text);
        for (std::string line; std::getline(in, line);) result.push_back(line);
        return result;
    }

private:
    static void flush_streams() {
        std::cout.flush();
        std::cerr.flush();
        std::clog.flush();
        std::fflush(stdout);
        std::fflush(stderr);
    }
    void restore() {
        if (saved_ < 0) return;
        flush_streams();
        ::dup2(saved_, fd_);
        ::close(saved_);
        saved_ = -1;
    }
    int fd_;
    int saved_ = -1;
    std::FILE* file_ = nullptr;
};

std::string pointer_text(const void* p) {
    std::ostringstream os;
    os << p;
    return os.str();
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

using lines_t = std::vector<std::string>;

} // namespace

BOOST_AUTO_TEST_SUITE(DispatcherTests)

BOOST_AUTO_TEST_CASE(basic) {
    asyncore::dispatcher d;
    BOOST_TEST(d.readable());
    BOOST_TEST(d.writable());
}

BOOST_AUTO_TEST_CASE(repr) {
    asyncore::dispatcher d;
    BOOST_TEST(d.repr() == "<asyncore::dispatcher at " + pointer_text(&d) + ">");
}

namespace {
class named_channel : public asyncore::dispatcher {
public:
    using dispatcher::dispatcher;
};
} // namespace

// Python's repr also names a subclass, and says "listening ADDR" for a bound listener and "connected" for a
// connected channel; the Python test only checks the bare case.
BOOST_AUTO_TEST_CASE(repr_states) {
    asyncore::socket_map map;

    auto listener = asyncore::make<named_channel>(&map);
    listener->create_socket(AF_INET);
    listener->bind(asyncore::address::ipv4("127.0.0.1", 0));
    listener->listen(5);
    const std::string listening = listener->repr();
    BOOST_TEST_INFO("repr = " << listening);
    BOOST_TEST(contains(listening, "named_channel listening " + listener->addr()->to_string() + " at " +
                                       pointer_text(listener.get()) + ">"));

    int fds[2];
    BOOST_REQUIRE_EQUAL(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    asyncore::socket peer = asyncore::socket::adopt(fds[1]);
    auto connected = asyncore::make<named_channel>(asyncore::socket::adopt(fds[0]), &map);
    BOOST_REQUIRE(connected->connected());
    const std::string text = connected->repr();
    BOOST_TEST_INFO("repr = " << text);
    BOOST_TEST(contains(text, "named_channel connected "));
    BOOST_TEST_INFO("repr = " << text);
    BOOST_TEST(contains(text, " at " + pointer_text(connected.get()) + ">"));
}

BOOST_AUTO_TEST_CASE(log) {
    asyncore::dispatcher d;
    const std::string l1 = "Lovely spam! Wonderful spam!";
    const std::string l2 = "I don't like spam!";
    lines_t lines;
    {
        captured_output stderr_capture(STDERR_FILENO);
        d.log(l1);
        d.log(l2);
        lines = stderr_capture.lines();
    }
    BOOST_TEST(lines == (lines_t{"log: " + l1, "log: " + l2}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(log_info) {
    asyncore::dispatcher d;
    const std::string l1 = "Have you got anything without spam?";
    const std::string l2 = "Why can't she have egg bacon spam and sausage?";
    const std::string l3 = "THAT'S got spam in it!";
    lines_t lines;
    {
        captured_output log_capture(STDERR_FILENO); // Python: stdout; here the log facility, stderr
        d.log_info(l1, "EGGS");
        d.log_info(l2);
        d.log_info(l3, "SPAM");
        // "warning" is in ignore_log_types by default (Python's class attribute).
        d.log_info("not printed", "warning");
        lines = log_capture.lines();
    }
    BOOST_TEST(lines == (lines_t{"EGGS: " + l1, "info: " + l2, "SPAM: " + l3}), boost::test_tools::per_element());
}

// What the four default handlers log (Python's test_unhandled calls them in this order).
lines_t unhandled_output(asyncore::dispatcher& d) {
    captured_output log_capture(STDERR_FILENO); // Python: stdout; here the log facility, stderr
    d.handle_expt();
    d.handle_read();
    d.handle_write();
    d.handle_connect();
    return log_capture.lines();
}

BOOST_AUTO_TEST_CASE(unhandled) {
    asyncore::dispatcher d;
    d.ignore_log_types.clear();
    const lines_t lines = unhandled_output(d);
    const lines_t expected = {"warning: unhandled incoming priority event", "warning: unhandled read event",
                              "warning: unhandled write event", "warning: unhandled connect event"};
    BOOST_TEST(lines == expected, boost::test_tools::per_element());
}

// With the default ignore_log_types the same calls print nothing: Python hides "warning" messages.
BOOST_AUTO_TEST_CASE(unhandled_quiet_by_default) {
    asyncore::dispatcher d;
    const lines_t lines = unhandled_output(d);
    BOOST_TEST(lines.empty(), "printed: " << (lines.empty() ? "" : lines.front()));
}

// The other default handlers of Python's dispatcher: handle_accepted closes the socket it is given,
// handle_close closes the channel, handle_error logs the exception and closes; each says so in a log line.
BOOST_AUTO_TEST_CASE(unhandled_accepted_close_error) {
    asyncore::socket_map map;
    int fds[2];

    BOOST_REQUIRE_EQUAL(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    asyncore::socket accepted_peer = asyncore::socket::adopt(fds[1]);
    auto d = asyncore::make<asyncore::dispatcher>(&map);
    d->ignore_log_types.clear();
    lines_t accepted_lines;
    {
        captured_output log_capture(STDERR_FILENO); // Python: stdout; here the log facility, stderr
        d->handle_accepted(asyncore::socket::adopt(fds[0]), asyncore::address());
        accepted_lines = log_capture.lines();
    }
    BOOST_TEST(accepted_lines == lines_t{"warning: unhandled accepted event"}, boost::test_tools::per_element());
    char c;
    BOOST_TEST(accepted_peer.recv_some(&c, 1) == 0, "the accepted socket was not closed");

    BOOST_REQUIRE_EQUAL(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    asyncore::socket close_peer = asyncore::socket::adopt(fds[1]);
    auto closing = asyncore::make<asyncore::dispatcher>(asyncore::socket::adopt(fds[0]), &map);
    closing->ignore_log_types.clear();
    lines_t close_lines;
    {
        captured_output log_capture(STDERR_FILENO); // Python: stdout; here the log facility, stderr
        closing->handle_close();
        close_lines = log_capture.lines();
    }
    BOOST_TEST(close_lines == lines_t{"warning: unhandled close event"}, boost::test_tools::per_element());
    BOOST_TEST(map.get(fds[0]) == nullptr);
    BOOST_TEST(!closing->sock().valid());

    BOOST_REQUIRE_EQUAL(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    asyncore::socket error_peer = asyncore::socket::adopt(fds[1]);
    auto failing = asyncore::make<asyncore::dispatcher>(asyncore::socket::adopt(fds[0]), &map);
    failing->ignore_log_types.clear();
    lines_t error_lines;
    {
        captured_output log_capture(STDERR_FILENO); // Python: stdout; here the log facility, stderr
        try {
            throw std::runtime_error("boom");
        } catch (...) {
            failing->handle_error();
        }
        error_lines = log_capture.lines();
    }
    BOOST_REQUIRE_EQUAL(error_lines.size(), 2u);
    BOOST_TEST(error_lines[0].rfind("error: ", 0) == 0u, "first line: " << error_lines[0]);
    BOOST_TEST(contains(error_lines[0], "boom"), "first line: " << error_lines[0]);
    BOOST_TEST(error_lines[1] == "warning: unhandled close event");
    BOOST_TEST(!failing->sock().valid());
    BOOST_TEST(map.empty());
}

BOOST_AUTO_TEST_CASE(strerror) {
    // CPython bug #8573: _strerror must work for every value.
    BOOST_TEST(asyncore::strerror(EPERM) == std::string(std::strerror(EPERM)));
    BOOST_TEST(!asyncore::strerror(-1).empty());
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

// Python's dispatcherwithsend_noread.
class dispatcherwithsend_noread : public asyncore::dispatcher_with_send {
public:
    using dispatcher_with_send::dispatcher_with_send;
    bool readable() override { return false; }
    void handle_connect() override {}
    void handle_error() override {
        errors.push_back(asyncore::compact_exception());
        close();
    }
    std::vector<std::string> errors;
};

// Python's capture_server: accepts one connection on a plain socket and collects what arrives until a newline
// (which it drops). Gives up after a few seconds without progress so that a broken sender fails the test
// instead of hanging it.
std::string capture_server(asyncore::socket& serv) {
    constexpr int patience_ms = 5000;
    pollfd p{serv.fileno(), POLLIN, 0};
    if (::poll(&p, 1, patience_ms) != 1) return "<no connection>";
    auto accepted = serv.accept();
    if (!accepted) return "<accept failed>";
    asyncore::socket& conn = accepted->first;
    std::string buf;
    while (buf.find('\n') == std::string::npos) {
        pollfd q{conn.fileno(), POLLIN, 0};
        if (::poll(&q, 1, patience_ms) != 1) break;
        char data[10];
        auto n = conn.recv_some(data, sizeof data);
        if (n <= 0) break;
        buf.append(data, static_cast<std::size_t>(n));
    }
    std::erase(buf, '\n');
    return buf;
}

} // namespace

BOOST_AUTO_TEST_SUITE(DispatcherWithSendTests)

BOOST_DATA_TEST_CASE(send, bdata::make(test_support::backends()), backend) {
    asyncore::socket serv(AF_INET, SOCK_STREAM);
    serv.bind(asyncore::address::ipv4("127.0.0.1", 0));
    serv.listen(5);
    const asyncore::address server_address = serv.getsockname();

    std::string captured;
    std::jthread t([&] { captured = capture_server(serv); });

    asyncore::socket_map map;
    const std::string data = "Suppose there isn't a 16-ton weight?";
    auto d = asyncore::make<dispatcherwithsend_noread>(&map);
    d->create_socket();
    d->connect(server_address);

    // Sent before the connection is up: all of it must be queued, none lost.
    BOOST_TEST(d->send(data) == data.size());
    BOOST_TEST(d->send(data) == data.size());
    BOOST_TEST(d->send("\n") == 1u);

    for (int n = 1000; !d->out_buffer().empty() && n > 0; --n) map.run_pass(10ms, backend);
    BOOST_TEST(d->out_buffer().empty(), "still queued: " << d->out_buffer().size() << " bytes");
    BOOST_TEST(d->errors.empty(), "handle_error: " << (d->errors.empty() ? "" : d->errors.front()));

    t.join();
    BOOST_TEST(captured == data + data);
}

BOOST_AUTO_TEST_SUITE_END()
