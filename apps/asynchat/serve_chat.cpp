#include "serve_chat.hpp"

#include <chrono>

namespace asynchat_cli {

void add_chat_room_options(CLI::App& cmd, chat_command_options& opts, const std::string& prefix) {
    cmd.add_option("--" + prefix + "max-line", opts.room.max_line,
                   "longest chat line in bytes; a longer one gets 'ERR line too long' and is dropped")
        ->check(at_least_one)
        ->capture_default_str();
    cmd.add_option("--" + prefix + "max-pending", opts.room.max_pending,
                   "bytes queued for one chat client before it is disconnected (a client that does not read)")
        ->check(at_least_one)
        ->capture_default_str();
    cmd.add_option("--" + prefix + "idle-timeout", opts.idle_timeout,
                   "seconds without a byte from a chat client before it is closed (0: never)")
        ->check(timeout_seconds)
        ->capture_default_str();
}

void add_chat_command(CLI::App& serve, chat_command_options& opts) {
    auto* chat = serve.add_subcommand("chat", "a chat room: every line goes to every other client");
    add_server_options(*chat, opts.server);
    add_chat_room_options(*chat, opts);
    chat->callback([&opts] {
        finish_server_tls(opts.server);
        opts.selected = true;
    });
}

void join_chat(asynchat::line::chat_room& room, asyncore::socket sock, const tls_context& tls) {
    if (!tls) {
        room.join(std::move(sock));
        return;
    }
    // The layer goes on before the greeting is pushed, so that the greeting is the first thing sent over TLS.
    auto member = asyncore::make<asynchat::line::chat_member>(room, std::move(sock));
    use_tls(*member, tls);
    room.admit(*member);
}

int run_chat(const chat_command_options& opts) {
    // The option is a plain number of seconds (what CLI11 parses); the room takes a duration.
    asynchat::line::chat_options room_options = opts.room;
    room_options.idle_timeout = std::chrono::duration<double>(opts.idle_timeout);
    asynchat::service_stats stats;
    asynchat::line::chat_room room(room_options, &stats);
    return run_server(
        opts.server, [&](asyncore::socket sock) { join_chat(room, std::move(sock), opts.server.tls); }, &stats,
        busy_reply(opts.server, std::string(asynchat::line::over_capacity_reply())));
}

} // namespace asynchat_cli
