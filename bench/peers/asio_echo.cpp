// The line echo as a Boost.Asio user writes it: one io_context on one thread, a session per connection that reads
// with async_read_until('\n') and answers each line with async_write. Idiomatic, not tuned: this is the peer a user
// would pick instead of asynchat-cpp's Asio transport.
//
//   peer_asio_echo [--host 127.0.0.1] [--port 0]
//
// Prints "listening on HOST:PORT" first; exits 0 on SIGINT/SIGTERM.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>, which C++20 mode exposes.
#include <utility>

#include <boost/asio.hpp>

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// A line longer than this ends its session (async_read_until fails with not_found), as the other peers bound it.
constexpr std::size_t max_line = 1 << 20;

class session : public std::enable_shared_from_this<session> {
public:
    explicit session(tcp::socket socket) : socket_(std::move(socket)), buffer_(max_line) {}
    void start() { read_line(); }

private:
    void read_line() {
        asio::async_read_until(socket_, buffer_, '\n',
                               [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
                                   if (!ec) self->write_line(n);
                               });
    }
    void write_line(std::size_t n) {
        asio::async_write(socket_, asio::buffer(buffer_.data(), n),
                          [self = shared_from_this()](boost::system::error_code ec, std::size_t written) {
                              if (ec) return;
                              self->buffer_.consume(written);
                              self->read_line();
                          });
    }

    tcp::socket socket_;
    asio::streambuf buffer_;
};

void accept(tcp::acceptor& acceptor) {
    acceptor.async_accept([&acceptor](boost::system::error_code ec, tcp::socket socket) {
        if (!ec) std::make_shared<session>(std::move(socket))->start();
        accept(acceptor);
    });
}

} // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    unsigned short port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--host"))
            host = argv[i + 1];
        else if (!std::strcmp(argv[i], "--port"))
            port = static_cast<unsigned short>(std::stoi(argv[i + 1]));
        else {
            std::fprintf(stderr, "asio_echo: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    try {
        asio::io_context io;
        tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address(host), port));
        std::cout << "listening on " << host << ':' << acceptor.local_endpoint().port() << std::endl;
        asio::signal_set signals(io, SIGINT, SIGTERM);
        signals.async_wait([&io](boost::system::error_code, int) { io.stop(); });
        accept(acceptor);
        io.run();
    } catch (const std::exception& e) {
        std::cerr << "asio_echo: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
