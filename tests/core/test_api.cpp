// BaseTestAPI of CPython's test_asyncore.py. Python runs it as six classes ({IPv4, IPv6, Unix} x {select,
// poll}); here it is one suite over every registered backend x every address family.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <asyncore/asyncore.hpp>

#include "test_support.hpp"

namespace bdata = boost::unit_test::data;
using namespace std::chrono_literals;
using test_support::family;

// A named namespace, not an anonymous one: the tests' local handler classes derive from these, and GCC
// (-Wsubobject-linkage) rejects bases with internal linkage in the templates BOOST_DATA_TEST_CASE makes.
namespace base_test_api {

auto every_backend_and_family() {
    return bdata::make(test_support::backends()) * bdata::make(test_support::families());
}

// Python skips test_handle_expt, test_bind, test_set_reuse_addr and test_quick_connect for AF_UNIX (no OOB data,
// no ports, no reset); those cases run over the Internet families only.
std::vector<family> inet_families() {
    std::vector<family> result;
    for (family f : test_support::families())
        if (f != family::unix_socket) result.push_back(f);
    return result;
}
auto every_backend_and_inet_family() {
    return bdata::make(test_support::backends()) * bdata::make(inet_families());
}

// What one test case shares with its channels: its own map (never the default one), the backend to run it on,
// and the failures its handlers recorded.
struct api_context {
    api_context(std::string backend_name, family f) : backend(std::move(backend_name)), fam(f) {}
    ~api_context() {
        std::error_code ignored;
        for (const auto& p : unix_paths) std::filesystem::remove(p, ignored);
    }
    api_context(const api_context&) = delete;
    api_context& operator=(const api_context&) = delete;

    int af() const { return test_support::af(fam); }

    // A fresh address to bind; Unix socket files are removed at the end (Python's tearDown unlinks TESTFN).
    asyncore::address bind_address() {
        auto a = test_support::bind_address(fam);
        if (fam == family::unix_socket) unix_paths.push_back(a.host());
        return a;
    }

    void record(const asyncore::dispatcher& d, const std::string& what) {
        errors.push_back(short_repr(d) + ": " + what);
    }

    // repr() of a class local to a test spells out the whole enclosing test function; keep the class's own name.
    static std::string short_repr(const asyncore::dispatcher& d) {
        std::string r = d.repr();
        std::size_t type_end = r.find(" at 0x");
        for (const char* state : {" listening", " connected"}) type_end = std::min(type_end, r.find(state));
        const std::size_t cut = r.rfind("::", type_end);
        return cut == std::string::npos ? r : "<" + r.substr(cut + 2);
    }

    std::string errors_text() const {
        std::ostringstream os;
        for (const auto& e : errors) os << "\n  " << e;
        return os.str();
    }

    const std::string backend;
    const family fam;
    std::vector<std::string> errors;
    std::vector<std::string> unix_paths;
    // Last, so that it is destroyed first: closing the channels may still use the members above.
    asyncore::socket_map map;
};

// Python's loop_waiting_for_flag: passes until the instance sets its flag. A handler failure ends the wait at
// once, as the exception Python's handle_error re-raises would.
template <class T> void loop_waiting_for_flag(api_context& ctx, const asyncore::ref<T>& instance) {
    constexpr int max_passes = 1000;
    int pass = 0;
    while (pass < max_passes && !ctx.map.empty() && ctx.errors.empty() && !instance->flag) {
        ctx.map.run_pass(10ms, ctx.backend);
        ++pass;
    }
    BOOST_TEST_REQUIRE(ctx.errors.empty(), "handler failures by pass " << pass << ":" << ctx.errors_text());
    BOOST_TEST_REQUIRE(instance->flag,
                       "flag not set after " << pass << " passes (" << ctx.map.size() << " channels left in the map)");
}

// Python's BaseTestHandler: every handler a test does not expect fails it.
class base_test_handler : public asyncore::dispatcher {
public:
    explicit base_test_handler(api_context& ctx) : dispatcher(&ctx.map), ctx_(ctx) {}
    base_test_handler(api_context& ctx, asyncore::socket sock) : dispatcher(std::move(sock), &ctx.map), ctx_(ctx) {}

    bool flag = false;

    void handle_accept() override { unexpected("handle_accept"); }
    void handle_accepted(asyncore::socket, asyncore::address) override { unexpected("handle_accepted"); }
    void handle_connect() override { unexpected("handle_connect"); }
    void handle_expt() override { unexpected("handle_expt"); }
    void handle_close() override { unexpected("handle_close"); }
    // Python re-raises here, which stops the loop and fails the test. The failure is recorded for
    // loop_waiting_for_flag instead, and the channel closed so that it cannot fail again meanwhile.
    void handle_error() override {
        ctx_.record(*this, asyncore::compact_exception());
        close();
    }

protected:
    [[noreturn]] static void unexpected(const char* name) {
        throw std::runtime_error(std::string(name) + " not supposed to be called");
    }
    api_context& ctx_;
};

using handler_factory = void (*)(api_context&, asyncore::socket);

template <class Handler> void make_handler(api_context& ctx, asyncore::socket sock) {
    // The map keeps the new channel alive, as in Python.
    asyncore::make<Handler>(ctx, std::move(sock));
}

// Python's BaseServer: listens and hands each connection to a new handler.
class base_server : public asyncore::dispatcher {
public:
    explicit base_server(api_context& ctx, handler_factory handler = make_handler<base_test_handler>)
        : dispatcher(&ctx.map), ctx_(ctx), handler_(handler) {
        create_socket(ctx.af());
        set_reuse_addr();
        bind(ctx.bind_address());
        listen(5);
    }
    asyncore::address server_address() const { return sock().getsockname(); }
    void handle_accepted(asyncore::socket sock, asyncore::address) override { handler_(ctx_, std::move(sock)); }
    void handle_error() override {
        ctx_.record(*this, asyncore::compact_exception());
        close();
    }

protected:
    api_context& ctx_;
    handler_factory handler_;
};

// Python's BaseClient.
class base_client : public base_test_handler {
public:
    base_client(api_context& ctx, const asyncore::address& address) : base_test_handler(ctx) {
        create_socket(ctx.af());
        connect(address);
    }
    void handle_connect() override {}
};

bool is_eaddrinuse(const std::system_error& e) { return e.code().value() == EADDRINUSE; }

// Python's TestListener of test_handle_accept and test_handle_accepted.
class test_listener : public base_test_handler {
public:
    explicit test_listener(api_context& ctx) : base_test_handler(ctx) {
        create_socket(ctx.af());
        bind(ctx.bind_address());
        listen(5);
    }
    asyncore::address server_address() const { return sock().getsockname(); }
};

// Python's ZeroDivisionError in test_handle_error.
struct zero_division_error : std::domain_error {
    using std::domain_error::domain_error;
};

} // namespace base_test_api

using namespace base_test_api;

BOOST_AUTO_TEST_SUITE(BaseTestAPI)

BOOST_DATA_TEST_CASE(handle_connect, every_backend_and_family(), backend, fam) {
    class test_client : public base_client {
    public:
        using base_client::base_client;
        void handle_connect() override { flag = true; }
    };

    api_context ctx(backend, fam);
    auto server = asyncore::make<base_server>(ctx);
    auto client = asyncore::make<test_client>(ctx, server->server_address());
    loop_waiting_for_flag(ctx, client);
}

BOOST_DATA_TEST_CASE(handle_accept, every_backend_and_family(), backend, fam) {
    class listener : public test_listener {
    public:
        using test_listener::test_listener;
        void handle_accept() override { flag = true; }
    };

    api_context ctx(backend, fam);
    auto server = asyncore::make<listener>(ctx);
    auto client = asyncore::make<base_client>(ctx, server->server_address());
    loop_waiting_for_flag(ctx, server);
}

BOOST_DATA_TEST_CASE(handle_accepted, every_backend_and_family(), backend, fam) {
    class listener : public test_listener {
    public:
        using test_listener::test_listener;
        void handle_accept() override { dispatcher::handle_accept(); }
        void handle_accepted(asyncore::socket sock, asyncore::address addr) override {
            sock.close();
            peer_family = addr.family();
            flag = true;
        }
        int peer_family = AF_UNSPEC;
    };

    api_context ctx(backend, fam);
    auto server = asyncore::make<listener>(ctx);
    auto client = asyncore::make<base_client>(ctx, server->server_address());
    loop_waiting_for_flag(ctx, server);
    // A Unix client that did not bind has no address to report; an Internet one always has.
    if (fam != family::unix_socket) BOOST_TEST(server->peer_family == ctx.af());
}

BOOST_DATA_TEST_CASE(handle_read, every_backend_and_family(), backend, fam) {
    class test_client : public base_client {
    public:
        using base_client::base_client;
        void handle_read() override { flag = true; }
    };
    class test_handler : public base_test_handler {
    public:
        test_handler(api_context& ctx, asyncore::socket conn) : base_test_handler(ctx, std::move(conn)) {
            send(std::string(1024, 'x'));
        }
    };

    api_context ctx(backend, fam);
    auto server = asyncore::make<base_server>(ctx, make_handler<test_handler>);
    auto client = asyncore::make<test_client>(ctx, server->server_address());
    loop_waiting_for_flag(ctx, client);
}

BOOST_DATA_TEST_CASE(handle_write, every_backend_and_family(), backend, fam) {
    class test_client : public base_client {
    public:
        using base_client::base_client;
        void handle_write() override { flag = true; }
    };

    api_context ctx(backend, fam);
    auto server = asyncore::make<base_server>(ctx);
    auto client = asyncore::make<test_client>(ctx, server->server_address());
    loop_waiting_for_flag(ctx, client);
}

// handle_close is called when the other end closes the connection.
BOOST_DATA_TEST_CASE(handle_close, every_backend_and_family(), backend, fam) {
    class test_client : public base_client {
    public:
        using base_client::base_client;
        // The close is noticed by a recv() that reads nothing.
        void handle_read() override {
            char buf[1024];
            recv(buf, sizeof buf);
        }
        void handle_close() override {
            flag = true;
            close();
        }
    };
    class test_handler : public base_test_handler {
    public:
        test_handler(api_context& ctx, asyncore::socket conn) : base_test_handler(ctx, std::move(conn)) { close(); }
    };

    api_context ctx(backend, fam);
    auto server = asyncore::make<base_server>(ctx, make_handler<test_handler>);
    auto client = asyncore::make<test_client>(ctx, server->server_address());
    loop_waiting_for_flag(ctx, client);
}

// Sending to a peer that has closed (ECONNRESET/EPIPE) must end in handle_close, not handle_error
// (CPython issues #5661 and #11265).
BOOST_DATA_TEST_CASE(handle_close_after_conn_broken, every_backend_and_family(), backend, fam) {
    static const std::string data(128, '\0');

    class test_client : public base_client {
    public:
        using base_client::base_client;
        void handle_write() override { send(data); }
        void handle_close() override {
            flag = true;
            close();
        }
        void handle_expt() override {
            flag = true;
            close();
        }
    };
    class test_handler : public base_test_handler {
    public:
        using base_test_handler::base_test_handler;
        void handle_read() override {
            char buf[128];
            recv(buf, data.size());
            close();
        }
        bool writable() override { return false; }
    };

    api_context ctx(backend, fam);
    auto server = asyncore::make<base_server>(ctx, make_handler<test_handler>);
    auto client = asyncore::make<test_client>(ctx, server->server_address());
    loop_waiting_for_flag(ctx, client);
}

// handle_expt runs when out-of-band data arrives.
BOOST_DATA_TEST_CASE(handle_expt, every_backend_and_inet_family(), backend, fam) {
    class test_client : public base_client {
    public:
        using base_client::base_client;
        void handle_expt() override {
            char buf[1024];
            sock().recv_some(buf, sizeof buf, MSG_OOB);
            flag = true;
        }
    };
    class test_handler : public base_test_handler {
    public:
        test_handler(api_context& ctx, asyncore::socket conn) : base_test_handler(ctx, std::move(conn)) {
            const char urgent = static_cast<char>(244);
            sock().send_some(&urgent, 1, MSG_OOB);
        }
    };

    api_context ctx(backend, fam);
    auto server = asyncore::make<base_server>(ctx, make_handler<test_handler>);
    auto client = asyncore::make<test_client>(ctx, server->server_address());
    loop_waiting_for_flag(ctx, client);
}

// handle_error runs inside the handler of the exception a handler threw, so that it can rethrow it.
BOOST_DATA_TEST_CASE(handle_error, every_backend_and_family(), backend, fam) {
    class test_client : public base_client {
    public:
        using base_client::base_client;
        void handle_write() override { throw zero_division_error("float division by zero"); }
        void handle_error() override {
            flag = true;
            if (!std::current_exception()) {
                ctx_.record(*this, "handle_error called with no exception being handled");
                return;
            }
            try {
                throw;
            } catch (const zero_division_error&) {
            } catch (...) {
                ctx_.record(*this, "handle_error saw the wrong exception: " + asyncore::compact_exception());
            }
        }
    };

    api_context ctx(backend, fam);
    auto server = asyncore::make<base_server>(ctx);
    auto client = asyncore::make<test_client>(ctx, server->server_address());
    loop_waiting_for_flag(ctx, client);
}

BOOST_DATA_TEST_CASE(connection_attributes, every_backend_and_family(), backend, fam) {
    api_context ctx(backend, fam);
    auto server = asyncore::make<base_server>(ctx);
    auto client = asyncore::make<base_client>(ctx, server->server_address());

    // We start disconnected. (Whether the client is connected yet cannot be taken for granted.)
    BOOST_TEST(!server->connected());
    BOOST_TEST(server->accepting());
    BOOST_TEST(!client->accepting());

    // Some passes so that the client connects.
    asyncore::loop({.timeout = 10ms, .backend = ctx.backend, .map = &ctx.map, .count = 100});
    BOOST_REQUIRE_MESSAGE(ctx.errors.empty(), "handler failures:" << ctx.errors_text());
    BOOST_TEST(!server->connected());
    BOOST_TEST(server->accepting());
    BOOST_TEST(client->connected());
    BOOST_TEST(!client->connecting());
    BOOST_TEST(!client->accepting());

    // Disconnect the client.
    client->close();
    BOOST_TEST(!server->connected());
    BOOST_TEST(server->accepting());
    BOOST_TEST(!client->connected());
    BOOST_TEST(!client->accepting());

    // Stop serving.
    server->close();
    BOOST_TEST(!server->connected());
    BOOST_TEST(!server->accepting());
}

BOOST_DATA_TEST_CASE(create_socket, every_backend_and_family(), backend, fam) {
    api_context ctx(backend, fam);
    auto s = asyncore::make<asyncore::dispatcher>(&ctx.map);
    s->create_socket(ctx.af());
    BOOST_TEST(s->sock().type() == SOCK_STREAM);
    BOOST_TEST(s->sock().family() == ctx.af());
    BOOST_TEST(!s->sock().get_blocking());
    BOOST_TEST(!s->sock().get_inheritable());
    // create_socket also registers the channel (Python: set_socket -> add_channel).
    BOOST_TEST(ctx.map.get(s->fileno()) == s.get());
}

BOOST_DATA_TEST_CASE(bind, every_backend_and_inet_family(), backend, fam) {
    api_context ctx(backend, fam);
    auto s1 = asyncore::make<asyncore::dispatcher>(&ctx.map);
    s1->create_socket(ctx.af());
    s1->bind(ctx.bind_address());
    s1->listen(5);
    const auto port = s1->sock().getsockname().port();
    BOOST_REQUIRE(port != 0);

    auto s2 = asyncore::make<asyncore::dispatcher>(&ctx.map);
    s2->create_socket(ctx.af());
    const auto same = fam == family::ipv4 ? asyncore::address::ipv4("127.0.0.1", port)
                                          : asyncore::address::ipv6("::1", port);
    // EADDRINUSE shows that the first socket really was bound.
    BOOST_CHECK_EXCEPTION(s2->bind(same), std::system_error, is_eaddrinuse);
}

BOOST_DATA_TEST_CASE(set_reuse_addr, every_backend_and_inet_family(), backend, fam) {
    api_context ctx(backend, fam);
    auto s = asyncore::make<asyncore::dispatcher>(asyncore::socket(ctx.af(), SOCK_STREAM), &ctx.map);
    // An unconnected socket is accepted and left unconnected (getpeername's ENOTCONN is not an error).
    BOOST_TEST(!s->connected());
    BOOST_TEST(s->sock().getsockopt_int(SOL_SOCKET, SO_REUSEADDR) == 0);

    // Python closes only the socket and makes another; closing the channel is the C++ way to reuse it.
    s->close();
    s->create_socket(ctx.af());
    s->set_reuse_addr();
    BOOST_TEST(s->sock().getsockopt_int(SOL_SOCKET, SO_REUSEADDR) != 0);
}

// A client that connects and resets at once must not disturb the server (CPython issue #10340: the accepted
// socket is already dead, getpeername fails with ENOTCONN).
BOOST_DATA_TEST_CASE(quick_connect, every_backend_and_inet_family(), backend, fam) {
    class quick_server : public base_server {
    public:
        using base_server::base_server;
        void handle_accept() override {
            accept_attempted = true;
            dispatcher::handle_accept();
        }
        bool accept_attempted = false;
    };
    // The reset may come before or after the accept; either way it must end in handle_close, not handle_error.
    class reset_handler : public asyncore::dispatcher {
    public:
        reset_handler(api_context& ctx, asyncore::socket sock) : dispatcher(std::move(sock), &ctx.map), ctx_(ctx) {}
        bool writable() override { return false; }
        void handle_read() override {
            char buf[64];
            recv(buf, sizeof buf);
        }
        void handle_close() override { close(); }
        void handle_error() override {
            ctx_.record(*this, asyncore::compact_exception());
            close();
        }

    private:
        api_context& ctx_;
    };

    api_context ctx(backend, fam);
    auto server = asyncore::make<quick_server>(ctx, make_handler<reset_handler>);

    std::atomic<bool> client_done{false};
    std::jthread client([&client_done, af = ctx.af(), address = server->server_address()] {
        int fd = ::socket(af, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
            const linger reset_on_close{1, 0};
            ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset_on_close, sizeof reset_on_close);
            ::connect(fd, address.data(), address.size()); // a failure is not the point, as in Python
            ::close(fd);
        }
        client_done = true;
    });

    // The server has survived once it has accepted, the dead connection has been closed, and nothing failed.
    constexpr int max_passes = 1000;
    int pass = 0;
    for (; pass < max_passes && ctx.errors.empty(); ++pass) {
        ctx.map.run_pass(10ms, ctx.backend);
        if (client_done && server->accept_attempted && ctx.map.size() == 1) break;
    }
    client.join();
    BOOST_TEST(ctx.errors.empty(), "handler failures:" << ctx.errors_text());
    BOOST_TEST(server->accept_attempted, "no accept after " << pass << " passes");
    BOOST_TEST(ctx.map.size() == 1u);
    BOOST_TEST(ctx.map.get(server->fileno()) == server.get());
    BOOST_TEST(server->accepting());
}

BOOST_AUTO_TEST_SUITE_END()
