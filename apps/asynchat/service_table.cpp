#include "service_table.hpp"

namespace asynchat_cli {

// One line per service; each is made in services/NAME.cpp.
std::unique_ptr<command_service> make_echo_service();
std::unique_ptr<command_service> make_chat_service();
std::unique_ptr<command_service> make_http_service();
std::unique_ptr<command_service> make_smtp_service();

std::vector<std::unique_ptr<command_service>> service_table() {
    std::vector<std::unique_ptr<command_service>> table;
    for (auto make : {make_echo_service, make_chat_service, make_http_service, make_smtp_service})
        table.push_back(make());
    return table;
}

} // namespace asynchat_cli
