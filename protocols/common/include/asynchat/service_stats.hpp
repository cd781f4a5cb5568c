#pragma once
// asynchat::service_stats — the figures of one service (every channel of one server), as `serve all` reports them
// on /metrics and /status. A server owns one and hands its address to each channel it makes; the channels count
// into it directly. One writer: a map and its channels belong to one thread, so each worker of a server has its own
// service_stats; the counters are asyncore::counter, so /metrics on any worker reads every worker's.
#include <cstdint>

#include <asyncore/counter.hpp>

#include <asynchat/async_chat.hpp>

namespace asynchat {

struct service_stats {
    asyncore::counter connections_open = 0;     // channels of this service alive in the map now
    asyncore::counter connections_accepted = 0; // since the service started
    asyncore::counter messages = 0;             // what a message is depends on the protocol: a line, a request, a mail
    asyncore::counter errors = 0;               // protocol errors answered or connections closed for bad input
    traffic_counters traffic;               // bytes in and out (async_chat::count_traffic)
};

// A channel's account with its service, for as long as the channel is open: it counts the connection (open and
// accepted), binds the channel's traffic counters, and counts its messages and errors. close() calls release(),
// which takes all of it back at once — the connection no longer counts as open, the traffic counters are unbound,
// later counts go nowhere — so a closed channel that lives on (a ref held past close) never touches a service that
// has been destroyed meanwhile. A member of the channel (made after its async_chat base, so the binding is valid).
//
// errors_total means the same for every service: input the service refused with an error reply or a close (a
// malformed or oversized request, line or command; a deadline missed), and connections closed by a failure
// (handle_error).
class connection_account {
public:
    connection_account(async_chat& channel, service_stats* stats) noexcept : channel_(&channel), stats_(stats) {
        if (!stats_) return;
        ++stats_->connections_open;
        ++stats_->connections_accepted;
        channel.count_traffic(&stats_->traffic);
    }
    ~connection_account() { release(); }
    connection_account(const connection_account&) = delete;
    connection_account& operator=(const connection_account&) = delete;

    void count_message() noexcept {
        if (stats_) ++stats_->messages;
    }
    void count_error() noexcept {
        if (stats_) ++stats_->errors;
    }
    // The service's figures while the channel is open; null after release() (or when it counts nowhere).
    service_stats* stats() const noexcept { return stats_; }
    // Idempotent.
    void release() noexcept {
        if (!stats_) return;
        --stats_->connections_open;
        channel_->count_traffic(nullptr);
        stats_ = nullptr;
    }

private:
    async_chat* channel_;
    service_stats* stats_;
};

// Counts one connection for as long as it lives: made when a channel is accepted, destroyed with it. (A channel of
// a service uses connection_account, which also takes its traffic counters and its message and error counts.)
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
