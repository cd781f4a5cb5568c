// HelperFunctionTests of CPython's test_asyncore.py: the module-level event functions (read, write, exception,
// readwrite), close_all and compact_traceback (compact_exception here).
#include <cerrno>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <poll.h>
#include <sys/socket.h>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <asyncore/asyncore.hpp>

namespace bdata = boost::unit_test::data;

namespace {

// Python's dummies have no socket at all. Here each test channel owns one end of a socket pair, so that
// "has this channel been closed?" has an unambiguous answer for readwrite and close_all.
struct socket_pair {
    asyncore::socket mine;
    asyncore::socket peer;
};

socket_pair make_socket_pair() {
    int fds[2];
    BOOST_REQUIRE_EQUAL(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    return {asyncore::socket::adopt(fds[0]), asyncore::socket::adopt(fds[1])};
}

struct helper_fixture {
    asyncore::socket_map map;
    std::vector<asyncore::socket> peers;

    template <class T> asyncore::ref<T> channel() {
        auto pair = make_socket_pair();
        peers.push_back(std::move(pair.peer));
        return asyncore::make<T>(std::move(pair.mine), &map);
    }
};

// Python's exitingdummy: every handler asks to leave the loop.
class exiting_dummy : public asyncore::dispatcher {
public:
    using dispatcher::dispatcher;
    void handle_read_event() override { throw asyncore::exit_now(); }
    void handle_write_event() override { throw asyncore::exit_now(); }
    void handle_expt_event() override { throw asyncore::exit_now(); }
    void handle_close() override { throw asyncore::exit_now(); }
};

// Python's crashingdummy: every handler fails with an ordinary exception.
class crashing_dummy : public asyncore::dispatcher {
public:
    using dispatcher::dispatcher;
    void handle_read_event() override { throw std::runtime_error("crash"); }
    void handle_write_event() override { throw std::runtime_error("crash"); }
    void handle_expt_event() override { throw std::runtime_error("crash"); }
    void handle_close() override { throw std::runtime_error("crash"); }
    void handle_error() override { error_handled = true; }
    bool error_handled = false;
};

// Python's testobj in test_readwrite: records which handler ran.
class recording_channel : public asyncore::dispatcher {
public:
    using dispatcher::dispatcher;
    void handle_read_event() override { read = true; }
    void handle_write_event() override { write = true; }
    void handle_expt_event() override { expt = true; }
    void handle_close() override { closed = true; }
    void handle_error() override { error_handled = true; }
    bool read = false, write = false, expt = false, closed = false, error_handled = false;
};

struct named_event_fn {
    const char* name;
    void (*fn)(asyncore::dispatcher&);
};
const named_event_fn event_fns[] = {
    {"read", asyncore::read}, {"write", asyncore::write}, {"exception", asyncore::exception}};

struct flag_case {
    unsigned flag;
    const char* flag_name;
    const char* expected; // the recording_channel attribute that must be the only one set
};
std::ostream& operator<<(std::ostream& os, const flag_case& c) { return os << c.flag_name; }

const std::vector<flag_case> flag_cases = {
    {POLLIN, "POLLIN", "read"},     {POLLPRI, "POLLPRI", "expt"},    {POLLOUT, "POLLOUT", "write"},
    {POLLERR, "POLLERR", "closed"}, {POLLHUP, "POLLHUP", "closed"}, {POLLNVAL, "POLLNVAL", "closed"},
};

} // namespace

BOOST_AUTO_TEST_SUITE(HelperFunctionTests)

BOOST_FIXTURE_TEST_CASE(readwriteexc, helper_fixture) {
    // exit_now raised by a handler must reach the caller of read/write/exception...
    auto tr1 = channel<exiting_dummy>();
    BOOST_CHECK_THROW(asyncore::read(*tr1), asyncore::exit_now);
    BOOST_CHECK_THROW(asyncore::write(*tr1), asyncore::exit_now);
    BOOST_CHECK_THROW(asyncore::exception(*tr1), asyncore::exit_now);

    // ...while any other exception goes to the channel's handle_error and no further.
    for (const auto& f : event_fns) {
        BOOST_TEST_CONTEXT("asyncore::" << f.name) {
            auto tr2 = channel<crashing_dummy>();
            BOOST_CHECK_NO_THROW(f.fn(*tr2));
            BOOST_TEST(tr2->error_handled);
        }
    }
}

BOOST_DATA_TEST_CASE_F(helper_fixture, readwrite, bdata::make(flag_cases), c) {
    auto tobj = channel<recording_channel>();
    asyncore::readwrite(*tobj, c.flag);

    // Only the handler that belongs to the flag may have run.
    const std::string expected = c.expected;
    BOOST_TEST(tobj->read == (expected == "read"));
    BOOST_TEST(tobj->expt == (expected == "expt"));
    BOOST_TEST(tobj->write == (expected == "write"));
    BOOST_TEST(tobj->closed == (expected == "closed"));
    BOOST_TEST(!tobj->error_handled);

    auto tr1 = channel<exiting_dummy>();
    BOOST_CHECK_THROW(asyncore::readwrite(*tr1, c.flag), asyncore::exit_now);

    auto tr2 = channel<crashing_dummy>();
    BOOST_TEST(!tr2->error_handled);
    BOOST_CHECK_NO_THROW(asyncore::readwrite(*tr2, c.flag));
    BOOST_TEST(tr2->error_handled);
}

namespace {
// A handler failing with an errno: readwrite (and, in this port, read/write/exception too) must treat the
// errnos of asyncore._DISCONNECTED as the peer going away (handle_close), anything else as an error.
class errno_throwing_channel : public asyncore::dispatcher {
public:
    using dispatcher::dispatcher;
    int err = 0;
    int closes = 0, errors = 0;
    void handle_read_event() override { throw std::system_error(err, std::system_category(), "recv"); }
    void handle_close() override { ++closes; }
    void handle_error() override { ++errors; }
};
} // namespace

BOOST_FIXTURE_TEST_CASE(disconnect_errno_goes_to_handle_close, helper_fixture) {
    struct errno_case {
        int err;
        bool disconnect;
    };
    const errno_case cases[] = {{ECONNRESET, true}, {EPIPE, true},   {ENOTCONN, true},   {ESHUTDOWN, true},
                                {ECONNABORTED, true}, {EBADF, true}, {EINVAL, false}, {ENOMEM, false}};
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT("errno " << c.err << " (" << asyncore::strerror(c.err) << ")") {
            BOOST_TEST(asyncore::is_disconnect_errno(c.err) == c.disconnect);

            auto via_readwrite = channel<errno_throwing_channel>();
            via_readwrite->err = c.err;
            asyncore::readwrite(*via_readwrite, POLLIN);
            BOOST_TEST(via_readwrite->closes == (c.disconnect ? 1 : 0));
            BOOST_TEST(via_readwrite->errors == (c.disconnect ? 0 : 1));

            auto via_read = channel<errno_throwing_channel>();
            via_read->err = c.err;
            asyncore::read(*via_read);
            BOOST_TEST(via_read->closes == (c.disconnect ? 1 : 0));
            BOOST_TEST(via_read->errors == (c.disconnect ? 0 : 1));
        }
    }
}

namespace {
// Closes itself on the first event and records every handler that runs after that.
class closing_on_read : public asyncore::dispatcher {
public:
    using dispatcher::dispatcher;
    std::vector<std::string> calls;
    void handle_read_event() override {
        calls.push_back("read");
        close();
    }
    void handle_write_event() override { calls.push_back("write"); }
    void handle_expt_event() override { calls.push_back("expt"); }
    void handle_close() override { calls.push_back("close"); }
    void handle_error() override { calls.push_back("error: " + asyncore::compact_exception()); }
};

// Reads EOF (so the library runs handle_close) but leaves the channel open.
class eof_reader : public asyncore::dispatcher {
public:
    using dispatcher::dispatcher;
    int closes = 0;
    std::vector<std::string> errors;
    void handle_read() override {
        char buf[16];
        recv(buf, sizeof buf);
    }
    void handle_close() override { ++closes; }
    void handle_error() override { errors.push_back(asyncore::compact_exception()); }
};
} // namespace

// Not in Python (which would go on calling handlers of a closed object): this port stops delivering a call's
// events once a handler has closed the channel, so no handler ever runs on a closed socket.
BOOST_FIXTURE_TEST_CASE(readwrite_stops_after_close, helper_fixture) {
    auto ch = channel<closing_on_read>();
    asyncore::readwrite(*ch, POLLIN | POLLOUT | POLLPRI | POLLHUP);
    BOOST_TEST(ch->calls == std::vector<std::string>{"read"}, boost::test_tools::per_element());
    BOOST_TEST(!ch->sock().valid());
}

// handle_close is delivered at most once per socket: a recv() that saw EOF already told the channel, so the
// POLLHUP of the same event must not tell it again.
BOOST_FIXTURE_TEST_CASE(readwrite_delivers_close_once, helper_fixture) {
    auto ch = channel<eof_reader>();
    peers.back().close();
    asyncore::readwrite(*ch, POLLIN | POLLHUP);
    BOOST_TEST(ch->closes == 1);
    BOOST_TEST(ch->closing());
    BOOST_TEST(ch->errors.empty());
}

namespace {
// Python's dummychannel: tells whether close() reached it. Counts destructions to check that close_all lets go
// of the channels the map owned.
class tracked_channel : public asyncore::dispatcher {
public:
    using dispatcher::dispatcher;
    ~tracked_channel() override { ++destroyed; }
    void close() override {
        close_called = true;
        dispatcher::close();
    }
    bool close_called = false;
    static inline int destroyed = 0;
};

void closeall_check(bool usedefault) {
    asyncore::socket_map own;
    asyncore::socket_map& testmap = usedefault ? asyncore::socket_map::default_map() : own;
    BOOST_REQUIRE(testmap.empty());

    std::vector<asyncore::ref<tracked_channel>> l;
    std::vector<asyncore::socket> peers;
    for (int i = 0; i < 10; ++i) {
        auto pair = make_socket_pair();
        peers.push_back(std::move(pair.peer));
        // nullptr is how a channel asks for the default map.
        l.push_back(asyncore::make<tracked_channel>(std::move(pair.mine), usedefault ? nullptr : &own));
        BOOST_TEST(!l.back()->close_called);
    }
    BOOST_TEST(testmap.size() == 10u);

    if (usedefault)
        asyncore::close_all();
    else
        asyncore::close_all(&own);

    BOOST_TEST(testmap.empty());
    for (std::size_t i = 0; i < l.size(); ++i) {
        BOOST_TEST_CONTEXT("channel " << i) {
            BOOST_TEST(l[i]->close_called);
            BOOST_TEST(!l[i]->sock().valid());
            // The descriptor itself was closed: the peer reads EOF.
            char c;
            BOOST_TEST(peers[i].recv_some(&c, 1) == 0);
        }
    }
}
} // namespace

BOOST_AUTO_TEST_CASE(closeall) { closeall_check(false); }

BOOST_AUTO_TEST_CASE(closeall_default) { closeall_check(true); }

// The map owns channels made with make<T>() and not held elsewhere: emptying it must delete them.
BOOST_AUTO_TEST_CASE(closeall_releases_shared_owned_channels) {
    asyncore::socket_map map;
    std::vector<asyncore::socket> peers;
    const int before = tracked_channel::destroyed;
    for (int i = 0; i < 5; ++i) {
        auto pair = make_socket_pair();
        peers.push_back(std::move(pair.peer));
        asyncore::make<tracked_channel>(std::move(pair.mine), &map);
    }
    BOOST_TEST(map.size() == 5u);
    BOOST_TEST(tracked_channel::destroyed == before);
    asyncore::close_all(&map);
    BOOST_TEST(map.empty());
    BOOST_TEST(tracked_channel::destroyed == before + 5);
}

namespace {
// A close() that fails after closing, as a socket whose close(2) reports an error.
class failing_close : public asyncore::dispatcher {
public:
    using dispatcher::dispatcher;
    std::exception_ptr failure;
    void close() override {
        dispatcher::close();
        if (auto f = std::exchange(failure, nullptr)) std::rethrow_exception(f);
    }
};

std::exception_ptr close_error(int err) {
    return std::make_exception_ptr(std::system_error(err, std::system_category(), "close"));
}
} // namespace

// close_all's error rules (Python: EBADF is ignored, other errors raised unless ignore_all, ExitNow always
// raised).
BOOST_FIXTURE_TEST_CASE(closeall_error_rules, helper_fixture) {
    {
        auto ch = channel<failing_close>();
        ch->failure = close_error(EBADF);
        BOOST_CHECK_NO_THROW(asyncore::close_all(&map));
        BOOST_TEST(map.empty());
    }
    {
        auto ch = channel<failing_close>();
        ch->failure = close_error(EIO);
        BOOST_CHECK_THROW(asyncore::close_all(&map), std::system_error);
    }
    {
        auto ch = channel<failing_close>();
        ch->failure = close_error(EIO);
        BOOST_CHECK_NO_THROW(asyncore::close_all(&map, true));
        BOOST_TEST(map.empty());
    }
    {
        auto ch = channel<failing_close>();
        ch->failure = std::make_exception_ptr(std::runtime_error("not an OSError"));
        BOOST_CHECK_THROW(asyncore::close_all(&map), std::runtime_error);
    }
    {
        auto ch = channel<failing_close>();
        ch->failure = std::make_exception_ptr(asyncore::exit_now());
        BOOST_CHECK_THROW(asyncore::close_all(&map, true), asyncore::exit_now);
    }
}

namespace {
struct spam_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
} // namespace

// Python's compact_traceback reports file/function/line of a traceback, which C++ exceptions do not carry;
// what is left to check is the exception's type and message.
BOOST_AUTO_TEST_CASE(compact_exception) {
    std::string r;
    try {
        throw spam_error("I don't like spam!");
    } catch (...) {
        r = asyncore::compact_exception();
    }
    BOOST_TEST_INFO("compact_exception() = " << r);
    BOOST_TEST(r.find("spam_error") != std::string::npos);
    BOOST_TEST_INFO("compact_exception() = " << r);
    BOOST_TEST(ends_with(r, ": I don't like spam!"));

    const std::string explicit_ptr = asyncore::compact_exception(std::make_exception_ptr(std::out_of_range("eggs")));
    BOOST_TEST_INFO("compact_exception(ptr) = " << explicit_ptr);
    BOOST_TEST(explicit_ptr.find("out_of_range") != std::string::npos);
    BOOST_TEST_INFO("compact_exception(ptr) = " << explicit_ptr);
    BOOST_TEST(ends_with(explicit_ptr, ": eggs"));
}

BOOST_AUTO_TEST_SUITE_END()
