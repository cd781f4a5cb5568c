// A whole server for a protocol of your own, on the library's serving setup (asynchat::serve): each line a client
// sends comes back in capitals. What the `asynchat` command does for its services — listening, a connection limit
// with a busy reply, an idle timeout, errors counted and logged, the "listening on" line, a graceful drain on
// SIGINT/SIGTERM — is here in a few lines.
//
//   serve_service [--port N] [--backend NAME] [--max-connections N]
//   $ printf 'hello\n' | nc -q1 127.0.0.1 PORT
//   HELLO
#include <cctype>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include <asyncore/asyncore.hpp>
#include <asynchat/line/line_receiver.hpp>
#include <asynchat/serve.hpp>
#include <asynchat/service_connection.hpp>
#ifdef ASYNCHAT_HAVE_ASIO
#include <asynchat/asio.hpp> // only to offer --backend asio
#endif

namespace {

// service_connection gives the channel its account with the service (connections, messages, errors, bytes), its
// idle timeout and its end on a failure; line_receiver frames the lines.
class shout_channel final : public asynchat::service_connection<asynchat::line::line_receiver> {
public:
    shout_channel(asyncore::socket sock, asynchat::service_stats* stats)
        : service_connection("shout", stats, std::move(sock)) {
        set_delimiter("\n");
        set_strip_cr(true);
        set_max_line_length(1024); // a longer line gets line_length_exceeded's default: the connection closes
        start_idle_timeout(std::chrono::seconds(60));
    }

    void line_received(std::string_view line) override {
        account().count_message();
        std::string reply(line);
        for (char& c : reply) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        push(reply + "\r\n");
    }
    // The server is stopping: say so, and close once it is sent.
    void handle_shutdown() override {
        push("BYE\r\n");
        close_when_done();
    }
};

} // namespace

int main(int argc, char** argv) {
#ifdef ASYNCHAT_HAVE_ASIO
    asynchat::asio_transport::register_backend();
#endif
    std::uint16_t port = 0;
    std::string backend{asyncore::default_backend()};
    std::size_t max_connections = 1000;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--port") port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
        else if (flag == "--backend") backend = argv[i + 1];
        else if (flag == "--max-connections") max_connections = std::strtoul(argv[i + 1], nullptr, 10);
        else {
            std::cerr << "usage: serve_service [--port N] [--backend NAME] [--max-connections N]\n";
            return 2;
        }
    }
    asynchat::service_stats stats;
    try {
        asynchat::serve({.name = "",
                         .where = asyncore::address::inet("127.0.0.1", port),
                         .accept = [&](asyncore::socket s) { asyncore::make<shout_channel>(std::move(s), &stats); },
                         .stats = &stats,
                         .max_connections = max_connections,
                         .over_capacity_reply = "ERR busy\r\n"},
                        {.backend = backend});
    } catch (const std::exception& e) {
        std::cerr << "serve_service: " << e.what() << '\n';
        return 1;
    }
    asyncore::close_all();
    std::cerr << "served " << stats.connections_accepted << " connections, " << stats.messages << " lines\n";
    return 0;
}
