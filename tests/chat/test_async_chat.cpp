// CPython's test/test_asynchat.py. Python runs TestAsynchat twice (select, then poll as
// TestAsynchat_WithPoll); here it is one suite over every registered backend. The echo server thread of Python is
// a std::thread with plain blocking POSIX sockets; the client is an async_chat on the test's own socket_map that
// connects in its constructor and pushes before the connection has completed, as Python's echo_client does.
//
// Not ported, because C++ makes them compile-time errors: test_push's assertRaises(TypeError, c.push, 10) and
// assertRaises(TypeError, c.push, 'unicode'). push() takes only byte strings (std::string, std::string_view,
// const char*); an int does not convert to any of them, and there is no separate text type to reject.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <asynchat/async_chat.hpp>
#include <asynchat/producers.hpp>
#include <asyncore/asyncore.hpp>

#include "chat_test_util.hpp"
#include "socket_pair.hpp"
#include "test_support.hpp"

namespace bdata = boost::unit_test::data;
using namespace std::chrono_literals;

// A named namespace, not an anonymous one: the tests' local classes derive from these, and GCC
// (-Wsubobject-linkage) rejects bases with internal linkage in the templates BOOST_DATA_TEST_CASE makes.
namespace test_asynchat {

const std::string server_quit = "QUIT\n";

using chat_test::escape; // printable bytes for failure messages and data-test names

struct delimiter_param {
    std::string bytes;
    friend std::ostream& operator<<(std::ostream& os, const delimiter_param& d) {
        return os << '"' << escape(d.bytes) << '"';
    }
};

// The peer of every socket test: one connection on 127.0.0.1, served by a script on its own thread with
// blocking calls, as Python's echo_server thread is. The socket listens before the thread starts, so the client
// can connect at once (Python needs an Event and a sleep for that).
//
// A failing test must not hang in join(): if the client did not end the conversation, finish(true) shuts the
// sockets down, which wakes the blocked accept/recv/send, and the script's results then show the failure.
class loopback_server {
public:
    using script = std::function<void(loopback_server&)>;

    explicit loopback_server(script body) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (listen_fd_ < 0) throw std::system_error(errno, std::system_category(), "socket");
        const auto where = asyncore::address::ipv4("127.0.0.1", 0);
        if (::bind(listen_fd_, where.data(), where.size()) != 0 || ::listen(listen_fd_, 1) != 0) {
            const int err = errno;
            ::close(listen_fd_);
            throw std::system_error(err, std::system_category(), "bind/listen");
        }
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len);
        address_ = asyncore::address(reinterpret_cast<const sockaddr*>(&ss), len);
        thread_ = std::thread([this, body = std::move(body)] { run(body); });
    }
    ~loopback_server() {
        if (thread_.joinable()) finish(true);
    }
    loopback_server(const loopback_server&) = delete;
    loopback_server& operator=(const loopback_server&) = delete;

    const asyncore::address& address() const noexcept { return address_; }

    // ---- for the script, on the server thread

    // Receives until `needle` has arrived, one byte per recv as Python's server does (so nothing after the
    // needle is consumed). Stops early at EOF or an error.
    std::string recv_until(std::string_view needle) {
        std::string got;
        char c;
        while (got.find(needle) == std::string::npos) {
            const auto n = ::recv(conn_, &c, 1, 0);
            if (n == 1) {
                got += c;
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            break;
        }
        return got;
    }

    // Receives everything until the peer closes. Returns "eof" for an orderly close, else the errno's text.
    std::string recv_until_eof(std::string& into) {
        char buf[4096];
        for (;;) {
            const auto n = ::recv(conn_, buf, sizeof buf, 0);
            if (n > 0) {
                into.append(buf, static_cast<std::size_t>(n));
                continue;
            }
            if (n == 0) return "eof";
            if (errno == EINTR) continue;
            return std::strerror(errno);
        }
    }

    // Sends in pieces of at most `chunk` bytes, one send(2) each (Python's chunk_size). False if the peer is gone.
    bool send_chunks(std::string_view data, std::size_t chunk) {
        while (!data.empty()) {
            const auto n = ::send(conn_, data.data(), std::min(chunk, data.size()), MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) continue;
                return false;
            }
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    // Python's start_resend_event.wait().
    void wait_for_resend() {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [this] { return resend_ || aborted_; });
    }

    // ---- for the test

    // Python's start_resend_event.set().
    void allow_resend() {
        std::lock_guard lock(mutex_);
        resend_ = true;
        cv_.notify_all();
    }

    // Waits for the script to end. abort: the client did not close its end, so the script may never return on
    // its own; wake it by shutting the sockets down (the test has failed already in that case).
    void finish(bool abort) {
        if (abort) {
            std::lock_guard lock(mutex_);
            aborted_ = true;
            if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
            if (conn_ >= 0) ::shutdown(conn_, SHUT_RDWR);
            cv_.notify_all();
        }
        if (thread_.joinable()) thread_.join();
    }

    // Read after finish().
    const std::vector<std::string>& errors() const noexcept { return errors_; }
    bool accepted() const noexcept { return accepted_; }
    bool aborted() const noexcept { return aborted_; }

private:
    void run(const script& body) {
        const int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        {
            std::lock_guard lock(mutex_);
            if (c < 0) {
                if (!aborted_) errors_.push_back(std::string("accept: ") + std::strerror(errno));
            } else {
                conn_ = c;
                accepted_ = true;
                if (aborted_) ::shutdown(c, SHUT_RDWR);
            }
        }
        if (c >= 0) {
            // Each send(2) of the script leaves as its own segment, so the client sees the chunk sizes asked for.
            const int one = 1;
            ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            try {
                body(*this);
            } catch (const std::exception& e) {
                errors_.push_back(std::string("script threw: ") + e.what());
            }
        }
        // Under the mutex, so that finish() never shuts down an fd number the process has meanwhile reused.
        std::lock_guard lock(mutex_);
        if (conn_ >= 0) ::close(std::exchange(conn_, -1));
        ::close(std::exchange(listen_fd_, -1));
    }

    asyncore::address address_;
    int listen_fd_ = -1;
    int conn_ = -1;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool resend_ = false;
    bool aborted_ = false;
    bool accepted_ = false;
    std::vector<std::string> errors_;
    std::thread thread_;
};

// Python's echo_server.run after the accept: collect until QUIT, drop the QUITs, optionally wait, send the rest
// back in chunk_size pieces (ignoring a peer that has gone, as Python's bare except does), close.
struct echo_result {
    std::string received; // what was collected, without the QUITs (Python's s.buffer before resending)
};

loopback_server::script echo_script(echo_result& result, std::size_t chunk_size, bool wait_for_resend = false) {
    return [&result, chunk_size, wait_for_resend](loopback_server& s) {
        std::string buffer = s.recv_until(server_quit);
        for (auto at = buffer.find(server_quit); at != std::string::npos; at = buffer.find(server_quit))
            buffer.erase(at, server_quit.size());
        result.received = buffer;
        if (wait_for_resend) s.wait_for_resend();
        s.send_chunks(buffer, chunk_size);
    };
}

// What one test shares with its channels: its own map (never the default one), the backend, and the failures
// the handlers recorded.
struct chat_context {
    explicit chat_context(std::string backend_name) : backend(std::move(backend_name)) {}
    chat_context(const chat_context&) = delete;
    chat_context& operator=(const chat_context&) = delete;

    void record(std::string what) { errors.push_back(std::move(what)); }
    std::string errors_text() const {
        std::ostringstream os;
        for (const auto& e : errors) os << "\n  " << e;
        return os.str();
    }

    const std::string backend;
    std::vector<std::string> errors;
    // Last, so that it is destroyed first: closing the channels may still use the members above.
    asyncore::socket_map map;
};

// Python's echo_client: contents gets each message at found_terminator, buffer holds the one in progress.
class echo_client : public asynchat::async_chat {
public:
    echo_client(chat_context& ctx, asynchat::terminator term, const asyncore::address& server)
        : async_chat(&ctx.map), ctx_(ctx) {
        create_socket(AF_INET);
        connect(server);
        set_terminator(std::move(term));
    }

    std::vector<std::string> contents;
    std::string buffer;
    bool connected_once = false;
    int closes = 0;

    void handle_connect() override { connected_once = true; }
    void collect_incoming_data(std::string_view data) override { buffer.append(data); }
    void found_terminator() override { contents.push_back(std::exchange(buffer, std::string())); }
    void handle_close() override {
        ++closes;
        async_chat::handle_close();
    }
    // Python's default prints the traceback and closes, which the test then notices only as missing contents;
    // recording it says why.
    void handle_error() override {
        ctx_.record("handle_error: " + asyncore::compact_exception());
        close();
    }

protected:
    chat_context& ctx_;
};

// Python's asyncore.loop(count=300): passes until every channel of the map has closed. The bound only keeps a
// broken test from hanging; a working one ends as soon as the client has closed. A recorded handler failure ends
// the wait at once.
std::size_t run_until_closed(chat_context& ctx) {
    constexpr std::size_t guard = 3000;
    std::size_t passes = 0;
    while (passes < guard && !ctx.map.empty() && ctx.errors.empty()) {
        asyncore::loop({.timeout = 10ms, .backend = ctx.backend, .map = &ctx.map, .count = 1});
        ++passes;
    }
    return passes;
}

// Ends a socket test: lets the server script finish (aborting it if the client is still there, which is a
// failure), then checks that nothing failed on either side and the conversation ended as it should: the client
// connected and is now closed.
void finish(chat_context& ctx, loopback_server& server, const echo_client& client, std::size_t passes) {
    const bool client_done = client.connected_once && !client.sock().valid();
    server.finish(!client_done);
    BOOST_TEST(ctx.errors.empty(), "client handler failures:" << ctx.errors_text());
    std::string server_errors;
    for (const auto& e : server.errors()) server_errors += "\n  " + e;
    BOOST_TEST(server.errors().empty(), "server failures:" << server_errors);
    BOOST_TEST(server.accepted());
    BOOST_TEST(client.connected_once, "the client never connected");
    BOOST_TEST(!client.sock().valid(), "the client is still open after " << passes << " passes");
    BOOST_TEST(!server.aborted(), "the server script had to be aborted");
}

asyncore::ref<echo_client> make_client(chat_context& ctx, asynchat::terminator term, const loopback_server& server) {
    return asyncore::make<echo_client>(ctx, std::move(term), server.address());
}

auto every_backend() { return bdata::make(test_support::backends()); }

std::vector<std::string> v(std::initializer_list<std::string> l) { return l; }

using chat_test::socket_pair;

} // namespace test_asynchat

using namespace test_asynchat;

BOOST_AUTO_TEST_SUITE(TestAsynchat)

// test_line_terminator1/2/3: one-, two- and three-byte terminators, with the server echoing in 1-, 2- and 3-byte
// sends "in order to exercise all branches of async_chat.handle_read" (a delimiter split across reads).
BOOST_DATA_TEST_CASE(line_terminator,
                     every_backend() *
                         bdata::make(std::vector<delimiter_param>{{"\n"}, {"\r\n"}, {"qqq"}}) *
                         bdata::make({1, 2, 3}),
                     backend, term, server_chunk) {
    chat_context ctx(backend);
    echo_result echoed;
    loopback_server server(echo_script(echoed, static_cast<std::size_t>(server_chunk)));
    auto c = make_client(ctx, term.bytes, server);
    c->push("hello ");
    c->push("world" + term.bytes);
    c->push("I'm not dead yet!" + term.bytes);
    c->push(server_quit);
    const auto passes = run_until_closed(ctx);
    finish(ctx, server, *c, passes);

    BOOST_TEST(c->contents == v({"hello world", "I'm not dead yet!"}), boost::test_tools::per_element());
    BOOST_TEST(c->buffer.empty());
}

// test_numeric_terminator1/2: read a fixed number of bytes. Python's count then stays at 0, which means "no
// terminator": the rest of the stream is collected without another found_terminator.
BOOST_DATA_TEST_CASE(numeric_terminator, every_backend() * bdata::make({1, 6}), backend, termlen) {
    chat_context ctx(backend);
    echo_result echoed;
    loopback_server server(echo_script(echoed, 1));
    auto c = make_client(ctx, asynchat::terminator::count(termlen), server);
    const std::string data = "hello world, I'm not dead yet!\n";
    c->push(data);
    c->push(server_quit);
    const auto passes = run_until_closed(ctx);
    finish(ctx, server, *c, passes);

    const auto n = static_cast<std::size_t>(termlen);
    BOOST_TEST(c->contents == v({data.substr(0, n)}), boost::test_tools::per_element());
    BOOST_TEST(c->buffer == data.substr(n));
    BOOST_TEST(c->get_terminator() == asynchat::terminator::count(0));
}

BOOST_DATA_TEST_CASE(none_terminator, every_backend(), backend) {
    chat_context ctx(backend);
    echo_result echoed;
    loopback_server server(echo_script(echoed, 1));
    auto c = make_client(ctx, asynchat::terminator::none(), server);
    const std::string data = "hello world, I'm not dead yet!\n";
    c->push(data);
    c->push(server_quit);
    const auto passes = run_until_closed(ctx);
    finish(ctx, server, *c, passes);

    BOOST_TEST(c->contents.empty());
    BOOST_TEST(c->buffer == data);
}

BOOST_DATA_TEST_CASE(simple_producer, every_backend(), backend) {
    chat_context ctx(backend);
    echo_result echoed;
    loopback_server server(echo_script(echoed, 1));
    auto c = make_client(ctx, "\n", server);
    const std::string data = "hello world\nI'm not dead yet!\n";
    c->push_with_producer(std::make_unique<asynchat::simple_producer>(data + server_quit, 8));
    const auto passes = run_until_closed(ctx);
    finish(ctx, server, *c, passes);

    BOOST_TEST(c->contents == v({"hello world", "I'm not dead yet!"}), boost::test_tools::per_element());
}

// Python hands push_with_producer a bytes object, which its FIFO sends whole; push_with_producer takes only
// producers here, so a producer gives the whole string from one more() call.
BOOST_DATA_TEST_CASE(string_producer, every_backend(), backend) {
    chat_context ctx(backend);
    echo_result echoed;
    loopback_server server(echo_script(echoed, 1));
    auto c = make_client(ctx, "\n", server);
    const std::string data = "hello world\nI'm not dead yet!\n";
    c->push_with_producer(std::make_unique<asynchat::callable_producer>(
        [whole = data + server_quit]() mutable { return std::exchange(whole, std::string()); }));
    const auto passes = run_until_closed(ctx);
    finish(ctx, server, *c, passes);

    BOOST_TEST(c->contents == v({"hello world", "I'm not dead yet!"}), boost::test_tools::per_element());
}

// Empty lines are messages too.
BOOST_DATA_TEST_CASE(empty_line, every_backend(), backend) {
    chat_context ctx(backend);
    echo_result echoed;
    loopback_server server(echo_script(echoed, 1));
    auto c = make_client(ctx, "\n", server);
    c->push("hello world\n\nI'm not dead yet!\n");
    c->push(server_quit);
    const auto passes = run_until_closed(ctx);
    finish(ctx, server, *c, passes);

    BOOST_TEST(c->contents == v({"hello world", "", "I'm not dead yet!"}), boost::test_tools::per_element());
}

// The server echoes only once the client has closed, so nothing can come back; what the server received shows
// that the close waited for the data. (Python checks only len(s.buffer) > 0, because its s.buffer shrinks as the
// resend partly succeeds; the bytes received are kept apart here, so they are checked whole.)
BOOST_DATA_TEST_CASE(close_when_done, every_backend(), backend) {
    chat_context ctx(backend);
    echo_result echoed;
    loopback_server server(echo_script(echoed, 1, /*wait_for_resend=*/true));
    auto c = make_client(ctx, "\n", server);
    c->push("hello world\nI'm not dead yet!\n");
    c->push(server_quit);
    c->close_when_done();
    const auto passes = run_until_closed(ctx);
    server.allow_resend();
    finish(ctx, server, *c, passes);

    BOOST_TEST(c->contents.empty());
    BOOST_TEST(echoed.received == "hello world\nI'm not dead yet!\n");
    BOOST_TEST(c->closes == 1);
}

// Python's bytes, bytearray and memoryview are C++'s std::string, std::string_view and const char*. (Its
// TypeError cases, push(10) and push('unicode'), do not compile in C++: see the top of the file.)
BOOST_DATA_TEST_CASE(push, every_backend(), backend) {
    chat_context ctx(backend);
    echo_result echoed;
    loopback_server server(echo_script(echoed, 1));
    auto c = make_client(ctx, "\n", server);
    const std::string data = "bytes\n";
    c->push(data);
    c->push(std::string_view(data));
    c->push(data.c_str());
    c->push(server_quit);
    const auto passes = run_until_closed(ctx);
    finish(ctx, server, *c, passes);

    BOOST_TEST(c->contents == v({"bytes", "bytes", "bytes"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

// What async_chat.hpp promises beyond Python's suite, over the same sockets and every backend.
BOOST_AUTO_TEST_SUITE(async_chat_contract)

// max_message bounds the bytes collected between two terminators: past it the channel gets handle_error with
// asynchat::message_too_long, whose default closes the channel, and the peer sees the connection end.
BOOST_DATA_TEST_CASE(max_message_exceeded_closes_the_channel, every_backend(), backend) {
    class bounded_client : public echo_client {
    public:
        bounded_client(chat_context& ctx, const asyncore::address& server) : echo_client(ctx, "\n", server) {
            set_max_message(8);
            ignore_log_types.insert("error"); // the default handle_error's report is expected here
        }
        int too_long = 0;
        std::size_t limit = 0;
        void handle_error() override {
            if (!std::current_exception()) {
                ctx_.record("handle_error called with no exception being handled");
                return close();
            }
            try {
                throw;
            } catch (const asynchat::message_too_long& e) {
                ++too_long;
                limit = e.limit();
            } catch (...) {
                ctx_.record("handle_error: " + asyncore::compact_exception());
            }
            async_chat::handle_error(); // the default, which must close the channel
        }
    };

    chat_context ctx(backend);
    std::string peer_end, peer_received;
    loopback_server server([&](loopback_server& s) {
        s.send_chunks("this line is far too long\n", 4096);
        peer_end = s.recv_until_eof(peer_received);
    });
    auto c = asyncore::make<bounded_client>(ctx, server.address());
    const auto passes = run_until_closed(ctx);
    finish(ctx, server, *c, passes);

    BOOST_TEST(c->too_long == 1);
    BOOST_TEST(c->limit == 8u);
    BOOST_TEST(c->closes == 1);
    BOOST_TEST(c->contents.empty());
    BOOST_TEST(c->buffer.size() <= 8u, "collected past max_message: \"" << escape(c->buffer) << '"');
    BOOST_TEST(peer_end == "eof");
    BOOST_TEST(peer_received.empty());
}

// A push() inside found_terminator is only queued; all the replies one read produced leave when the read
// returns, without waiting for a writable event, and in the order of the messages.
BOOST_DATA_TEST_CASE(push_in_found_terminator_is_sent_when_the_read_returns, every_backend(), backend) {
    class replying_client : public echo_client {
    public:
        replying_client(chat_context& ctx, const asyncore::address& server) : echo_client(ctx, "\n", server) {}
        int sent_during_callback = 0;     // a push that did not stay queued inside the read
        int left_queued_after_read = 0;   // a read that returned with its replies still queued
        std::size_t most_messages_in_one_read = 0;
        void found_terminator() override {
            echo_client::found_terminator();
            push("ack " + contents.back() + "\n");
            if (output().empty()) ++sent_during_callback;
        }
        // Every read reaches handle_incoming, from handle_read or from a completion backend's transport.
        void handle_incoming(std::string_view bytes) override {
            const std::size_t before = contents.size();
            echo_client::handle_incoming(bytes);
            after_read(before);
        }
        void after_read(std::size_t before) {
            const std::size_t found = contents.size() - before;
            most_messages_in_one_read = std::max(most_messages_in_one_read, found);
            if (found > 0 && !output().empty()) ++left_queued_after_read;
        }
    };

    chat_context ctx(backend);
    std::string acks;
    loopback_server server([&](loopback_server& s) {
        s.send_chunks("one\ntwo\nthree\n", 4096); // one send: the three messages arrive in one read
        acks = s.recv_until("ack three\n");
    });
    auto c = asyncore::make<replying_client>(ctx, server.address());
    const auto passes = run_until_closed(ctx);
    finish(ctx, server, *c, passes);

    BOOST_TEST(c->contents == v({"one", "two", "three"}), boost::test_tools::per_element());
    BOOST_TEST(acks == "ack one\nack two\nack three\n");
    BOOST_TEST(c->sent_during_callback == 0);
    BOOST_TEST(c->left_queued_after_read == 0);
    BOOST_TEST(c->most_messages_in_one_read == 3u);
}

// close_when_done after a producer (and a string before it) closes only once the producer is exhausted and
// everything is sent, and handle_close runs once.
BOOST_DATA_TEST_CASE(close_when_done_after_a_producer, every_backend(), backend) {
    chat_context ctx(backend);
    std::string peer_end, peer_received;
    loopback_server server([&](loopback_server& s) { peer_end = s.recv_until_eof(peer_received); });
    auto c = make_client(ctx, "\n", server);
    const std::string produced = "hello world\nI'm not dead yet!\n";
    c->push("first\n");
    c->push_with_producer(std::make_unique<asynchat::simple_producer>(produced, 4));
    c->close_when_done();
    const auto passes = run_until_closed(ctx);
    finish(ctx, server, *c, passes);

    BOOST_TEST(peer_received == "first\n" + produced);
    BOOST_TEST(peer_end == "eof");
    BOOST_TEST(c->closes == 1);
}

// discard_buffers drops queued output (here pushed before the connection completed) and unread input state: the
// partial delimiter carried between reads and what _collect_incoming_data gathered.
BOOST_DATA_TEST_CASE(discard_buffers, every_backend(), backend) {
    class discarding_client : public echo_client {
    public:
        discarding_client(chat_context& ctx, const asyncore::address& server) : echo_client(ctx, "\r\n", server) {
            push("lost\n"); // queued: the connection has not completed yet
            discard_buffers();
            queue_empty_after_discard = output().empty();
        }
        bool queue_empty_after_discard = false;
        bool discarded_input = false;
        bool go_sent_at_once = false;
        std::size_t collected = 0;
        void collect_incoming_data(std::string_view data) override {
            collected += data.size();
            _collect_incoming_data(data);
        }
        void found_terminator() override { contents.push_back(_get_data()); }
        // Input arrives through handle_incoming whatever read it (handle_read, or a completion backend).
        void handle_incoming(std::string_view bytes) override {
            echo_client::handle_incoming(bytes);
            after_input();
        }
        void after_input() {
            // "junk\r" has arrived: "junk" collected, "\r" carried as a possible start of "\r\n".
            if (!discarded_input && collected == 4 && input_framer().pending() == "\r") {
                discard_buffers();
                discarded_input = true;
                push("go\n"); // outside the framing, so sent at once, as in Python
                go_sent_at_once = output().empty();
            }
        }
    };

    chat_context ctx(backend);
    std::string received;
    loopback_server server([&](loopback_server& s) {
        s.send_chunks("junk\r", 4096);
        received = s.recv_until("go\n");
        s.send_chunks("\nline\r\n", 4096);
    });
    auto c = asyncore::make<discarding_client>(ctx, server.address());
    const auto passes = run_until_closed(ctx);
    finish(ctx, server, *c, passes);

    BOOST_TEST(c->queue_empty_after_discard);
    BOOST_TEST(c->discarded_input);
    BOOST_TEST(c->go_sent_at_once);
    BOOST_TEST(received == "go\n");
    // Without the input discard this would be "junk" then "line" (or "junk\nline" with only the carry dropped).
    BOOST_TEST(c->contents == v({"\nline"}), boost::test_tools::per_element());
}

// Lines from one byte to many reads long, over a socket, after a first short line: on the Asio completion
// design the reads go into the channel's own buffer, which starts at asio_poller::initial_read_size (1 KiB) and
// is swapped for a 16 KiB one on the first read that fills it. Every byte must be framed once and in order,
// whatever the sizes on either side of those bounds.
BOOST_DATA_TEST_CASE(lines_of_every_size_over_a_socket, every_backend(), backend) {
    class line_echo : public asynchat::async_chat {
    public:
        line_echo(asyncore::socket s, asyncore::socket_map* m) : async_chat(std::move(s), m) { set_terminator("\n"); }
        void collect_incoming_data(std::string_view d) override { line_.append(d); }
        void found_terminator() override {
            line_ += '\n';
            push(std::move(line_));
            line_.clear();
        }

    private:
        std::string line_;
    };
    asyncore::socket_map map;
    auto [mine, peer] = socket_pair();
    auto c = asyncore::make<line_echo>(std::move(mine), &map);
    std::string sent;
    for (const std::size_t size : {1, 2, 1023, 1024, 1025, 2048, 16383, 16384, 16385, 40000, 100000, 1}) {
        std::string line(size - 1, '\0');
        for (std::size_t i = 0; i < line.size(); ++i) line[i] = static_cast<char>('a' + (i * 7 + size) % 26);
        sent += line + '\n';
    }
    std::string echoed;
    std::size_t offset = 0;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (echoed.size() < sent.size() && std::chrono::steady_clock::now() < deadline) {
        if (offset < sent.size()) {
            const auto n = peer.send_some(sent.data() + offset, sent.size() - offset);
            if (n > 0) offset += static_cast<std::size_t>(n);
        }
        asyncore::loop({.timeout = 1ms, .backend = backend, .map = &map, .count = 1});
        char buf[65536];
        for (;;) {
            const auto n = peer.recv_some(buf, sizeof buf);
            if (n <= 0) break;
            echoed.append(buf, static_cast<std::size_t>(n));
        }
    }
    BOOST_TEST(echoed.size() == sent.size());
    BOOST_TEST((echoed == sent), "the echo differs from what was sent");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(TestAsynchatMocked)

// Issue #16133: a recv that would block (Python's BlockingIOError) is not an error. Python mocks the socket; a
// socketpair with nothing to read gives the real EAGAIN.
BOOST_AUTO_TEST_CASE(blockingioerror) {
    class probe : public asynchat::async_chat {
    public:
        using async_chat::async_chat;
        std::vector<std::string> contents;
        std::string buffer;
        int errors = 0, closes = 0;
        void collect_incoming_data(std::string_view data) override { buffer.append(data); }
        void found_terminator() override { contents.push_back(std::exchange(buffer, std::string())); }
        void handle_error() override {
            ++errors;
            close();
        }
        void handle_close() override {
            ++closes;
            close();
        }
    };

    asyncore::socket_map map;
    auto [mine, peer] = socket_pair();
    // As Python: async_chat() with no socket, then set_socket.
    auto c = asyncore::make<probe>(&map);
    c->set_terminator("\n");
    c->set_socket(std::move(mine));
    const int fd = c->fileno();

    BOOST_CHECK_NO_THROW(c->handle_read());
    // The same through the loop's error rules, where an exception would become handle_error.
    asyncore::read(*c);
    BOOST_TEST(c->errors == 0);
    BOOST_TEST(c->closes == 0);
    BOOST_TEST(c->sock().valid());
    BOOST_TEST(map.get(fd) == c.get());

    // Still working: the next bytes are framed as usual.
    BOOST_REQUIRE(peer.send_some("x\n", 2) == 2);
    c->handle_read();
    BOOST_TEST(c->contents == v({"x"}), boost::test_tools::per_element());
}

// A send that finds the peer gone (EPIPE) closes the channel there and then: the queue can never be delivered, so
// the half-close path (stop reading, drain, then close) must not keep the channel around for another pass.
BOOST_AUTO_TEST_CASE(a_send_to_a_vanished_peer_closes_at_once) {
    class quiet : public asynchat::async_chat {
    public:
        using async_chat::async_chat;
        void collect_incoming_data(std::string_view) override {}
        void found_terminator() override {}
    };
    asyncore::socket_map map;
    auto [mine, peer] = socket_pair();
    auto c = asyncore::make<quiet>(std::move(mine), &map);
    const int fd = c->fileno();
    peer.close();
    c->push(std::string(1000, 'x')); // outside a read handler: sent at once, and the send fails
    BOOST_TEST(!c->connected());
    BOOST_TEST(map.get(fd) == nullptr);
    BOOST_TEST(c->output().empty() == false); // nothing was sent: the queue is simply abandoned
}

// The same close from a push made outside the channel's handlers (chat_room's broadcast, a timer), on a channel only
// its map holds: the close releases the last reference, and push must not touch the channel after that (found by
// bench/soak under ASan as a heap-use-after-free in output_queue::consume). It is freed once push returns.
BOOST_AUTO_TEST_CASE(a_channel_closed_by_its_own_push_outlives_the_push) {
    class tracked : public asynchat::async_chat {
    public:
        tracked(asyncore::socket s, asyncore::socket_map* m, bool& gone) : async_chat(std::move(s), m), gone_(gone) {}
        ~tracked() override { gone_ = true; }
        void collect_incoming_data(std::string_view) override {}
        void found_terminator() override {}

    private:
        bool& gone_;
    };
    asyncore::socket_map map;
    auto [mine, peer] = socket_pair();
    bool gone = false;
    tracked* raw = asyncore::make<tracked>(std::move(mine), &map, gone).get(); // only the map holds it now
    peer.close();
    raw->push(std::string(1000, 'x'));
    BOOST_TEST(map.empty());
    BOOST_TEST(gone);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(TestHelperFunctions)

BOOST_AUTO_TEST_CASE(find_prefix_at_end) {
    BOOST_TEST(asynchat::find_prefix_at_end("qwerty\r", "\r\n") == 1u);
    BOOST_TEST(asynchat::find_prefix_at_end("qwertydkjf", "\r\n") == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(TestNotConnected)

// Issue #11259: a negative byte count is refused (Python's ValueError), and the terminator stays as it was.
BOOST_AUTO_TEST_CASE(disallow_negative_terminator) {
    class not_connected : public asynchat::async_chat {
    public:
        void collect_incoming_data(std::string_view) override {}
        void found_terminator() override {}
    };

    not_connected client;
    client.set_terminator("\r\n");
    BOOST_CHECK_THROW(client.set_terminator(-1), std::invalid_argument);
    BOOST_TEST(client.get_terminator() == asynchat::terminator("\r\n"));
}

BOOST_AUTO_TEST_SUITE_END()

// A file_producer pushed on a real socket goes out whole and in order between the strings around it: on the
// native backends through sendfile(2) (initiate_send takes the file range), elsewhere through more().
namespace file_over_socket {

struct sender : asynchat::async_chat {
    using async_chat::async_chat;
    int closes = 0;
    std::function<void()> on_line; // what found_terminator does: a response queued inside a read, as HTTP's is
    void collect_incoming_data(std::string_view) override {}
    void found_terminator() override {
        if (on_line) on_line();
    }
    void handle_close() override {
        ++closes;
        close();
    }
};

} // namespace file_over_socket

BOOST_AUTO_TEST_SUITE(async_chat_file_producer)

BOOST_DATA_TEST_CASE(file_producer_over_a_socket, test_asynchat::every_backend(), backend) {
    std::string content(1 << 20, '\0');
    for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>((i * 7919) >> 3);
    char path[] = "/tmp/asynchat-file-producer-XXXXXX";
    const int fd = ::mkstemp(path);
    BOOST_TEST_REQUIRE(fd >= 0);
    ::unlink(path);
    BOOST_TEST_REQUIRE(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
    BOOST_TEST_REQUIRE(::lseek(fd, 0, SEEK_SET) == 0);

    int fds[2];
    BOOST_TEST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
    asyncore::socket peer = asyncore::socket::adopt(fds[1]);
    asyncore::socket_map map;
    auto chat = asyncore::make<file_over_socket::sender>(asyncore::socket::adopt(fds[0]), &map);
    // The file producer is wrapped to count the bytes read out of it through more(): behind "head:" the file must
    // still go out with sendfile(2), never read into user space only because bytes were queued ahead of it.
    class counting final : public asynchat::producer {
    public:
        counting(std::unique_ptr<producer> inner, std::size_t& read) : inner_(std::move(inner)), read_(read) {}
        std::string more() override {
            std::string chunk = inner_->more();
            read_ += chunk.size();
            return chunk;
        }
        std::optional<asynchat::file_range> as_file_range() const override { return inner_->as_file_range(); }
        void advance(std::uint64_t n) override { inner_->advance(n); }

    private:
        std::unique_ptr<producer> inner_;
        std::size_t& read_;
    };
    std::size_t read_through_more = 0;
    // Queued from inside a read, so the head and the file wait for the one send at the end of the read.
    chat->set_terminator("\n");
    chat->on_line = [&] {
        chat->push("head:");
        chat->push_with_producer(std::make_unique<counting>(
            std::make_unique<asynchat::file_producer>(fd, asynchat::fd_ownership::adopt), read_through_more));
        chat->push(":tail");
        chat->close_when_done();
    };
    BOOST_TEST_REQUIRE(peer.send_some("go\n", 3) == 3);

    std::string got;
    char buf[65536];
    for (int pass = 0; pass < 5000 && !map.empty(); ++pass) {
        map.run_pass(std::chrono::milliseconds(10), backend);
        for (auto n = peer.recv_some(buf, sizeof buf); n > 0; n = peer.recv_some(buf, sizeof buf))
            got.append(buf, static_cast<std::size_t>(n));
    }
    for (auto n = peer.recv_some(buf, sizeof buf); n > 0; n = peer.recv_some(buf, sizeof buf))
        got.append(buf, static_cast<std::size_t>(n));
    BOOST_TEST(map.empty());
    BOOST_TEST(chat->closes == 1);
    BOOST_TEST(got.size() == content.size() + 10);
    BOOST_TEST((got == "head:" + content + ":tail"));
    BOOST_TEST(read_through_more == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
