// FileWrapperTest of CPython's test_asyncore.py: file_wrapper over a regular file, and file_dispatcher reading
// a file and a pipe.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

#include <fcntl.h>
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

// Python's setUp/tearDown: a file holding d, removed afterwards.
struct file_fixture {
    const std::string d = "It's not dead, it's sleeping!";
    std::filesystem::path path;

    file_fixture() {
        static std::atomic<int> counter{0};
        path = std::filesystem::temp_directory_path() /
               ("asynchat-test-file-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::ofstream(path, std::ios::binary) << d;
    }
    ~file_fixture() { std::filesystem::remove(path); }

    int open_fd(int flags) const {
        int fd = ::open(path.c_str(), flags | O_CLOEXEC);
        BOOST_REQUIRE_MESSAGE(fd >= 0, "open " << path << ": " << std::strerror(errno));
        return fd;
    }
    std::string contents() const {
        std::ifstream in(path, std::ios::binary);
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }
};

bool fd_is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

bool is_ebadf(const std::system_error& e) { return e.code().value() == EBADF; }

// Python's FileDispatcher in test_dispatcher: reads in chunks of 29 bytes.
class file_reader : public asyncore::file_dispatcher {
public:
    using file_dispatcher::file_dispatcher;
    void handle_read() override { data += recv(29); }
    void handle_error() override {
        errors.push_back(asyncore::compact_exception());
        close();
    }
    std::string data;
    std::vector<std::string> errors;
};

// Reads a pipe until the writer goes away.
class pipe_reader : public asyncore::file_dispatcher {
public:
    using file_dispatcher::file_dispatcher;
    void handle_read() override { data += recv(64); }
    void handle_close() override {
        closed = true;
        close();
    }
    void handle_error() override {
        errors.push_back(asyncore::compact_exception());
        close();
    }
    std::string data;
    bool closed = false;
    std::vector<std::string> errors;
};

std::string first_or_empty(const std::vector<std::string>& v) { return v.empty() ? "" : v.front(); }

} // namespace

BOOST_FIXTURE_TEST_SUITE(FileWrapperTest, file_fixture)

BOOST_AUTO_TEST_CASE(recv) {
    int fd = open_fd(O_RDONLY);
    asyncore::file_wrapper w(fd);
    ::close(fd);

    BOOST_TEST(w.fileno() != fd);
    BOOST_TEST(w.recv(13) == "It's not dead");
    char buf[6];
    BOOST_REQUIRE_EQUAL(w.read(buf, 6), 6);
    BOOST_TEST(std::string(buf, 6) == ", it's");
    w.close();

    // Python's w.read(1) raises OSError once closed; the raw read reports it with -1/errno, recv() throws.
    errno = 0;
    const auto n = w.read(buf, 1);
    const int err = errno;
    BOOST_TEST(n == -1);
    BOOST_TEST(err == EBADF);
    BOOST_CHECK_THROW(w.recv(1), std::system_error);
}

BOOST_AUTO_TEST_CASE(send) {
    const std::string d1 = "Come again?";
    const std::string d2 = "I want to buy some cheese.";
    int fd = open_fd(O_WRONLY | O_APPEND);
    asyncore::file_wrapper w(fd);
    ::close(fd);

    BOOST_TEST(w.write(d1.data(), d1.size()) == static_cast<std::ptrdiff_t>(d1.size()));
    BOOST_TEST(w.send(d2) == d2.size());
    w.close();
    BOOST_TEST(contents() == d + d1 + d2);
}

// What lets a dispatcher's connect logic run over a file: SO_ERROR always reads 0.
BOOST_AUTO_TEST_CASE(getsockopt_so_error) {
    int fd = open_fd(O_RDONLY);
    asyncore::file_wrapper w(fd);
    ::close(fd);
    BOOST_TEST(w.getsockopt_int(SOL_SOCKET, SO_ERROR) == 0);
}

// Python's test_dispatcher, as written there: the poll backend, two passes.
BOOST_AUTO_TEST_CASE(dispatcher) {
    asyncore::socket_map map;
    int fd = open_fd(O_RDONLY);
    auto s = asyncore::make<file_reader>(fd, &map);
    ::close(fd);

    asyncore::loop(0.01, true, &map, 2);
    BOOST_TEST(s->data == d);
    BOOST_TEST(s->errors.empty(), "handle_error: " << first_or_empty(s->errors));
    // The second pass read EOF, which closes the channel (default handle_close).
    BOOST_TEST(map.empty());
}

// The same over every backend: a regular file is always ready, as stdin redirected from a file is.
BOOST_DATA_TEST_CASE(dispatcher_every_backend, bdata::make(test_support::backends()), backend) {
    asyncore::socket_map map;
    int fd = open_fd(O_RDONLY);
    auto s = asyncore::make<file_reader>(fd, &map);
    ::close(fd);

    asyncore::loop({.timeout = 10ms, .backend = backend, .map = &map, .count = 2});
    BOOST_TEST(s->data == d);
    BOOST_TEST(s->errors.empty(), "handle_error: " << first_or_empty(s->errors));
    BOOST_TEST(map.empty());
}

// Python's test_resource_warning warns about an unclosed file_wrapper; in C++ the destructor closes it.
BOOST_AUTO_TEST_CASE(destructor_closes) {
    int fd = open_fd(O_RDONLY);
    int dup_fd;
    {
        asyncore::file_wrapper f(fd);
        dup_fd = f.fileno();
        BOOST_REQUIRE(fd_is_open(dup_fd));
    }
    BOOST_TEST(!fd_is_open(dup_fd));
    BOOST_TEST(fd_is_open(fd), "the caller's descriptor must stay open");
    ::close(fd);
}

BOOST_AUTO_TEST_CASE(close_twice) {
    int fd = open_fd(O_RDONLY);
    asyncore::file_wrapper f(fd);
    ::close(fd);

    ::close(f.fileno()); // behind the wrapper's back, so that its close(2) fails
    BOOST_CHECK_EXCEPTION(f.close(), std::system_error, is_ebadf);
    BOOST_TEST(f.fileno() == -1);
    // A second close must not fail.
    BOOST_CHECK_NO_THROW(f.close());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(FileDispatcherPipeTest)

BOOST_DATA_TEST_CASE(reads_pipe_until_eof, bdata::make(test_support::backends()), backend) {
    int fds[2];
    BOOST_REQUIRE_EQUAL(::pipe2(fds, O_CLOEXEC), 0);
    const int rfd = fds[0];
    int wfd = fds[1];

    asyncore::socket_map map;
    auto r = asyncore::make<pipe_reader>(rfd, &map);
    // The fd is dup'd: the dispatcher and the caller each own one.
    BOOST_TEST(r->fileno() != rfd);
    BOOST_TEST(r->connected());

    const std::string message = "spam, spam, spam, eggs and spam";
    BOOST_REQUIRE_EQUAL(::write(wfd, message.data(), message.size()), static_cast<ssize_t>(message.size()));
    for (int pass = 0; pass < 1000 && r->data.size() < message.size() && !map.empty(); ++pass)
        map.run_pass(10ms, backend);
    BOOST_TEST(r->data == message);
    BOOST_TEST(!r->closed);

    ::close(wfd);
    for (int pass = 0; pass < 1000 && !r->closed && !map.empty(); ++pass) map.run_pass(10ms, backend);
    BOOST_TEST(r->closed, "handle_close was not called after the writer closed the pipe");
    BOOST_TEST(map.empty());
    BOOST_TEST(r->errors.empty(), "handle_error: " << first_or_empty(r->errors));

    BOOST_TEST(fd_is_open(rfd), "the caller's descriptor must stay open");
    ::close(rfd);
}

BOOST_AUTO_TEST_SUITE_END()
