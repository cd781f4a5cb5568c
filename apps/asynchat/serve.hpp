#pragma once
// `asynchat serve NAME` and `asynchat serve all`, both made from the service table (service_table.hpp): every
// service gets the shared options (server_options.hpp) and its own, and runs behind asynchat::serve (the library's
// serving setup: listeners, --max-connections with the busy reply, graceful drain, "listening on").
// `serve all` — the main job — runs every service in ONE socket map with ONE loop (the asyncore idea of mixed
// channels in one map); its HTTP service also serves /metrics (Prometheus) and /status (HTML) with the live
// figures of every service and of the loop.
#include <memory>
#include <vector>

#include <CLI/CLI.hpp>

#include "service_table.hpp"

namespace asynchat_cli {

class serve_commands {
public:
    // Adds `serve NAME` for each service of the table, then `serve all`, under `serve`.
    serve_commands(CLI::App& serve, std::vector<std::unique_ptr<command_service>> table);
    // A serve subcommand was parsed.
    bool selected() const noexcept { return selected_ != none; }
    // Runs it; the process's exit status.
    int run();

private:
    static constexpr std::size_t none = ~std::size_t{0};
    static constexpr std::size_t all = ~std::size_t{0} - 1;
    // Starts the given services (each listening on the port of the same index) and serves them until a signal.
    int run_services(const server_options& server, std::vector<command_service*> services, serve_mode mode,
                     std::vector<std::uint16_t> ports);

    std::vector<std::unique_ptr<command_service>> table_;
    std::vector<server_options> alone_;    // the shared options of each `serve NAME`
    server_options all_;                   // serve all's (--host, --backend...; a port option per service)
    std::vector<std::uint16_t> all_ports_; // serve all's --NAME-port
    std::size_t selected_ = none;
};

} // namespace asynchat_cli
