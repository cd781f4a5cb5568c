#pragma once
#include <cstddef>
#include <string>

#include "server_options.hpp"

namespace asynchat_cli {

struct echo_options {
    enum class framing { delimiter, count, raw };
    server_options server;
    framing mode = framing::delimiter;
    std::string delimiter_text = "\\r\\n";
    std::string delimiter;
    std::size_t count = 0;
    std::size_t max_message = 1 << 20;
    bool raw = false;
    bool selected = false;
};

void add_echo_command(CLI::App& serve, echo_options& opts);
int run_echo(const echo_options& opts);

} // namespace asynchat_cli
