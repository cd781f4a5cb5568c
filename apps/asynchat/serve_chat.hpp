#pragma once
// `asynchat serve chat`: the chat room of asynchat::line::chat_room.
#include <CLI/CLI.hpp>

#include <asynchat/line/chat_room.hpp>

#include "server_options.hpp"

namespace asynchat_cli {

struct chat_command_options {
    server_options server{.port = 8023};
    asynchat::line::chat_options room;   // its idle_timeout is set from idle_timeout by run_chat
    double idle_timeout = 0;            // seconds, as --idle-timeout gives it
    bool selected = false;
};

// Adds the room's own options (--max-line, --max-pending, --idle-timeout) to cmd, with `prefix` before each name
// (serve all uses "chat-").
void add_chat_room_options(CLI::App& cmd, chat_command_options& opts, const std::string& prefix = "");
void add_chat_command(CLI::App& serve, chat_command_options& opts);
int run_chat(const chat_command_options& opts);
// A new member of room, speaking TLS from the first byte when tls is set (before the room's HELLO).
void join_chat(asynchat::line::chat_room& room, asyncore::socket sock, const tls_context& tls);

} // namespace asynchat_cli
