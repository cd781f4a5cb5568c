#pragma once
// The live views of `serve all`: the figures of every service in the process and of the loop that runs them, as
// Prometheus text exposition (/metrics) and as an HTML page (/status).
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <asynchat/service_stats.hpp>

namespace asynchat_cli {

struct service_figures {
    std::string_view name;                 // the `service` label: "echo", "chat", "http"
    std::string_view address;              // where it listens, "127.0.0.1:8007"
    std::span<const asynchat::service_stats> workers; // one per worker (one with a single loop): summed, and
                                                      // shown per worker (worker="N") when there are several
};

struct loop_figures {
    std::string_view backend;
    std::uint64_t passes;
    std::size_t channels;                  // channels in the map now: connections, listeners, the signal watcher
};

// Prometheus text format 0.0.4: a # HELP and # TYPE line per metric family, counters ending in _total, one
// `service` label per service.
std::string prometheus_text(std::span<const service_figures> services, const loop_figures& loop);
// A small self-contained HTML page of the same figures (refreshes itself every 5 s).
std::string status_html(std::span<const service_figures> services, const loop_figures& loop);

} // namespace asynchat_cli
