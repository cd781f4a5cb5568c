// The output engine: producers and the output_queue that async_chat's push / push_with_producer /
// close_when_done / initiate_send are built on, driven by a simulated writev transport.
#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <asynchat/output_queue.hpp>
#include <asynchat/producers.hpp>

#include "chat_test_util.hpp"

using namespace chat_test;
using asynchat::callable_producer;
using asynchat::file_producer;
using asynchat::output_queue;
using asynchat::simple_producer;

namespace {

// One writev: gather within the limits, "write" at most accept of the gathered bytes, consume them.
std::string write_once(output_queue& q, int max_iov, std::size_t max_bytes, std::size_t accept = SIZE_MAX) {
    std::vector<iovec> iov(static_cast<std::size_t>(std::max(max_iov, 0)) + 1);
    const std::size_t n = q.gather(iov.data(), max_iov, max_bytes);
    BOOST_REQUIRE(n <= static_cast<std::size_t>(std::max(max_iov, 0)));
    std::string gathered;
    for (std::size_t i = 0; i < n; ++i) {
        BOOST_REQUIRE(iov[i].iov_len > 0);
        gathered.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
    }
    BOOST_REQUIRE(gathered.size() <= max_bytes);
    gathered.resize(std::min(gathered.size(), accept));
    q.consume(gathered.size());
    return gathered;
}

// Writes until gather hands out nothing more (the queue is empty or at its close marker).
std::string drain(output_queue& q, int max_iov = 16, std::size_t max_bytes = 65536) {
    std::string out;
    for (;;) {
        const std::string w = write_once(q, max_iov, max_bytes);
        if (w.empty()) return out;
        out += w;
    }
}

// A producer whose chunks are given in advance; counts its more() calls.
struct scripted {
    std::vector<std::string> chunks;
    std::size_t calls = 0;
    std::unique_ptr<asynchat::producer> make() {
        return std::make_unique<callable_producer>([this] {
            return calls < chunks.size() ? chunks[calls++] : (++calls, std::string());
        });
    }
};

std::filesystem::path temp_file(const std::string& contents) {
    static int counter = 0;
    const auto path = std::filesystem::temp_directory_path() /
                      ("asynchat-chat-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::ofstream(path, std::ios::binary) << contents;
    return path;
}

std::string random_bytes(rng_t& rng, std::size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(pick(rng, 256));
    return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(producers)

// Python's simple_producer: buffer_size pieces, then b''.
BOOST_AUTO_TEST_CASE(simple_producer_chunks) {
    simple_producer p("hello world", 4);
    BOOST_TEST(p.more() == "hell");
    BOOST_TEST(p.more() == "o wo");
    BOOST_TEST(p.more() == "rld");
    BOOST_TEST(p.more() == "");
    BOOST_TEST(p.more() == "");
    simple_producer exact("abcd", 4);
    BOOST_TEST(exact.more() == "abcd");
    BOOST_TEST(exact.more() == "");
    simple_producer dflt(std::string(1000, 'x'));
    BOOST_TEST(dflt.more().size() == 512u);
    BOOST_TEST(dflt.more().size() == 488u);
    BOOST_TEST(dflt.more().empty());
    simple_producer none("");
    BOOST_TEST(none.more() == "");
    BOOST_CHECK_THROW(simple_producer("x", 0), std::invalid_argument);
    BOOST_TEST(!p.as_file_range());
    BOOST_CHECK_THROW(p.advance(1), std::logic_error);
}

BOOST_AUTO_TEST_CASE(file_producer_reads_in_chunks) {
    rng_t rng(7);
    const std::string data = random_bytes(rng, 200000);
    const auto path = temp_file(data);
    {
        file_producer p(path, 4096);
        const auto r0 = p.as_file_range();
        BOOST_REQUIRE(r0);
        BOOST_TEST(r0->fd == p.fd());
        BOOST_TEST(r0->offset == 0u);
        BOOST_TEST(r0->remaining == data.size());
        BOOST_TEST(p.more() == data.substr(0, 4096));
        BOOST_TEST((p.as_file_range() == asynchat::file_range{p.fd(), 4096, data.size() - 4096}));
        // What a sendfile(2) transport would do: send some bytes itself, then tell the producer.
        p.advance(10000);
        BOOST_TEST(p.as_file_range()->offset == 14096u);
        BOOST_TEST(p.more() == data.substr(14096, 4096));
        BOOST_CHECK_THROW(p.advance(data.size()), std::out_of_range);
        std::string rest;
        for (std::string c; !(c = p.more()).empty();) {
            BOOST_TEST(c.size() <= 4096u);
            rest += c;
        }
        BOOST_TEST((rest == data.substr(18192)));
        BOOST_TEST(p.as_file_range()->remaining == 0u);
    }

    // From a descriptor: starts at its current offset; borrowing leaves it open, adopting closes it.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    BOOST_REQUIRE(fd >= 0);
    BOOST_REQUIRE(::lseek(fd, 1000, SEEK_SET) == 1000);
    {
        file_producer p(fd, asynchat::fd_ownership::borrow, 65536);
        BOOST_TEST(p.as_file_range()->remaining == data.size() - 1000);
        BOOST_TEST((p.more() == data.substr(1000, 65536)));
    }
    BOOST_TEST(::fcntl(fd, F_GETFD) != -1);
    { file_producer p(fd, asynchat::fd_ownership::adopt); }
    BOOST_TEST(::fcntl(fd, F_GETFD) == -1);
    BOOST_TEST(errno == EBADF);

    std::filesystem::remove(path);
    BOOST_CHECK_THROW(file_producer{path}, std::system_error);
    BOOST_CHECK_THROW(file_producer(path.parent_path(), 0), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(file_producer_over_a_pipe) {
    int fds[2];
    BOOST_REQUIRE(::pipe(fds) == 0);
    BOOST_REQUIRE(::write(fds[1], "through a pipe", 14) == 14);
    ::close(fds[1]);
    output_queue q;
    q.push_with_producer(std::make_unique<file_producer>(fds[0], asynchat::fd_ownership::adopt, 4));
    BOOST_TEST(!q.front_file_range());   // not a regular file: no sendfile
    BOOST_TEST(drain(q) == "through a pipe");
    BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(output_queue_cases)

BOOST_AUTO_TEST_CASE(order_across_strings_producers_and_close_marker) {
    output_queue q;
    BOOST_TEST(q.empty());
    q.push("a");
    q.push_with_producer(std::make_unique<simple_producer>("bcd", 1));
    q.push("");   // dropped, as Python's initiate_send drops it
    q.push("e");
    scripted s{{"fg", "h"}};
    q.push_with_producer(s.make());
    q.push_with_producer(std::make_unique<simple_producer>(""));
    q.close_when_done();
    q.push("after");
    scripted late{{"never"}};
    q.push_with_producer(late.make());

    BOOST_TEST(drain(q, 2, 3) == "abcdefgh");
    BOOST_TEST(s.calls == 3u);          // "fg", "h", then the empty string that ends it
    BOOST_TEST(late.calls == 0u);       // nothing past the close marker is touched
    BOOST_TEST(q.close_reached());
    BOOST_TEST(!q.empty());
    BOOST_TEST(drain(q).empty());       // stays at the marker
    BOOST_TEST(q.pop_close_marker());
    BOOST_TEST(!q.close_reached());
    BOOST_TEST(!q.pop_close_marker());
    BOOST_TEST(drain(q) == "afternever");   // a handle_close that did not close lets the rest go, as in Python
    BOOST_TEST(late.calls == 2u);
    BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_CASE(close_marker_waits_for_every_byte) {
    output_queue q;
    q.push("hello world\nI'm not dead yet!\n");
    q.push("QUIT\n");
    q.close_when_done();
    BOOST_TEST(!q.close_reached());
    std::string out;
    while (!q.close_reached()) {
        const std::string w = write_once(q, 4, 1000, 3);
        BOOST_REQUIRE(!w.empty());
        out += w;
    }
    BOOST_TEST(out == "hello world\nI'm not dead yet!\nQUIT\n");
}

BOOST_AUTO_TEST_CASE(partial_consume_at_every_offset) {
    auto build = [](output_queue& q) {
        q.push("01234");
        q.push_with_producer(std::make_unique<simple_producer>("56789abc", 3));
        q.push("d");
        q.push_with_producer(std::make_unique<callable_producer>([n = 0]() mutable {
            return n++ < 3 ? std::string(static_cast<std::size_t>(n), static_cast<char>('w' + n)) : std::string();
        }));
        q.push("ef");
    };
    const std::string all = "0123456789abcdxyyzzzef";
    for (std::size_t k = 0; k <= all.size(); ++k) {
        for (std::size_t j = k; j <= all.size(); ++j) {
            output_queue q;
            build(q);
            std::string out;
            // Gather all, write k, then write up to j, then drain: every byte boundary is a consume boundary.
            while (out.size() < k) out += write_once(q, 64, 1 << 20, k - out.size());
            while (out.size() < j) out += write_once(q, 64, 1 << 20, j - out.size());
            out += drain(q, 1, 2);
            BOOST_TEST(out == all, "k=" << k << " j=" << j);
            BOOST_TEST(q.empty());
        }
    }
}

BOOST_AUTO_TEST_CASE(gather_bounds) {
    output_queue q;
    for (int i = 0; i < 10; ++i) q.push(std::string(10, static_cast<char>('a' + i)));
    iovec iov[16];
    BOOST_TEST(q.gather(iov, 0, 100) == 0u);
    BOOST_TEST(q.gather(iov, -1, 100) == 0u);
    BOOST_TEST(q.gather(iov, 4, 0) == 0u);

    BOOST_TEST(q.gather(iov, 3, 1000) == 3u);
    BOOST_TEST(std::string(static_cast<char*>(iov[2].iov_base), iov[2].iov_len) == std::string(10, 'c'));

    BOOST_TEST(q.gather(iov, 16, 25) == 3u);   // 10 + 10 + 5
    BOOST_TEST(iov[2].iov_len == 5u);
    q.consume(25);
    BOOST_TEST(q.gather(iov, 1, 100) == 1u);   // the rest of 'c'
    BOOST_TEST(std::string(static_cast<char*>(iov[0].iov_base), iov[0].iov_len) == "ccccc");
    BOOST_TEST(q.ready_bytes() == 75u);
    BOOST_CHECK_THROW(q.consume(76), std::out_of_range);
    BOOST_TEST(q.ready_bytes() == 75u);   // unchanged by the refused consume
}

// No producer is read more than max_bytes ahead of what was written, and none at all while enough is ready.
BOOST_AUTO_TEST_CASE(gather_pulls_lazily) {
    output_queue q;
    q.push("abcdef");
    std::size_t calls = 0;
    q.push_with_producer(std::make_unique<callable_producer>([&] {
        ++calls;
        return std::string(7, 'p');
    }));
    iovec iov[64];
    BOOST_TEST(q.gather(iov, 8, 3) == 1u);
    BOOST_TEST(calls == 0u);
    BOOST_TEST(q.gather(iov, 1, 100) == 1u);   // no iovec slot for more
    BOOST_TEST(calls == 0u);
    for (std::size_t max_bytes : {1, 7, 8, 50, 1000}) {
        q.gather(iov, 64, max_bytes);
        BOOST_TEST(q.ready_bytes() < std::max<std::size_t>(max_bytes, 6) + 7, "max_bytes=" << max_bytes);
        BOOST_TEST(q.ready_bytes() == 6 + 7 * calls);
    }
    q.consume(q.ready_bytes());
    BOOST_TEST(q.ready_bytes() == 0u);
    const std::size_t before = calls;
    BOOST_TEST(q.gather(iov, 64, 20) == 3u);   // 7 + 7 + 6 of the third chunk
    BOOST_TEST(calls == before + 3);
}

// Iovecs point into the queue's strings; pushes (even of small, in-object strings) must not move them.
BOOST_AUTO_TEST_CASE(iovecs_survive_pushes) {
    output_queue q;
    q.push("x");
    q.push("yz");
    iovec iov[2];
    BOOST_REQUIRE(q.gather(iov, 2, 10) == 2u);
    for (int i = 0; i < 1000; ++i) q.push(std::string(1 + i % 20, 'q'));
    q.push_with_producer(std::make_unique<simple_producer>("p"));
    for (int i = 0; i < 100; ++i) q.push("s");
    BOOST_TEST(std::string(static_cast<char*>(iov[0].iov_base), iov[0].iov_len) == "x");
    BOOST_TEST(std::string(static_cast<char*>(iov[1].iov_base), iov[1].iov_len) == "yz");
}

BOOST_AUTO_TEST_CASE(producers_with_varying_chunk_sizes) {
    rng_t rng(99);
    for (int round = 0; round < 50; ++round) {
        output_queue q;
        std::string expect;
        scripted prods[4];
        for (auto& p : prods) {
            for (std::size_t n = pick(rng, 8); n-- > 0;) p.chunks.push_back(random_bytes(rng, 1 + pick(rng, 300)));
            const std::string pre = random_bytes(rng, pick(rng, 40));
            q.push(pre);
            expect += pre;
            for (const auto& c : p.chunks) expect += c;
            q.push_with_producer(p.make());
        }
        std::string out;
        while (true) {
            const int max_iov = 1 + static_cast<int>(pick(rng, 8));
            const std::size_t max_bytes = 1 + pick(rng, 1000);
            iovec iov[8];
            const std::size_t n = q.gather(iov, max_iov, max_bytes);
            if (n == 0) break;
            std::size_t total = 0;
            for (std::size_t i = 0; i < n; ++i) total += iov[i].iov_len;
            BOOST_REQUIRE(total <= max_bytes);
            const std::size_t accept = pick(rng, total + 1);   // a short write, possibly of nothing
            std::size_t left = accept;
            for (std::size_t i = 0; i < n && left; ++i) {
                const std::size_t k = std::min(left, iov[i].iov_len);
                out.append(static_cast<char*>(iov[i].iov_base), k);
                left -= k;
            }
            q.consume(accept);
        }
        BOOST_TEST((out == expect), "round " << round);
        BOOST_TEST(q.empty());
    }
}

// Random interleavings of every operation against a plain string model.
BOOST_AUTO_TEST_CASE(random_operations_against_a_model) {
    const std::uint64_t seed = 31337;
    for (std::uint64_t round = 0; round < 300; ++round) {
        rng_t rng(seed + round);
        output_queue q;
        std::string model_sent, model_queued;   // queued: pushed but not written, up to the close marker
        std::string after_close;                // pushed after the marker
        bool closing = false;
        std::string sent;
        // The "read buffer" push_borrowed refers to: refilled (overwritten) once keep_borrowed has run, as a
        // transport reuses its receive buffer after each read.
        std::string read_buffer = random_bytes(rng, 4096);
        for (int op = 0; op < 200; ++op) {
            std::string& dest = closing ? after_close : model_queued;
            switch (pick(rng, 10)) {
            case 8: {
                const std::size_t at = pick(rng, read_buffer.size());
                const std::size_t n = std::min(read_buffer.size() - at, pick(rng, 10) == 0 ? 3000 : pick(rng, 40));
                const std::string_view view(read_buffer.data() + at, n);
                dest += view;
                q.push_borrowed(view);
                break;
            }
            case 9: {
                BOOST_REQUIRE(q.keep_borrowed());
                BOOST_REQUIRE(q.borrowed_pieces() == 0u);
                for (auto& c : read_buffer) c = static_cast<char>(pick(rng, 256));
                break;
            }
            case 0: {
                std::string s = random_bytes(rng, pick(rng, 20));
                dest += s;
                q.push(std::move(s));
                break;
            }
            case 7: {
                // Copied into the tail chunk; now and then longer than a chunk, or filling one to the brim.
                const std::size_t n = pick(rng, 10) == 0 ? output_queue::chunk_size - 5 + pick(rng, 10)
                                                         : pick(rng, 20);
                const std::string s = random_bytes(rng, n);
                dest += s;
                q.push_bytes(s);
                break;
            }
            case 1: {
                std::string s = random_bytes(rng, pick(rng, 60));
                dest += s;
                q.push_with_producer(std::make_unique<simple_producer>(s, 1 + pick(rng, 16)));
                break;
            }
            case 2:
                if (!closing && pick(rng, 4) == 0) {
                    q.close_when_done();
                    closing = true;
                }
                break;
            default: {
                const std::string w = write_once(q, 1 + static_cast<int>(pick(rng, 6)), 1 + pick(rng, 50),
                                                 pick(rng, 60));
                sent += w;
                if (closing && q.close_reached()) {
                    BOOST_REQUIRE(sent.size() == model_sent.size() + model_queued.size());
                    BOOST_REQUIRE(q.pop_close_marker());
                    model_sent += model_queued;
                    model_queued = std::exchange(after_close, {});
                    closing = false;
                }
            }
            }
        }
        BOOST_REQUIRE(q.keep_borrowed());
        read_buffer.assign(read_buffer.size(), '#');
        if (!closing) q.close_when_done();
        sent += drain(q, 3, 17);
        BOOST_TEST(q.close_reached());
        BOOST_TEST((sent == model_sent + model_queued), "seed " << seed << " round " << round);
        q.clear();
        BOOST_TEST(q.empty());
    }
}

// push_borrowed: the bytes are gathered where they are (no copy); keep_borrowed copies only what is unsent, and
// after it the borrowed memory may change without changing what is sent.
BOOST_AUTO_TEST_CASE(borrowed_bytes_go_out_in_place_and_are_kept_when_unsent) {
    output_queue q;
    std::string buffer(20000, 'a');
    for (std::size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<char>('a' + i % 26);
    const std::string original = buffer;
    q.push_bytes("head:");
    q.push_borrowed(std::string_view(buffer).substr(0, 18000));
    q.push_bytes("\n");
    BOOST_TEST(q.borrowed_pieces() == 1u);
    BOOST_TEST(q.ready_bytes() == 5u + 18000u + 1u);
    iovec iov[8];
    BOOST_REQUIRE(q.gather(iov, 8, 1 << 20) == 3u);
    BOOST_TEST(iov[1].iov_base == static_cast<void*>(buffer.data()));  // sent from the caller's buffer
    BOOST_TEST(iov[1].iov_len == 18000u);
    q.consume(5 + 7000);   // a short write: part of the borrowed piece is sent
    BOOST_REQUIRE(q.keep_borrowed());
    BOOST_TEST(q.borrowed_pieces() == 0u);
    buffer.assign(buffer.size(), '#');   // the read's buffer reused
    BOOST_TEST(q.ready_bytes() == 11000u + 1u);
    BOOST_TEST(drain(q) == original.substr(7000, 11000) + "\n");
    BOOST_TEST(q.empty());
    BOOST_TEST(q.keep_borrowed()); // nothing borrowed: nothing to do
}

BOOST_AUTO_TEST_CASE(borrowed_bytes_behind_a_producer_are_copied_at_once) {
    output_queue q;
    std::string buffer = "borrowed bytes";
    q.push_with_producer(std::make_unique<simple_producer>("from a producer;", 4));
    q.push_borrowed(buffer);
    BOOST_TEST(q.borrowed_pieces() == 0u);
    buffer.assign(buffer.size(), '#');
    BOOST_TEST(drain(q) == "from a producer;borrowed bytes");
}

BOOST_AUTO_TEST_CASE(clear_forgets_borrowed_bytes) {
    output_queue q;
    const std::string buffer = "abc";
    q.push_borrowed(buffer);
    q.clear();
    BOOST_TEST(q.borrowed_pieces() == 0u);
    BOOST_TEST(q.empty());
}

// push_bytes: the small pushes made between two sends share one chunk, so they leave as one piece.
BOOST_AUTO_TEST_CASE(pushed_bytes_share_one_chunk) {
    output_queue q;
    std::string expect;
    for (int i = 0; i < 200; ++i) {
        const std::string line = "line " + std::to_string(i) + "\n";
        q.push_bytes(line);
        expect += line;
    }
    q.push_bytes("");   // dropped
    BOOST_TEST(q.ready_bytes() == expect.size());
    iovec iov[256];
    BOOST_REQUIRE(q.gather(iov, 256, 1 << 20) == 1u);
    BOOST_TEST(std::string(static_cast<const char*>(iov[0].iov_base), iov[0].iov_len) == expect);
    q.consume(expect.size());
    BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_CASE(pushed_bytes_keep_their_place_among_strings_and_producers) {
    output_queue q;
    q.push_bytes("a");
    q.push(std::string("b"));   // a string of its own: the next bytes start a new chunk after it
    q.push_bytes("c");
    q.push_bytes("d");
    q.push_with_producer(std::make_unique<simple_producer>("ef", 1));
    q.push_bytes("g");   // behind the producer: waits for it
    q.close_when_done();
    q.push_bytes("h");
    iovec iov[16];
    BOOST_REQUIRE(q.gather(iov, 3, 1 << 20) == 3u);   // "a", "b", "cd"
    BOOST_TEST(iov[2].iov_len == 2u);
    q.consume(4);
    BOOST_TEST(drain(q) == "efg");
    BOOST_TEST(q.pop_close_marker());
    BOOST_TEST(drain(q) == "h");
}

BOOST_AUTO_TEST_CASE(pushed_bytes_at_the_chunk_boundary) {
    output_queue q;
    const std::string full(output_queue::chunk_size, 'f');
    q.push_bytes(full);                                   // exactly one chunk
    q.push_bytes("x");                                    // no room left: a second chunk
    q.push_bytes(std::string(output_queue::chunk_size + 1, 'o'));   // longer than a chunk: a string of its own
    q.push_bytes("y");                                    // a chunk again
    iovec iov[8];
    BOOST_REQUIRE(q.gather(iov, 8, 1 << 20) == 4u);
    BOOST_TEST(iov[0].iov_len == output_queue::chunk_size);
    BOOST_TEST(iov[1].iov_len == 1u);
    BOOST_TEST(iov[2].iov_len == output_queue::chunk_size + 1);
    BOOST_TEST(iov[3].iov_len == 1u);
    BOOST_TEST(drain(q) == full + "x" + std::string(output_queue::chunk_size + 1, 'o') + "y");
}

// A transport's write may be in flight (gathered, not yet consumed) while handlers push more: the chunk grows
// only within its capacity, so the gathered bytes never move (ASan would see a read of freed memory otherwise).
BOOST_AUTO_TEST_CASE(gathered_bytes_stay_put_while_the_chunk_grows) {
    output_queue q;
    q.push_bytes("abc");
    iovec iov[1];
    BOOST_REQUIRE(q.gather(iov, 1, 1 << 20) == 1u);
    std::string expect = "abc";
    for (int i = 0; i < 5000; ++i) {   // fills this chunk and several more
        const std::string s = std::to_string(i) + ",";
        q.push_bytes(s);
        expect += s;
    }
    BOOST_TEST(std::string(static_cast<const char*>(iov[0].iov_base), iov[0].iov_len) == "abc");
    q.consume(1);
    BOOST_TEST(drain(q) == expect.substr(1));
}

// A sent chunk is kept for the next push on this thread (no allocation per burst), and none stays in the queue.
BOOST_AUTO_TEST_CASE(sent_chunks_are_reused) {
    output_queue q;
    q.push_bytes("first burst");
    iovec iov[1];
    BOOST_REQUIRE(q.gather(iov, 1, 1 << 20) == 1u);
    const void* chunk = iov[0].iov_base;
    q.consume(iov[0].iov_len);
    BOOST_TEST(q.empty());
    output_queue other;   // any queue of this thread
    other.push_bytes("second burst");
    BOOST_REQUIRE(other.gather(iov, 1, 1 << 20) == 1u);
    BOOST_TEST(iov[0].iov_base == chunk);
    other.consume(iov[0].iov_len);
}

BOOST_AUTO_TEST_CASE(clear_discards_everything) {
    output_queue q;
    q.push("abc");
    q.push_with_producer(std::make_unique<simple_producer>("def"));
    q.close_when_done();
    iovec iov[4];
    BOOST_TEST(q.gather(iov, 4, 100) == 2u);
    q.clear();
    BOOST_TEST(q.empty());
    BOOST_TEST(q.ready_bytes() == 0u);
    BOOST_TEST(!q.close_reached());
    BOOST_TEST(q.gather(iov, 4, 100) == 0u);
    q.push("new");
    BOOST_TEST(drain(q) == "new");
}

// Reentrancy from inside more(): pushes keep their order, clear() is safe, a nested gather is refused.
BOOST_AUTO_TEST_CASE(reentrant_calls_from_more) {
    {
        output_queue q;
        int n = 0;
        q.push_with_producer(std::make_unique<callable_producer>([&]() -> std::string {
            if (n++ > 0) return {};
            q.push("Z");
            return "a";
        }));
        q.push("b");
        BOOST_TEST(drain(q) == "abZ");
    }
    {
        output_queue q;
        q.push_with_producer(std::make_unique<callable_producer>([&]() -> std::string {
            q.clear();   // destroys nothing under its own feet: the queue holds the running producer aside
            return "lost";
        }));
        q.push("also lost");
        iovec iov[4];
        BOOST_TEST(q.gather(iov, 4, 100) == 0u);
        BOOST_TEST(q.empty());
    }
    {
        output_queue q;
        bool refused = false;
        q.push_with_producer(std::make_unique<callable_producer>([&]() -> std::string {
            iovec iov[1];
            try {
                q.gather(iov, 1, 1);
            } catch (const std::logic_error&) {
                refused = true;
            }
            return {};
        }));
        BOOST_TEST(drain(q).empty());
        BOOST_TEST(refused);
    }
    {
        // A producer that throws stays at the head and is asked again.
        output_queue q;
        int calls = 0;
        q.push_with_producer(std::make_unique<callable_producer>([&]() -> std::string {
            if (++calls == 1) throw std::runtime_error("disk on fire");
            return calls == 2 ? "ok" : "";
        }));
        iovec iov[1];
        BOOST_CHECK_THROW(q.gather(iov, 1, 10), std::runtime_error);
        BOOST_TEST(drain(q) == "ok");
    }
}

// What a sendfile(2) transport does: the file's bytes go straight from the range, the queue is told afterwards,
// and bytes already read from the file are written before the range is offered again.
BOOST_AUTO_TEST_CASE(sendfile_helpers) {
    rng_t rng(5);
    const std::string data = random_bytes(rng, 10000);
    const auto path = temp_file(data);
    int pipe_fds[2];
    BOOST_REQUIRE(::pipe(pipe_fds) == 0);
    auto sendfile_some = [&](const asynchat::file_range& r, std::size_t n) {
        off_t off = static_cast<off_t>(r.offset);
        const ssize_t sent = ::sendfile(pipe_fds[1], r.fd, &off, n);
        BOOST_REQUIRE(sent > 0);
        std::string got(static_cast<std::size_t>(sent), '\0');
        BOOST_REQUIRE(::read(pipe_fds[0], got.data(), got.size()) == sent);
        return got;
    };

    output_queue q;
    q.push("head");
    q.push_with_producer(std::make_unique<file_producer>(path, 1024));
    q.close_when_done();
    BOOST_TEST(!q.front_file_range());   // "head" goes first
    std::string out = write_once(q, 1, 4);
    BOOST_TEST(out == "head");

    auto r = q.front_file_range();
    BOOST_REQUIRE(r);
    BOOST_TEST(r->offset == 0u);
    BOOST_TEST(r->remaining == data.size());
    std::string chunk = sendfile_some(*r, 3000);
    q.consume_file(chunk.size());
    out += chunk;

    // Falling back to reading: a chunk read but only partly written keeps the range back until it is written.
    out += write_once(q, 1, 1024, 100);
    BOOST_TEST(!q.front_file_range());
    out += write_once(q, 1, 1024);
    r = q.front_file_range();
    BOOST_REQUIRE(r);
    BOOST_TEST(r->offset == out.size() - 4);
    BOOST_CHECK_THROW(q.consume_file(r->remaining + 1), std::out_of_range);

    while ((r = q.front_file_range())) {
        chunk = sendfile_some(*r, 4000);
        q.consume_file(chunk.size());
        out += chunk;
    }
    BOOST_TEST(q.close_reached());   // the finished producer is dropped at once
    BOOST_CHECK_THROW(q.consume_file(1), std::logic_error);
    BOOST_TEST((out == "head" + data));

    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    std::filesystem::remove(path);
}

// A channel that is never idle — pushes keep coming while sends drain the queue, and it never quite empties —
// must not keep a slot for every message ever pushed (the FIFO's head moves, and the space behind it used to be
// reclaimed only when the queue emptied: 32 bytes per message for as long as the channel stayed busy).
BOOST_AUTO_TEST_CASE(a_queue_that_never_empties_keeps_its_slots_bounded) {
    output_queue q;
    q.push("first");
    q.push_with_producer(std::make_unique<simple_producer>("p"));   // some items go through pending_ too
    std::size_t most = 0;
    for (int i = 0; i < 100000; ++i) {
        q.push("message " + std::to_string(i));
        iovec iov[4];
        const std::size_t n = q.gather(iov, 4, 1 << 20);
        BOOST_REQUIRE(n > 0u);
        q.consume(iov[0].iov_len);   // one item out per item in: the queue holds a few items throughout
        most = std::max(most, q.slot_capacity());
    }
    BOOST_TEST(!q.empty());
    BOOST_TEST(most <= 512u);
    // And the order is intact: what is left comes out oldest first.
    iovec iov[1];
    BOOST_REQUIRE(q.gather(iov, 1, 1 << 20) == 1u);
    BOOST_TEST(std::string(static_cast<const char*>(iov[0].iov_base), iov[0].iov_len).starts_with("message "));
}

BOOST_AUTO_TEST_SUITE_END()
