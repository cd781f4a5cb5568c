#include "metrics.hpp"

#include <string>

namespace asynchat_cli {

namespace {

struct family {
    const char* name;
    const char* type;
    const char* help;
    std::uint64_t (*value)(const asynchat::service_stats&);
};

// One table drives both views, so /metrics and /status cannot disagree about what they show.
constexpr family families[] = {
    {"asynchat_connections_open", "gauge", "Connections open now.",
     [](const asynchat::service_stats& s) { return s.connections_open.load(); }},
    {"asynchat_connections_accepted_total", "counter", "Connections accepted since the start.",
     [](const asynchat::service_stats& s) { return s.connections_accepted.load(); }},
    {"asynchat_bytes_received_total", "counter", "Bytes received from clients.",
     [](const asynchat::service_stats& s) { return s.traffic.bytes_in.load(); }},
    {"asynchat_bytes_sent_total", "counter", "Bytes sent to clients.",
     [](const asynchat::service_stats& s) { return s.traffic.bytes_out.load(); }},
    {"asynchat_messages_total", "counter", "Messages handled: echoed messages, chat lines, HTTP requests.",
     [](const asynchat::service_stats& s) { return s.messages.load(); }},
    {"asynchat_errors_total", "counter", "Input refused with an error reply or a close (malformed, over a limit, too slow), and connections closed by a failure.",
     [](const asynchat::service_stats& s) { return s.errors.load(); }},
};

// Label values are our own service names and backend names, but escape as the format says all the same.
std::string label_value(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

// A family's value for a service: the sum over its workers.
std::uint64_t total(const family& f, const service_figures& s) {
    std::uint64_t sum = 0;
    for (const auto& w : s.workers) sum += f.value(w);
    return sum;
}

std::string html_escape(std::string_view v) {
    std::string out;
    for (char c : v) {
        switch (c) {
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '&': out += "&amp;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
        }
    }
    return out;
}

} // namespace

std::string prometheus_text(std::span<const service_figures> services, const loop_figures& loop) {
    std::string out;
    out.reserve(2048);
    for (const auto& f : families) {
        out.append("# HELP ").append(f.name).append(" ").append(f.help).append("\n");
        out.append("# TYPE ").append(f.name).append(" ").append(f.type).append("\n");
        for (const auto& s : services) {
            out.append(f.name).append("{service=\"").append(label_value(s.name)).append("\"} ");
            out.append(std::to_string(total(f, s))).append("\n");
            if (s.workers.size() < 2) continue;
            for (std::size_t w = 0; w < s.workers.size(); ++w) {
                out.append(f.name).append("{service=\"").append(label_value(s.name)).append("\",worker=\"");
                out.append(std::to_string(w)).append("\"} ").append(std::to_string(f.value(s.workers[w]))).append("\n");
            }
        }
    }
    out.append("# HELP asynchat_loop_passes_total Passes of the event loop (one wait and its events each).\n"
               "# TYPE asynchat_loop_passes_total counter\n"
               "asynchat_loop_passes_total ")
        .append(std::to_string(loop.passes))
        .append("\n");
    out.append("# HELP asynchat_channels Channels in the socket map: connections, listeners and the signal watcher.\n"
               "# TYPE asynchat_channels gauge\n"
               "asynchat_channels ")
        .append(std::to_string(loop.channels))
        .append("\n");
    out.append("# HELP asynchat_info The event loop backend of this process.\n"
               "# TYPE asynchat_info gauge\n"
               "asynchat_info{backend=\"")
        .append(label_value(loop.backend))
        .append("\"} 1\n");
    return out;
}

std::string status_html(std::span<const service_figures> services, const loop_figures& loop) {
    std::string out =
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\">"
        "<title>asynchat status</title><link rel=\"stylesheet\" href=\"/style.css\"></head><body>\n"
        "<h1>asynchat status</h1>\n<p>Backend <b>" +
        html_escape(loop.backend) + "</b> &middot; loop passes <b>" + std::to_string(loop.passes) +
        "</b> &middot; channels <b>" + std::to_string(loop.channels) +
        "</b></p>\n<table><thead><tr><th>service</th><th>address</th>";
    for (const auto& f : families) out.append("<th>").append(f.help).append("</th>");
    out += "</tr></thead><tbody>\n";
    for (const auto& s : services) {
        out.append("<tr><td>").append(html_escape(s.name)).append("</td><td>").append(html_escape(s.address)).append("</td>");
        for (const auto& f : families) out.append("<td>").append(std::to_string(total(f, s))).append("</td>");
        out += "</tr>\n";
    }
    out += "</tbody></table>\n<p><a href=\"/metrics\">/metrics</a> &middot; <a href=\"/\">home</a></p></body></html>\n";
    return out;
}

} // namespace asynchat_cli
