// An asynchat server inside an ordinary Boost.Asio program: one io_context runs both a native Asio timer and an
// async_chat line server, on one thread, with io.run() — no asyncore::loop(). The server's handlers are the same
// ones that run on the select/poll/epoll backends.
//
//   asio_host [PORT]      prints "listening on 127.0.0.1:PORT", answers "upper: LINE" to each line, and prints a
//                         tick from a native steady_timer every second; SIGINT/SIGTERM end it.
#include <cctype>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <asynchat/asio.hpp>
#include <asynchat/async_chat.hpp>
#include <asyncore/asyncore.hpp>

namespace {

class upper_chat : public asynchat::async_chat {
public:
    upper_chat(asyncore::socket sock, asyncore::socket_map* map) : async_chat(std::move(sock), map) {
        set_terminator("\n");
        set_max_message(4096);
    }
    void collect_incoming_data(std::string_view data) override { line_.append(data); }
    void found_terminator() override {
        for (auto& c : line_) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        push("upper: " + line_ + "\n");
        line_.clear();
    }

private:
    std::string line_;
};

class server : public asyncore::dispatcher {
public:
    server(asyncore::socket_map* map, std::uint16_t port) : dispatcher(map) {
        create_socket(AF_INET);
        set_reuse_addr();
        bind(asyncore::address::ipv4("127.0.0.1", port));
        listen(128);
    }
    void handle_accepted(asyncore::socket sock, asyncore::address) override {
        asyncore::make<upper_chat>(std::move(sock), &map());
    }
};

// A native Asio periodic task, for company.
void tick(boost::asio::steady_timer& timer, int n) {
    timer.expires_after(std::chrono::seconds(1));
    timer.async_wait([&timer, n](boost::system::error_code ec) {
        if (ec) return;
        std::cout << "tick " << n << std::endl;
        tick(timer, n + 1);
    });
}

} // namespace

int main(int argc, char** argv) {
    const auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 0);
    boost::asio::io_context io;
    asyncore::socket_map map;
    asynchat::asio_transport::host host(io, map);

    auto srv = asyncore::make<server>(&map, port);
    std::cout << "listening on " << srv->sock().getsockname() << std::endl;

    boost::asio::steady_timer timer(io);
    tick(timer, 1);
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int) { io.stop(); });
    io.run();
}
