// The "basic HTTP client" of the Python asyncore documentation:
//
//     class HTTPClient(asyncore.dispatcher):
//         def __init__(self, host, path):
//             asyncore.dispatcher.__init__(self)
//             self.create_socket()
//             self.connect((host, 80))
//             self.buffer = bytes('GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' % (path, host), 'ascii')
//         def handle_connect(self): pass
//         def handle_close(self): self.close()
//         def handle_read(self): print(self.recv(8192))
//         def writable(self): return (len(self.buffer) > 0)
//         def handle_write(self):
//             sent = self.send(self.buffer)
//             self.buffer = self.buffer[sent:]
//
// Usage: http_client HOST PORT [PATH]. The response goes to stdout byte for byte (Python prints the repr of each
// chunk; raw bytes are what a shell user wants to pipe on). Exits 0 once the server has closed the connection,
// 1 if the connection failed, 2 on bad arguments.
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include <asyncore/asyncore.hpp>

namespace {

class http_client : public asyncore::dispatcher {
public:
    http_client(std::string_view host, std::uint16_t port, std::string_view path) {
        const auto addr = asyncore::address::inet(host, port);
        // Python's create_socket() defaults to AF_INET; taking the resolved family lets "::1" work too.
        create_socket(addr.family(), SOCK_STREAM);
        connect(addr);
        buffer_ = "GET " + std::string(path) + " HTTP/1.0\r\nHost: " + std::string(host) + "\r\n\r\n";
    }

    void handle_connect() override {}

    void handle_close() override { close(); }

    void handle_read() override {
        const std::string data = recv(8192);
        std::cout.write(data.data(), static_cast<std::streamsize>(data.size()));
    }

    // buffer_ only shrinks in handle_write, after which the loop asks again, so no refresh_interest() is needed.
    bool writable() override { return !buffer_.empty(); }

    void handle_write() override {
        const std::size_t sent = send(buffer_);
        buffer_.erase(0, sent);
    }

    // Python's default prints a traceback and closes; the exit status is how a command-line caller learns of it.
    void handle_error() override {
        std::cerr << "http_client: " << asyncore::compact_exception() << '\n';
        failed = true;
        close();
    }

    bool failed = false;

private:
    std::string buffer_;
};

bool parse_port(std::string_view text, std::uint16_t& port) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || value > 65535) return false;
    port = static_cast<std::uint16_t>(value);
    return true;
}

} // namespace

int main(int argc, char** argv) {
    std::uint16_t port = 0;
    if (argc < 3 || argc > 4 || !parse_port(argv[2], port)) {
        std::cerr << "usage: http_client HOST PORT [PATH]\n";
        return 2;
    }
    const std::string_view path = argc == 4 ? argv[3] : "/";
    try {
        auto client = asyncore::make<http_client>(argv[1], port, path);
        asyncore::loop();
        std::cout.flush();
        return client->failed || !std::cout ? 1 : 0;
    } catch (const std::exception& e) {
        std::cerr << "http_client: " << e.what() << '\n';
        return 1;
    }
}
