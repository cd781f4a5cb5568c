// A whole server for a protocol of your own, on the library's serving setup (asynchat::serve): each line a client
// sends comes back in capitals. What the `asynchat` command does for its services — listening, a connection limit
// with a busy reply, an idle timeout, errors counted and logged, the "listening on" line, a graceful drain on
// SIGINT/SIGTERM — is here in a few lines; so is running on every core (--workers: one loop per thread, each
// connection handed to the least loaded).
//
//   serve_service [--port N] [--backend NAME] [--max-connections N] [--workers N]
//   $ printf 'hello\n' | nc -q1 127.0.0.1 PORT
//   HELLO
#include <cctype>
#include <algorithm>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

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
    unsigned workers = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--port") port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
        else if (flag == "--backend") backend = argv[i + 1];
        else if (flag == "--max-connections") max_connections = std::strtoul(argv[i + 1], nullptr, 10);
        else if (flag == "--workers") workers = static_cast<unsigned>(std::strtoul(argv[i + 1], nullptr, 10));
        else {
            std::cerr << "usage: serve_service [--port N] [--backend NAME] [--max-connections N] [--workers N]\n";
            return 2;
        }
    }
    // One service_stats per worker: each is written by its worker's loop only.
    std::vector<asynchat::service_stats> stats(std::max(1u, workers));
    try {
        asynchat::serve({.name = "",
                         .where = asyncore::address::inet("127.0.0.1", port),
                         .accept = {},
                         // Made on each worker's thread; the channel goes in that worker's loop. The shout
                         // channel shares nothing, so every worker can serve it.
                         .accept_for_worker =
                             [](unsigned, asynchat::service_stats* st) {
                                 return std::function<void(asyncore::socket)>(
                                     [st](asyncore::socket s) { asyncore::make<shout_channel>(std::move(s), st); });
                             },
                         .stats = stats.data(),
                         .max_connections = max_connections,
                         .over_capacity_reply = "ERR busy\r\n"},
                        {.backend = backend, .workers = workers});
    } catch (const std::exception& e) {
        std::cerr << "serve_service: " << e.what() << '\n';
        return 1;
    }
    asyncore::close_all();
    std::uint64_t connections = 0, lines = 0;
    for (const auto& w : stats) {
        connections += w.connections_accepted;
        lines += w.messages;
    }
    std::cerr << "served " << connections << " connections, " << lines << " lines\n";
    return 0;
}
