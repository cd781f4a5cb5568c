// A length-prefixed protocol end to end: a server and a client in one process, over loopback, both async_chat
// channels framed by asynchat::length_prefixed (a 4-byte big-endian length, then the payload, as Twisted's
// Int32StringReceiver). The client sends each command-line argument as one frame with push_length_prefixed; the
// server echoes each frame it reads the same way; the client prints each echo and closes after the last, and the
// loop ends when every channel has.
//
// Payloads are bytes, not lines: "\r\n" or anything else inside a message needs no escaping, and a peer
// announcing a frame over largest_frame (max_message) is refused before any of its payload is read.
//
// Usage: length_prefixed_echo [--backend NAME] MESSAGE...
// Output: "listening on 127.0.0.1:PORT", then "echo N: MESSAGE" for each message, in order; exit status 0.
#include <cstddef>
#include <iostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asynchat/async_chat.hpp>
#include <asyncore/asyncore.hpp>
#ifdef ASYNCHAT_HAVE_ASIO
#include <asynchat/asio.hpp> // only to offer --backend asio: the channels do not change
#endif

namespace {

constexpr std::size_t largest_frame = 1 << 20; // max_message: a longer announced frame closes the channel

// The server side of one connection: every frame comes back as it came.
class echo_channel : public asynchat::async_chat {
public:
    explicit echo_channel(asyncore::socket sock) : async_chat(std::move(sock)) {
        set_terminator(asynchat::length_prefixed::make(4)); // each channel has a rule object of its own
        set_max_message(largest_frame);
    }
    void collect_incoming_data(std::string_view data) override { frame_.append(data); }
    void found_terminator() override {
        push_length_prefixed(frame_); // the same format: 4 bytes, big-endian
        frame_.clear();
    }

private:
    std::string frame_;
};

class echo_server : public asyncore::dispatcher {
public:
    echo_server() {
        const auto addr = asyncore::address::inet("127.0.0.1", 0);
        create_socket(addr.family(), SOCK_STREAM);
        set_reuse_addr();
        bind(addr);
        listen(5);
    }
    void handle_accepted(asyncore::socket sock, asyncore::address) override {
        asyncore::make<echo_channel>(std::move(sock));
    }
};

// Sends the messages, prints the echoes, and when the last is back closes itself and the server.
class client : public asynchat::async_chat {
public:
    client(const asyncore::address& server, std::vector<std::string> messages, asyncore::dispatcher& listener)
        : messages_(std::move(messages)), listener_(listener) {
        create_socket(server.family(), SOCK_STREAM);
        connect(server);
        set_terminator(asynchat::length_prefixed::make(4));
        set_max_message(largest_frame);
        for (const auto& m : messages_) push_length_prefixed(m);
        if (messages_.empty()) finish();
    }
    void collect_incoming_data(std::string_view data) override { echo_.append(data); }
    void found_terminator() override {
        std::cout << "echo " << ++received_ << ": " << echo_ << '\n';
        if (echo_ != messages_[received_ - 1]) failed = true;
        echo_.clear();
        if (received_ == messages_.size()) finish();
    }
    bool failed = false;

private:
    void finish() {
        listener_.close(); // no more connections; the server's channel closes when this one does
        close();
    }

    std::vector<std::string> messages_;
    asyncore::dispatcher& listener_;
    std::string echo_;
    std::size_t received_ = 0;
};

} // namespace

int main(int argc, char** argv) {
#ifdef ASYNCHAT_HAVE_ASIO
    asynchat::asio_transport::register_backend();
#endif
    std::string backend;
    std::vector<std::string> messages;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--backend" && i + 1 < argc) backend = argv[++i];
        else messages.emplace_back(arg);
    }
    try {
        auto server = asyncore::make<echo_server>();
        const auto addr = server->sock().getsockname();
        std::cout << "listening on " << addr << std::endl;
        auto c = asyncore::make<client>(addr, std::move(messages), *server);
        asyncore::loop({.backend = backend}); // until every channel has closed
        return c->failed ? 1 : 0;
    } catch (const std::exception& e) {
        std::cerr << "length_prefixed_echo: " << e.what() << '\n';
        return 1;
    }
}
