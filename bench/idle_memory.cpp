// User-space memory per idle async_chat connection. A child process opens N TCP connections to this process's
// listener and holds them open; this process accepts each into an async_chat channel with a "\r\n" terminator
// (registered with the backend, waiting for input) and reports how much its memory grew: the resident set (VmRSS)
// and the heap in use (mallinfo2), each divided by N. Prints one CSV line:
//   impl,backend,connections,rss_bytes_per_conn,heap_bytes_per_conn
// With --spoken, every connection first sends one short line, and the figure is taken once all of them have been
// read: the memory of connections that said something and went quiet (the Asio completion design keeps a read,
// and its buffer, queued on those; impl reads "c++ spoken").
//
//   idle_memory [--connections N] [--backend NAME] [--spoken]
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <asynchat/async_chat.hpp>
#include <asyncore/asyncore.hpp>
#ifdef ASYNCHAT_HAVE_ASIO
#include <asynchat/asio.hpp>
#endif

namespace {

long rss_bytes() {
    std::ifstream status("/proc/self/status");
    std::string key;
    long kb = 0;
    while (status >> key) {
        if (key == "VmRSS:") {
            status >> kb;
            return kb * 1024;
        }
        status.ignore(4096, '\n');
    }
    return 0;
}

std::size_t lines_read = 0;

struct idle_chat final : asynchat::async_chat {
    explicit idle_chat(asyncore::socket s, asyncore::socket_map* map) : async_chat(std::move(s), map) {
        set_terminator("\r\n");
    }
    void collect_incoming_data(std::string_view) override {}
    void found_terminator() override { ++lines_read; }
};

struct acceptor final : asyncore::dispatcher {
    std::size_t accepted = 0;
    explicit acceptor(asyncore::socket_map* map) : dispatcher(map) {
        create_socket(AF_INET);
        set_reuse_addr();
        bind(asyncore::address::ipv4("127.0.0.1", 0));
        listen(4096);
    }
    void handle_accepted(asyncore::socket sock, asyncore::address) override {
        asyncore::make<idle_chat>(std::move(sock), &map());
        ++accepted;
    }
};

} // namespace

int main(int argc, char** argv) {
    std::size_t n = 10'000;
    std::string backend = "epoll";
    bool spoken = false;
#ifdef ASYNCHAT_HAVE_ASIO
    asynchat::asio_transport::register_backend(); // --backend asio, asio-readiness
#endif
    for (int i = 1; i < argc; i += 2) {
        const std::string opt = argv[i];
        if (opt == "--spoken") {
            spoken = true;
            --i;
        }
        else if (i + 1 >= argc) {
            std::fprintf(stderr, "idle_memory: %s needs a value\n", opt.c_str());
            return 2;
        }
        else if (opt == "--connections") n = std::strtoull(argv[i + 1], nullptr, 10);
        else if (opt == "--backend") backend = argv[i + 1];
        else {
            std::fprintf(stderr, "idle_memory: unknown option %s\n", opt.c_str());
            return 2;
        }
    }
    asyncore::socket_map map;
    auto server = asyncore::make<acceptor>(&map);
    const auto where = server->sock().getsockname();

    int release[2];
    if (::pipe(release) != 0) return 1;
    const pid_t child = ::fork();
    if (child == 0) {
        ::close(release[1]);
        std::vector<int> held;
        for (std::size_t i = 0; i < n; ++i) {
            int fd = ::socket(AF_INET, SOCK_STREAM, 0);
            if (fd < 0 || ::connect(fd, where.data(), where.size()) != 0) _exit(1);
            held.push_back(fd);
        }
        if (spoken)
            for (int fd : held)
                if (::write(fd, "hello\r\n", 7) != 7) _exit(1);
        char byte;
        [[maybe_unused]] auto r = ::read(release[0], &byte, 1); // until the parent has measured
        _exit(0);
    }
    ::close(release[0]);

    // Settle what the loop allocates once (poller, event arrays) before the baseline.
    map.run_pass(std::chrono::milliseconds(0), backend);
    const long rss0 = rss_bytes();
    const auto heap0 = mallinfo2().uordblks;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while ((server->accepted < n || (spoken && lines_read < n)) && std::chrono::steady_clock::now() < deadline)
        map.run_pass(std::chrono::milliseconds(100), backend);
    map.run_pass(std::chrono::milliseconds(0), backend); // register the last ones' interest
    const long rss1 = rss_bytes();
    const auto heap1 = mallinfo2().uordblks;
    ::close(release[1]);
    int status = 0;
    ::waitpid(child, &status, 0);
    if (server->accepted != n || (spoken && lines_read != n)) {
        std::fprintf(stderr, "idle_memory: accepted %zu of %zu connections, read %zu lines\n", server->accepted, n,
                     lines_read);
        return 1;
    }
    std::printf("%s,%s,%zu,%.0f,%.0f\n", spoken ? "c++ spoken" : "c++", backend.c_str(), n,
                double(rss1 - rss0) / double(n),
                double(heap1 - heap0) / double(n));
}
