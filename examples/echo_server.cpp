// The echo server of the Python asyncore documentation:
//
//     class EchoHandler(asyncore.dispatcher_with_send):
//         def handle_read(self):
//             data = self.recv(8192)
//             if data:
//                 self.send(data)
//
//     class EchoServer(asyncore.dispatcher):
//         def __init__(self, host, port):
//             asyncore.dispatcher.__init__(self)
//             self.create_socket()
//             self.set_reuse_addr()
//             self.bind((host, port))
//             self.listen(5)
//         def handle_accepted(self, sock, addr):
//             print('Incoming connection from %s' % repr(addr))
//             handler = EchoHandler(sock)
//
// Usage: echo_server [--host H] [--port P] [--backend NAME]   (defaults: 127.0.0.1, 0 = any free port, the
// default backend). The first line on stdout is "listening on HOST:PORT" with the port actually bound, so a
// caller that asked for port 0 learns it. SIGINT and SIGTERM end it with status 0.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asyncore/asyncore.hpp>
#ifdef ASYNCHAT_HAVE_ASIO
#include <asynchat/asio.hpp> // only to offer --backend asio: the handlers above do not change
#endif

namespace {

class echo_handler : public asyncore::dispatcher_with_send {
public:
    using dispatcher_with_send::dispatcher_with_send;

    void handle_read() override {
        const std::string data = recv(8192);
        if (!data.empty()) send(data);
    }
};

class echo_server : public asyncore::dispatcher {
public:
    echo_server(std::string_view host, std::uint16_t port) {
        const auto addr = asyncore::address::inet(host, port);
        create_socket(addr.family(), SOCK_STREAM);
        set_reuse_addr();
        bind(addr);
        listen(5);
    }

    void handle_accepted(asyncore::socket sock, asyncore::address addr) override {
        // Flushed so that a caller reading our stdout through a pipe sees each connection as it happens.
        std::cout << "Incoming connection from " << addr << std::endl;
        // The map owns the handler from here on, as Python's `handler = EchoHandler(sock)` relies on.
        asyncore::make<echo_handler>(std::move(sock));
    }
};

bool parse_port(std::string_view text, std::uint16_t& port) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || value > 65535) return false;
    port = static_cast<std::uint16_t>(value);
    return true;
}

int usage() {
    std::cerr << "usage: echo_server [--host H] [--port P] [--backend NAME]\n";
    return 2;
}

} // namespace

int main(int argc, char** argv) {
#ifdef ASYNCHAT_HAVE_ASIO
    asynchat::asio_transport::register_backend();
#endif
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::string backend;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (i + 1 >= argc) return usage();
        const std::string_view value = argv[++i];
        if (arg == "--host") {
            host = value;
        } else if (arg == "--port") {
            if (!parse_port(value, port)) return usage();
        } else if (arg == "--backend") {
            backend = value;
        } else {
            return usage();
        }
    }

    // Checked before anything is bound so that a typo fails at once instead of after "listening on".
    const auto names = asyncore::backend_names();
    if (!backend.empty() && std::find(names.begin(), names.end(), backend) == names.end()) {
        std::cerr << "echo_server: unknown backend '" << backend << "'; available:";
        for (const auto& name : names) std::cerr << ' ' << name;
        std::cerr << '\n';
        return 2;
    }

    try {
        // Before "listening on" is printed: a caller may signal us as soon as it reads that line.
        asyncore::exit_on_signals();
        auto server = asyncore::make<echo_server>(host, port);
        std::cout << "listening on " << server->sock().getsockname() << std::endl;
        asyncore::loop({.backend = backend});
    } catch (const asyncore::exit_now&) {
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "echo_server: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
