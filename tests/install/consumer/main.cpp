// The smallest real use of the installed library: a listening dispatcher and a client in one socket_map, a few
// loop passes, success when the listener has been handed the connection.
#include <chrono>
#include <iostream>

#include <asyncore/asyncore.hpp>
#ifdef CONSUMER_HAVE_TLS
#include <asynchat/tls.hpp>
#endif

namespace {

class listener : public asyncore::dispatcher {
public:
    explicit listener(asyncore::socket_map& map) : dispatcher(&map) {
        create_socket(AF_INET, SOCK_STREAM);
        set_reuse_addr();
        bind(asyncore::address::ipv4("127.0.0.1", 0));
        listen(5);
    }
    void handle_accepted(asyncore::socket, asyncore::address peer) override {
        std::cout << "accepted " << peer << '\n';
        accepted = true;
    }
    bool accepted = false;
};

class client : public asyncore::dispatcher {
public:
    client(asyncore::socket_map& map, const asyncore::address& to) : dispatcher(&map) {
        create_socket(to.family(), SOCK_STREAM);
        connect(to);
    }
    // Write interest only to learn that the connect completed; nothing is sent.
    bool writable() override { return connecting(); }
    void handle_connect() override {}
    void handle_write() override {}
    void handle_read() override { recv(64); }
};

} // namespace

int main() {
    try {
        asyncore::socket_map map;
        auto server = asyncore::make<listener>(map);
        auto peer = asyncore::make<client>(map, server->sock().getsockname());
        for (int pass = 0; pass < 100 && !server->accepted; ++pass)
            asyncore::loop({.timeout = std::chrono::milliseconds(100), .map = &map, .count = 1});
        if (!server->accepted) {
            std::cerr << "consumer: the listener saw no connection\n";
            return 1;
        }
#ifdef CONSUMER_HAVE_TLS
        // A client engine has its ClientHello ready as soon as it is made: OpenSSL is linked and working.
        auto ctx = asynchat::tls::context::client({.ca_file = {}, .verify_peer = false, .alpn = {}});
        if (ctx->make_layer("localhost")->wire_pending().empty()) {
            std::cerr << "consumer: the TLS client engine made no ClientHello\n";
            return 1;
        }
#endif
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "consumer: " << e.what() << '\n';
        return 1;
    }
}
