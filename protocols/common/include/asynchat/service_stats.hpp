#pragma once
// asynchat::service_stats — the figures of one service (every channel of one server), as `serve all` reports them
// on /metrics and /status. A server owns one and hands its address to each channel it makes; the channels count
// into it directly. Plain integers: a map and its channels belong to one thread.
#include <cstdint>

#include <asynchat/async_chat.hpp>

namespace asynchat {

struct service_stats {
    std::uint64_t connections_open = 0;     // channels of this service alive in the map now
    std::uint64_t connections_accepted = 0; // since the service started
    std::uint64_t messages = 0;             // what a message is depends on the protocol: a line, a request, a mail
    std::uint64_t errors = 0;               // protocol errors answered or connections closed for bad input
    traffic_counters traffic;               // bytes in and out (async_chat::count_traffic)
};

// Counts one connection for as long as it lives: made when a channel is accepted, destroyed with it.
class connection_count {
public:
    explicit connection_count(service_stats* stats) noexcept : stats_(stats) {
        if (stats_) {
            ++stats_->connections_open;
            ++stats_->connections_accepted;
        }
    }
    ~connection_count() { release(); }
    connection_count(const connection_count&) = delete;
    connection_count& operator=(const connection_count&) = delete;
    // The connection closed: it no longer counts as open (idempotent; a closed channel may live on a while).
    void release() noexcept {
        if (stats_) --stats_->connections_open;
        stats_ = nullptr;
    }

private:
    service_stats* stats_;
};

} // namespace asynchat
