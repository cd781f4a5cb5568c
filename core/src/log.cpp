#include "asyncore/log.hpp"

#include <atomic>
#include <mutex>
#include <string>

#include <unistd.h>

namespace asyncore {

namespace {

struct facility {
    std::mutex lock;
    std::shared_ptr<log_sink> sink = std::make_shared<fd_sink>(STDERR_FILENO);
    std::atomic<log_level> threshold{log_level::info};
};

facility& the_facility() {
    static facility f; // on first use, so a line logged during another static's construction still has a sink
    return f;
}

} // namespace

std::string_view to_string(log_level level) noexcept {
    switch (level) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warning: return "warning";
    case log_level::error: return "error";
    }
    return "info";
}

void fd_sink::write(log_level, std::string_view line) {
    std::string out;
    out.reserve(line.size() + 1);
    out.append(line).push_back('\n');
    const char* p = out.data();
    std::size_t left = out.size();
    while (left > 0) {
        const ssize_t n = ::write(fd_, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return; // nowhere to write: the line is lost, the server goes on
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

std::shared_ptr<log_sink> set_log_sink(std::shared_ptr<log_sink> sink) {
    auto& f = the_facility();
    if (!sink) sink = std::make_shared<fd_sink>(STDERR_FILENO);
    std::lock_guard guard(f.lock);
    std::swap(f.sink, sink);
    return sink;
}

void set_log_level(log_level level) noexcept { the_facility().threshold.store(level, std::memory_order_relaxed); }

log_level get_log_level() noexcept { return the_facility().threshold.load(std::memory_order_relaxed); }

bool log_enabled(log_level level) noexcept { return level >= get_log_level(); }

void log(log_level level, std::string_view line) noexcept {
    if (!log_enabled(level)) return;
    auto& f = the_facility();
    try {
        std::lock_guard guard(f.lock);
        f.sink->write(level, line);
    } catch (...) {
        // A sink that throws (out of memory, a full disk) loses this line; a log call never takes a server down.
    }
}

} // namespace asyncore
