// `asynchat serve echo` (apps/asynchat), driven from outside as a user would: spawned with arguments, talked
// to over loopback with plain blocking sockets, stopped with a signal. The expectations are the command's
// contract, not its code: the echo of a byte stream is computed here from the stream alone, and must come back
// the same however the stream was cut into writes.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "program_support.hpp"
#include "test_support.hpp"

#ifndef ASYNCHAT_PATH
#error "ASYNCHAT_PATH must name the asynchat binary"
#endif

extern char** environ;

namespace bdata = boost::unit_test::data;
using namespace program_test;

namespace {

using steady = std::chrono::steady_clock;

// How long the paced writers wait after a byte that completes no message. Long enough that the server has
// almost always read the byte before the next arrives (so that its reads really are one byte each), and a
// window in which an echo or a close that comes too early is caught.
constexpr auto pace = 2ms;

// Bytes as C escapes, so that a failed comparison of binary echoes prints something readable.
std::string printable(std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (const unsigned char c : s) {
        switch (c) {
        case '\r': out += "\\r"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\\': out += "\\\\"; break;
        default:
            if (c >= 0x20 && c < 0x7f) {
                out += static_cast<char>(c);
            } else {
                out += "\\x";
                out += hex[c >> 4];
                out += hex[c & 15];
            }
        }
    }
    return out;
}

// ---- the command run to completion (argument handling, --help)

// Runs ASYNCHAT_PATH with args (program_test::run_program: stdin from /dev/null, stdout and stderr captured
// separately, since the bad-argument contract is about what goes to stderr).
command_result run_command(const std::vector<std::string>& args) {
    std::vector<std::string> argv{ASYNCHAT_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_program(argv);
}

// ---- the server under test


std::vector<std::string> echo_command(const std::string& backend, const std::vector<std::string>& options) {
    std::vector<std::string> argv{ASYNCHAT_PATH, "serve", "echo", "--backend", backend};
    argv.insert(argv.end(), options.begin(), options.end());
    return argv;
}

// `asynchat serve echo --backend BACKEND OPTIONS...`, running, and the port its first line announced (port 0:
// the kernel's choice, so that tests never collide on a port).
class echo_server : public serve_process {
public:
    echo_server(const std::string& backend, const std::vector<std::string>& options)
        : serve_process(echo_command(backend, options)) {}
};

// ---- the client side

void require_echo(int sock, const std::string& message) {
    BOOST_REQUIRE(send_all(sock, message));
    BOOST_TEST(printable(recv_exact(sock, message.size())) == printable(message));
}

// ---- the contract's echo, computed from the stream alone

// How `asynchat serve echo` was told to frame its input.
struct framing {
    enum class kind { delimiter, count, raw, length_prefix };
    kind mode;
    std::string delimiter; // the bytes, escapes already resolved
    std::size_t count = 0; // for length_prefix: the header bytes
};

// An N-byte big-endian length (N = 1, 2, 4, 8), written out here rather than with the library under test.
std::string big_endian(std::uint64_t n, std::size_t bytes) {
    std::string out(bytes, '\0');
    for (std::size_t i = bytes; i-- > 0; n >>= 8) out[i] = static_cast<char>(n & 0xff);
    return out;
}

// One echo the contract calls for: `bytes` are due once the first `after` bytes of the stream have been sent.
struct echo_due {
    std::size_t after;
    std::string bytes;
};

std::vector<echo_due> reference_echo(const framing& f, std::string_view stream) {
    std::vector<echo_due> out;
    switch (f.mode) {
    case framing::kind::delimiter:
        // Each message is the bytes up to the first whole delimiter, pushed back followed by the delimiter.
        for (std::size_t start = 0;;) {
            const std::size_t at = stream.find(f.delimiter, start);
            if (at == std::string_view::npos) break;
            const std::size_t end = at + f.delimiter.size();
            out.push_back({end, std::string(stream.substr(start, end - start))});
            start = end;
        }
        break;
    case framing::kind::count:
        for (std::size_t end = f.count; end <= stream.size(); end += f.count)
            out.push_back({end, std::string(stream.substr(end - f.count, f.count))});
        break;
    case framing::kind::raw:
        // Raw echoes what it received as it receives it: byte i is due once byte i has been sent.
        for (std::size_t i = 0; i < stream.size(); ++i) out.push_back({i + 1, std::string(1, stream[i])});
        break;
    case framing::kind::length_prefix:
        // Each frame, prefix and payload, is echoed whole once its last payload byte has been sent.
        for (std::size_t start = 0; start + f.count <= stream.size();) {
            std::uint64_t length = 0;
            for (std::size_t i = 0; i < f.count; ++i) length = length << 8 | static_cast<unsigned char>(stream[start + i]);
            const std::size_t end = start + f.count + length;
            if (end > stream.size()) break;
            out.push_back({end, std::string(stream.substr(start, end - start))});
            start = end;
        }
        break;
    }
    return out;
}

std::string concatenated(const std::vector<echo_due>& echoes) {
    std::string all;
    for (const auto& e : echoes) all += e.bytes;
    return all;
}

// The echo of `stream` must be `expected` (what the test built the stream from), whether the stream arrives one
// byte per write, in one write or in random chunks; after a half-close, an unfinished last message is not echoed
// and the server closes. The reference framing computed from the stream alone must agree with `expected`, so a
// mistake in the test data shows as such and not as a server bug.
void require_segmentation_independence(const std::string& backend, const std::vector<std::string>& options,
                                       const framing& f, const std::string& stream, const std::string& expected) {
    const auto due = reference_echo(f, stream);
    BOOST_REQUIRE_MESSAGE(concatenated(due) == expected, "test data: the reference framing of the stream is '"
                                                             << printable(concatenated(due)) << "', not '"
                                                             << printable(expected) << "'");
    echo_server server(backend, options);

    // One byte per write, with every echo read as soon as it is due: the stream is split at every position,
    // messages and delimiters alike, and an echo that comes early or is held back shows at the byte it concerns.
    std::string byte_by_byte;
    {
        const fd client = connect_loopback(server.port());
        auto next = due.begin();
        for (std::size_t i = 0; i < stream.size(); ++i) {
            BOOST_REQUIRE_MESSAGE(send_all(client.get(), std::string_view(&stream[i], 1)),
                                  "send of byte " << i << " failed: " << std::strerror(errno));
            if (next != due.end() && next->after == i + 1) {
                const std::string got = recv_exact(client.get(), next->bytes.size());
                BOOST_REQUIRE_MESSAGE(got == next->bytes, "after byte " << i << " the echo was '" << printable(got)
                                                                        << "', not '" << printable(next->bytes)
                                                                        << "'");
                byte_by_byte += got;
                ++next;
            } else {
                BOOST_REQUIRE_MESSAGE(!readable_within(client.get(), pace),
                                      "after byte " << i << ", which completes no message, the server already sent "
                                                    << "something or closed");
            }
        }
        BOOST_REQUIRE(::shutdown(client.get(), SHUT_WR) == 0);
        const auto rest = recv_to_end(client.get());
        BOOST_TEST(printable(rest.data) == "", "echoed after the half-close, though no message was complete");
        BOOST_TEST(rest.end == ending::eof);
    }

    // The same stream in one write.
    {
        const fd client = connect_loopback(server.port());
        BOOST_REQUIRE(send_all(client.get(), stream));
        const std::string got = recv_exact(client.get(), expected.size());
        BOOST_TEST(printable(got) == printable(byte_by_byte));
        BOOST_REQUIRE(::shutdown(client.get(), SHUT_WR) == 0);
        const auto rest = recv_to_end(client.get());
        BOOST_TEST(printable(rest.data) == "");
        BOOST_TEST(rest.end == ending::eof);
    }

    // Random chunks of 1 to 9 bytes, written back to back (a fixed seed: a failure replays).
    {
        std::mt19937 rng(20240611);
        std::uniform_int_distribution<std::size_t> chunk(1, 9);
        const fd client = connect_loopback(server.port());
        for (std::size_t at = 0; at < stream.size();) {
            const std::size_t n = std::min(chunk(rng), stream.size() - at);
            BOOST_REQUIRE(send_all(client.get(), std::string_view(stream).substr(at, n)));
            at += n;
        }
        BOOST_REQUIRE(::shutdown(client.get(), SHUT_WR) == 0);
        const auto got = recv_to_end(client.get());
        BOOST_TEST(printable(got.data) == printable(byte_by_byte));
        BOOST_TEST(got.end == ending::eof);
    }

    server.stop();
}

// ---- argument cases

struct bad_arguments {
    std::vector<std::string> args; // after `serve echo`
    std::vector<std::string> names; // the error line must contain one of these
};
std::ostream& operator<<(std::ostream& os, const bad_arguments& b) {
    os << "serve echo";
    for (const auto& a : b.args) os << " '" << printable(a) << "'";
    return os;
}

const std::vector<bad_arguments> bad_argument_cases = {
    {{"--port", "abc"}, {"--port"}},
    {{"--port", "70000"}, {"--port"}},
    {{"--port"}, {"--port"}},
    {{"--count", "0"}, {"--count"}},
    {{"--count", "abc"}, {"--count"}},
    {{"--raw", "--count", "3"}, {"--raw", "--count"}},
    {{"--terminator", "X", "--count", "3"}, {"--terminator", "--count"}},
    {{"--terminator", "\\q"}, {"--terminator", "\\q"}},
    {{"--terminator", "\\x4"}, {"--terminator", "\\x4"}},
    {{"--terminator", ""}, {"--terminator"}},
    {{"--max-message", "0"}, {"--max-message"}},
    {{"--backend", "nope"}, {"--backend", "nope"}},
    {{"--host", "no-such-host.invalid"}, {"--host", "no-such-host.invalid"}},
    {{"--host", "999.1.1.1"}, {"--host"}},
    {{"--no-such-option"}, {"--no-such-option"}},
    {{"--length-prefix", "3"}, {"--length-prefix"}},
    {{"--length-prefix", "0"}, {"--length-prefix"}},
    {{"--length-prefix", "16"}, {"--length-prefix"}},
    {{"--length-prefix", "abc"}, {"--length-prefix"}},
    {{"--length-prefix", "2", "--count", "3"}, {"--length-prefix", "--count"}},
    {{"--length-prefix", "2", "--raw"}, {"--length-prefix", "--raw"}},
    {{"--length-prefix", "2", "--terminator", "X"}, {"--length-prefix", "--terminator"}},
    // The scale-out options every serve command shares (docs/deploy.md).
    {{"--workers", "0"}, {"--workers"}},
    {{"--workers", "257"}, {"--workers"}},
    {{"--workers", "many"}, {"--workers"}},
    {{"--drain-delay", "-1"}, {"--drain-delay"}},
    {{"--proxy-header-timeout", "soon"}, {"--proxy-header-timeout"}},
    {{"--proxy-protocol", "yes"}, {"yes", "--proxy-protocol"}},
    {{"--access-log", "/nonexistent-dir/access.log"}, {"--access-log"}},
};

const std::vector<std::size_t> prefix_sizes = {1, 2, 4, 8};

const std::vector<std::string> exit_signals = {"SIGINT", "SIGTERM"};

} // namespace

BOOST_AUTO_TEST_SUITE(asynchat_serve_echo)

BOOST_DATA_TEST_CASE(many_concurrent_clients_each_get_their_own_echo, bdata::make(test_support::backends()), backend) {
    echo_server server(backend, {});
    constexpr int clients = 50;
    constexpr int rounds = 6;
    // The client's number in every message, so that an echo sent to the wrong connection cannot pass; and a lone
    // \r and a lone \n, which do not end a message under the default '\r\n'.
    auto message = [](int c, int r) {
        return "client " + std::to_string(c) + " message " + std::to_string(r) + " \r lone \n " +
               std::string(static_cast<std::size_t>((c * 7 + r) % 23), static_cast<char>('a' + (c + r) % 26)) +
               "\r\n";
    };
    std::vector<fd> socks;
    for (int c = 0; c < clients; ++c) socks.push_back(connect_loopback(server.port()));

    // Every message goes out in two writes, split at a place that moves with client and round (inside the
    // \r\n too), and every client's first half is written before any client's second half: the server holds 50
    // unfinished messages at once, across all its connections.
    std::vector<std::string> expected(clients);
    for (int r = 0; r < rounds; ++r) {
        std::vector<std::string> framed;
        for (int c = 0; c < clients; ++c) framed.push_back(message(c, r));
        auto split = [&](int c) { return static_cast<std::size_t>(c * 13 + r * 7) % (framed[c].size() - 1) + 1; };
        for (int c = 0; c < clients; ++c)
            BOOST_REQUIRE(send_all(socks[c].get(), std::string_view(framed[c]).substr(0, split(c))));
        for (int c = clients; c-- > 0;)
            BOOST_REQUIRE(send_all(socks[c].get(), std::string_view(framed[c]).substr(split(c))));
        for (int c = 0; c < clients; ++c) expected[c] += framed[c];
    }
    // Read in an order unrelated to the writes (7 and 50 are coprime: every client once). The first wrong echo
    // ends the test: after it, the other clients' reads would each wait out the socket timeout.
    for (int i = 0, c = 0; i < clients; ++i, c = (c + 7) % clients) {
        const std::string got = recv_exact(socks[c].get(), expected[c].size());
        BOOST_REQUIRE_MESSAGE(got == expected[c], "client " << c << " received '" << printable(got) << "', not '"
                                                            << printable(expected[c]) << "'");
    }
    // Nothing beyond: the very next bytes each client receives are the echo of its next message.
    for (int c = 0; c < clients; ++c) require_echo(socks[c].get(), "bye from " + std::to_string(c) + "\r\n");
    server.stop();
}

BOOST_DATA_TEST_CASE(terminator_escape_echo_is_independent_of_segmentation, bdata::make(test_support::backends()),
                     backend) {
    // 'END\x00': a multi-byte delimiter with a NUL, given as an escape. The messages hold every proper prefix of
    // it, a NUL of their own and "END" without the NUL, so the server must track partial delimiters across
    // reads and give up on the false starts; one message is empty. The unfinished last message ends in a
    // prefix of the delimiter and must never be echoed.
    const std::string delimiter("END\0", 4);
    const std::vector<std::string> messages = {
        "hello", "", "E", "EN", "END", std::string("E\0N\0D\0", 6), std::string("\0END", 4), "ENDEN", "EEND",
        "\r\n\t\\x00", binary_payload(40), "last"};
    std::string stream;
    for (const auto& m : messages) stream += m + delimiter;
    const std::string expected = stream;
    stream += "tail-EN";
    require_segmentation_independence(backend, {"--terminator", "END\\x00"},
                                      {framing::kind::delimiter, delimiter, 0}, stream, expected);
}

BOOST_DATA_TEST_CASE(count_echo_is_independent_of_segmentation, bdata::make(test_support::backends()), backend) {
    // Every byte value, \r\n and NUL included: under --count they are data like any other. 3 bytes short of a
    // whole last message, which must never be echoed.
    const std::string stream = binary_payload(5 * 60 + 3);
    const std::string expected = stream.substr(0, 5 * 60);
    require_segmentation_independence(backend, {"--count", "5"}, {framing::kind::count, {}, 5}, stream, expected);
}

BOOST_DATA_TEST_CASE(raw_echo_is_independent_of_segmentation, bdata::make(test_support::backends()), backend) {
    const std::string stream = binary_payload(300);
    require_segmentation_independence(backend, {"--raw"}, {framing::kind::raw, {}, 0}, stream, stream);
}

BOOST_DATA_TEST_CASE(length_prefix_echo_is_independent_of_segmentation,
                     bdata::make(test_support::backends()) * bdata::make(prefix_sizes), backend, prefix) {
    // Payloads holding every byte value (so \r\n and NUL are data), an empty one, and lengths whose prefix has
    // bytes that look like lengths themselves; then a frame whose payload never finishes, which must never be
    // echoed.
    std::string stream;
    for (const std::size_t n : {5, 0, 1, 40, 0, 255, 3}) stream += big_endian(n, prefix) + binary_payload(n);
    const std::string expected = stream;
    stream += big_endian(9, prefix) + "tail";
    require_segmentation_independence(backend, {"--length-prefix", std::to_string(prefix)},
                                      {framing::kind::length_prefix, {}, prefix}, stream, expected);
}

BOOST_DATA_TEST_CASE(length_prefix_over_max_message_closes_before_its_payload_is_read,
                     bdata::make(test_support::backends()) * bdata::make(prefix_sizes), backend, prefix) {
    echo_server server(backend, {"--length-prefix", std::to_string(prefix), "--max-message", "16"});
    const fd bystander = connect_loopback(server.port());
    const fd offender = connect_loopback(server.port());
    const fd trickler = connect_loopback(server.port());
    require_echo(bystander.get(), big_endian(6, prefix) + "before");

    // Only the prefix, announcing the largest length it can: the server must close on the prefix alone, neither
    // waiting for (nor reserving room for) a payload that would never be allowed.
    require_echo(offender.get(), big_endian(16, prefix) + "0123456789ABCDEF"); // at the limit: echoed
    const std::uint64_t largest = prefix == 8 ? ~std::uint64_t{0} : (std::uint64_t{1} << (8 * prefix)) - 1;
    BOOST_REQUIRE(send_all(offender.get(), big_endian(largest, prefix)));
    const auto offended = recv_to_end(offender.get());
    BOOST_TEST(printable(offended.data) == "", "something was echoed for the over-long frame");
    BOOST_TEST((offended.end == ending::eof || offended.end == ending::reset), "got " << offended.end);

    // One over the limit, its prefix a byte per write: the last byte of the prefix, and not one before, ends the
    // connection.
    const std::string over = big_endian(17, prefix);
    for (std::size_t i = 0; i < over.size(); ++i) {
        BOOST_REQUIRE_MESSAGE(send_all(trickler.get(), std::string_view(&over[i], 1)),
                              "send of byte " << i << " failed: the connection ended early");
        if (i + 1 < over.size())
            BOOST_REQUIRE_MESSAGE(!readable_within(trickler.get(), pace),
                                  "the server sent something or closed after only " << i + 1 << " bytes");
    }
    const auto trickled = recv_to_end(trickler.get());
    BOOST_TEST(printable(trickled.data) == "");
    BOOST_TEST((trickled.end == ending::eof || trickled.end == ending::reset), "got " << trickled.end);

    // The server still serves everyone else.
    require_echo(bystander.get(), big_endian(5, prefix) + "after");
    const fd newcomer = connect_loopback(server.port());
    require_echo(newcomer.get(), big_endian(0, prefix));
    server.stop();
}

BOOST_DATA_TEST_CASE(half_close_gets_every_complete_echo_then_eof, bdata::make(test_support::backends()), backend) {
    echo_server server(backend, {});
    const fd client = connect_loopback(server.port());
    BOOST_REQUIRE(send_all(client.get(), "first\r\nsecond\r\n\r\nthird\r\nunfinished"));
    BOOST_REQUIRE(::shutdown(client.get(), SHUT_WR) == 0);
    const auto got = recv_to_end(client.get());
    BOOST_TEST(printable(got.data) == printable("first\r\nsecond\r\n\r\nthird\r\n"));
    BOOST_TEST(got.end == ending::eof);
    server.stop();
}

BOOST_DATA_TEST_CASE(half_close_after_a_large_burst_gets_every_complete_echo, bdata::make(test_support::backends()),
                     backend) {
    // 8 MiB of messages to a client with a small receive buffer: the echo cannot keep up with the input, so when
    // the server reads the EOF most of the echo is still queued in it. Those are echoes of complete messages
    // sent before the EOF, so they must all arrive before the server closes. (A few small messages do not show
    // this: the echo is out before the EOF is read.)
    echo_server server(backend, {});
    std::string stream;
    for (std::size_t k = 0; stream.size() < (8u << 20); ++k)
        stream += "message " + std::to_string(k) + ' ' + std::string(k % 997, static_cast<char>('a' + k % 26)) + "\r\n";
    const std::string expected = stream;
    stream += "unfinished";

    const fd client = connect_loopback(server.port(), 4096);
    // A second thread writes, so that full socket buffers cannot deadlock the test against itself.
    bool sent = false;
    std::thread writer([&] { sent = send_all(client.get(), stream) && ::shutdown(client.get(), SHUT_WR) == 0; });
    const auto got = recv_to_end(client.get());
    writer.join();
    BOOST_TEST(sent, "the client could not send all of its input and its half-close");
    BOOST_TEST(got.end == ending::eof);
    BOOST_TEST(got.data.size() == expected.size());
    const auto diverges = std::mismatch(got.data.begin(), got.data.end(), expected.begin(), expected.end());
    BOOST_TEST((diverges.first == got.data.end()),
               "the echo differs from the input at byte " << (diverges.first - got.data.begin()));
    server.stop();
}

BOOST_DATA_TEST_CASE(max_message_closes_only_the_offending_connection, bdata::make(test_support::backends()),
                     backend) {
    echo_server server(backend, {"--max-message", "16"});
    // All connected before anything goes wrong, so that the other connections are live when one is closed.
    const fd bystander = connect_loopback(server.port());
    const fd offender = connect_loopback(server.port());
    const fd trickler = connect_loopback(server.port());
    const fd at_limit = connect_loopback(server.port());
    require_echo(bystander.get(), "before\r\n");

    // The limit is per message, not per connection: a short message first is echoed as usual.
    require_echo(offender.get(), "short\r\n");
    BOOST_REQUIRE(send_all(offender.get(), "0123456789abcdefg")); // 17 bytes, no terminator
    const auto offended = recv_to_end(offender.get());
    BOOST_TEST(printable(offended.data) == "", "some of the over-long message was echoed");
    BOOST_TEST((offended.end == ending::eof || offended.end == ending::reset), "got " << offended.end);

    // The same 17 bytes one per write: the 17th, and not one before, ends the connection.
    const std::string long_message = "ABCDEFGHIJKLMNOPQ";
    for (std::size_t i = 0; i < long_message.size(); ++i) {
        BOOST_REQUIRE_MESSAGE(send_all(trickler.get(), std::string_view(&long_message[i], 1)),
                              "send of byte " << i << " failed: the connection ended early");
        if (i + 1 < long_message.size())
            BOOST_REQUIRE_MESSAGE(!readable_within(trickler.get(), pace),
                                  "the server sent something or closed after only " << i + 1 << " bytes");
    }
    const auto trickled = recv_to_end(trickler.get());
    BOOST_TEST(printable(trickled.data) == "", "some of the over-long message was echoed");
    BOOST_TEST((trickled.end == ending::eof || trickled.end == ending::reset), "got " << trickled.end);

    // Exactly 16 bytes is within the limit, even when its delimiter arrives a byte at a time after it.
    const std::string sixteen = "0123456789ABCDEF\r\n";
    for (const char& c : sixteen) BOOST_REQUIRE(send_all(at_limit.get(), std::string_view(&c, 1)));
    BOOST_TEST(printable(recv_exact(at_limit.get(), sixteen.size())) == printable(sixteen));
    require_echo(at_limit.get(), sixteen);

    require_echo(bystander.get(), "after\r\n");
    server.stop();
}

BOOST_DATA_TEST_CASE(bad_arguments_exit_2_with_one_line_naming_the_argument, bdata::make(bad_argument_cases), bad) {
    std::vector<std::string> args{"serve", "echo"};
    args.insert(args.end(), bad.args.begin(), bad.args.end());
    const auto r = run_command(args);
    BOOST_TEST_REQUIRE(WIFEXITED(r.status), "killed by signal " << WTERMSIG(r.status));
    BOOST_TEST(WEXITSTATUS(r.status) == 2);
    BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1, "stderr: '" << printable(r.err) << "'");
    BOOST_TEST((!r.err.empty() && r.err.back() == '\n'), "stderr: '" << printable(r.err) << "'");
    BOOST_TEST(std::any_of(bad.names.begin(), bad.names.end(),
                           [&](const std::string& name) { return r.err.find(name) != std::string::npos; }),
               "stderr '" << printable(r.err) << "' names none of the arguments");
    // Rejected before it ever listened.
    BOOST_TEST(printable(r.out) == "");
}

BOOST_DATA_TEST_CASE(signal_exits_zero_within_two_seconds,
                     bdata::make(test_support::backends()) * bdata::make(exit_signals), backend, signal_name) {
    const int sig = signal_name == "SIGINT" ? SIGINT : SIGTERM;
    echo_server server(backend, {});
    // Live connections, one of them in the middle of a message, must not hold up the exit.
    const fd busy = connect_loopback(server.port());
    const fd idle = connect_loopback(server.port());
    require_echo(busy.get(), "served\r\n");
    BOOST_REQUIRE(send_all(busy.get(), "unfinished"));

    server.process().send_signal(sig);
    const auto signalled = steady::now();
    // The wait is the hang guard, so that a slow exit is measured and reported rather than cut off at 2 s.
    const auto status = server.process().wait();
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - signalled);
    BOOST_REQUIRE_MESSAGE(status, "asynchat still running " << hang_guard.count() << " ms after " << signal_name);
    BOOST_TEST_REQUIRE(WIFEXITED(*status), "asynchat was killed by signal " << WTERMSIG(*status));
    BOOST_TEST(WEXITSTATUS(*status) == 0);
    BOOST_TEST(took.count() < 2000, "exited " << took.count() << " ms after " << signal_name
                                              << "; the contract says within 2000 ms");
    // Exiting closed the connections: a reset is as good as an EOF here, since the signal may overtake the
    // server's read of "unfinished", and a socket closed with unread input resets.
    const auto busy_end = recv_to_end(busy.get()).end;
    BOOST_TEST((busy_end == ending::eof || busy_end == ending::reset), "got " << busy_end);
    BOOST_TEST(recv_to_end(idle.get()).end == ending::eof);
}

// VmRSS of a running process, in KiB (/proc/PID/status); 0 if it cannot be read.
std::size_t rss_kib(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);)
        if (line.starts_with("VmRSS:")) return std::stoul(line.substr(6));
    return 0;
}

// The bound on the server's RSS growth, over its idle RSS, while a client floods it with echo requests and reads
// nothing. What the server may hold: the high watermark (1 MiB of output_backlog(), which counts each queued
// string's bytes and its 32-byte slot), the slot vector's spare capacity (up to as much again), and one read's
// echo (a 64 KiB read of 17-byte lines: 3,855 echoes). Under ASan every small allocation carries redzones (an
// 18-byte echo takes a 64-byte chunk), freed chunks wait in ASan's quarantine, and the shadow memory grows with
// the heap, so the figure measured under ASan is some 3x the plain one (docs/reliability.md has both). 24 MiB is
// the ASan figure with a wide margin, and still a quarter of the 100 MiB the server held without backpressure.
constexpr std::size_t flood_rss_bound_kib = 24 * 1024;

// Issue 11, output backpressure ("slow read" denial of service: requests sent, answers never read). The flooding
// client writes up to 100 MiB of small lines without reading; once the server stops reading it, the client's
// socket stays full, and it gives up after 1 s without progress. The server's RSS must stay within the bound
// above, and another client must still be served.
BOOST_DATA_TEST_CASE(a_client_that_never_reads_cannot_grow_the_server, bdata::make(test_support::backends()),
                     backend) {
    echo_server server(backend, {});
    {
        // One conversation first, so that the idle figure includes what any connection allocates once (the
        // per-thread receive buffer, the loop's tables).
        const fd warm = connect_loopback(server.port());
        require_echo(warm.get(), "warm up\r\n");
    }
    const pid_t pid = server.process().pid();
    const std::size_t idle = rss_kib(pid);
    BOOST_TEST_REQUIRE(idle > 0u);

    // A small receive window: the echo the server manages to send before it pauses stays small too, so the
    // figure measures what the server queues rather than how much ASan keeps of what it already sent.
    const fd flood = connect_loopback(server.port(), 4096);
    BOOST_REQUIRE(::fcntl(flood.get(), F_SETFL, ::fcntl(flood.get(), F_GETFL) | O_NONBLOCK) == 0);
    std::string block;
    while (block.size() < (1u << 16)) block += "0123456789abcde\r\n";
    constexpr std::size_t total = std::size_t{100} << 20;
    std::size_t written = 0, peak = idle;
    const auto deadline = steady::now() + 60s;
    while (written < total && steady::now() < deadline) {
        const ssize_t n = ::send(flood.get(), block.data() + written % block.size(),
                                 std::min(block.size() - written % block.size(), total - written), MSG_NOSIGNAL);
        if (n > 0) {
            written += static_cast<std::size_t>(n);
            continue;
        }
        BOOST_REQUIRE_MESSAGE(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR),
                              "send: " << std::strerror(errno));
        peak = std::max(peak, rss_kib(pid));
        pollfd p{flood.get(), POLLOUT, 0};
        if (::poll(&p, 1, 1000) == 0) break;   // full for a whole second: the server has stopped reading
    }
    peak = std::max(peak, rss_kib(pid));
    BOOST_TEST_MESSAGE(backend << ": idle RSS " << idle << " KiB, peak " << peak << " KiB (+" << peak - idle
                               << " KiB) after " << (written >> 10) << " KiB written without reading");
    BOOST_TEST(written < total, "the server read all " << total << " bytes: it never stopped reading");
    BOOST_TEST(peak - idle <= flood_rss_bound_kib, "RSS grew by " << peak - idle << " KiB");

    // Everyone else is still served while the flooding client is paused.
    const fd other = connect_loopback(server.port());
    require_echo(other.get(), "still served\r\n");
    server.stop();
}

// Issue 11, input limits: --discard-long drops an over-long message (sent in pieces, never terminated until the
// end) and keeps the connection; the messages around it are echoed.
BOOST_DATA_TEST_CASE(discard_long_drops_the_message_and_keeps_the_connection, bdata::make(test_support::backends()),
                     backend) {
    echo_server server(backend, {"--max-message", "16", "--discard-long"});
    const fd client = connect_loopback(server.port());
    require_echo(client.get(), "before\r\n");
    for (int i = 0; i < 64; ++i) BOOST_REQUIRE(send_all(client.get(), std::string(1000, 'x')));
    BOOST_REQUIRE(send_all(client.get(), "\r\n"));
    require_echo(client.get(), "after\r\n");
    server.stop();
}

BOOST_AUTO_TEST_CASE(help_exits_zero_and_lists_the_options) {
    const auto r = run_command({"serve", "echo", "--help"});
    BOOST_TEST_REQUIRE(WIFEXITED(r.status), "killed by signal " << WTERMSIG(r.status));
    BOOST_TEST(WEXITSTATUS(r.status) == 0);
    for (const char* option :
         {"--host", "--port", "--backend", "--terminator", "--count", "--raw", "--length-prefix", "--max-message", "--discard-long",
          "--output-high-watermark", "--output-low-watermark"})
        BOOST_TEST(r.out.find(option) != std::string::npos, option << " missing from --help");

    const auto top = run_command({"--help"});
    BOOST_TEST_REQUIRE(WIFEXITED(top.status));
    BOOST_TEST(WEXITSTATUS(top.status) == 0);
}

#ifdef DENY_IO_URING_PATH
// Where the kernel refuses io_uring (here: tests/support/deny_io_uring's seccomp filter, as io_uring_disabled=2
// or a container profile would), asking for it is a bad argument whose one line gives the kernel's reason, and
// the other backends serve as ever.
BOOST_AUTO_TEST_CASE(io_uring_refused_by_the_kernel_says_why_and_the_rest_serve) {
    const auto r = run_program({DENY_IO_URING_PATH, ASYNCHAT_PATH, "serve", "echo", "--backend", "io_uring"});
    BOOST_TEST_REQUIRE(WIFEXITED(r.status), "killed by signal " << WTERMSIG(r.status));
    if (WEXITSTATUS(r.status) == 77) {
        BOOST_TEST_MESSAGE("skipped: " << r.err);
        return;
    }
    BOOST_TEST(WEXITSTATUS(r.status) == 2);
    BOOST_TEST(printable(r.err) ==
               printable("asynchat: --backend: asyncore: io_uring unavailable: Operation not permitted\n"));
    BOOST_TEST(printable(r.out) == "");

    const auto help = run_program({DENY_IO_URING_PATH, ASYNCHAT_PATH, "serve", "echo", "--help"});
    BOOST_TEST(help.out.find("{select,poll,epoll,") != std::string::npos);
    BOOST_TEST(help.out.find("io_uring") == std::string::npos, "--help lists a backend that cannot run");

    serve_process server({DENY_IO_URING_PATH, ASYNCHAT_PATH, "serve", "echo"});
    const fd client = connect_loopback(server.port());
    require_echo(client.get(), "served without io_uring\r\n");
    server.stop();
}
#endif

BOOST_AUTO_TEST_SUITE_END()
