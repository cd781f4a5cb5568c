#pragma once
// asynchat::service_connection<Base> — what every connection of a server does whatever its protocol, written once:
// it holds the connection's account with its service (connection slot, traffic counters, message and error counts:
// service_stats.hpp), its idle timeout, and its end on a failure (one counted error, one log line, the close).
// Base is async_chat or a class derived from it (line::line_receiver); the protocol derives from the result:
//
//   class my_channel final : public asynchat::service_connection<asynchat::async_chat> {
//   public:
//       my_channel(asyncore::socket sock, asynchat::service_stats* stats)
//           : service_connection("my", stats, std::move(sock)) {
//           start_idle_timeout(std::chrono::seconds(30));
//       }
//       void found_terminator() override { account().count_message(); ... }
//   };
//
// The idle clock is touched once per read (handle_incoming, the one hook every input goes through on every backend
// and transport) and, when the protocol says so (idle_watch::reads_and_writes), once per write: a client reading a
// long download slowly is not idle, while a chat member who only listens is. An override of handle_incoming,
// handle_write or close must call this class's version; close() stops the timer and releases the account before the
// base closes, so a closed channel that lives on (a ref held past close) never touches a service destroyed meanwhile.
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include <asyncore/idle_timer.hpp>
#include <asyncore/log.hpp>
#include <asyncore/loop.hpp>
#include <asynchat/service_stats.hpp>

namespace asynchat {

// What keeps a connection from being idle.
enum class idle_watch {
    reads,           // bytes from the client only (a member that only listens times out)
    reads_and_writes // bytes either way (a slow reader of a long reply does not)
};

template <class Base>
class service_connection : public Base {
public:
    // service: the protocol's short name, which starts its log lines ("http"); stats: where the connection counts
    // (null: nowhere). The rest goes to Base's constructor.
    template <class... BaseArgs>
    service_connection(std::string_view service, service_stats* stats, BaseArgs&&... base_args)
        : Base(std::forward<BaseArgs>(base_args)...), service_(service), account_(*this, stats) {}

    void handle_incoming(std::string_view bytes) override {
        idle_.touch();
        Base::handle_incoming(bytes);
    }
    void handle_write() override {
        if (watch_ == idle_watch::reads_and_writes) idle_.touch();
        Base::handle_write();
    }
    // A handler threw: one bad client is not the server's problem. The error is counted, said in one line
    // ("asynchat: http: closing 127.0.0.1:40000: <what>"), and this connection alone is closed.
    void handle_error() override {
        account_.count_error();
        asyncore::log(asyncore::log_level::error,
                      "asynchat: " + service_ + ": closing " + log_name() + ": " + asyncore::compact_exception());
        this->close();
    }
    void close() override {
        idle_.stop();
        account_.release();
        Base::close();
    }

    connection_account& account() noexcept { return account_; }
    const std::string& service_name() const noexcept { return service_; }

protected:
    // Starts (or restarts) the idle clock: after `timeout` without traffic (see idle_watch), on_idle runs from the
    // loop; without one the connection is closed. Zero or less: no timeout.
    void start_idle_timeout(std::chrono::duration<double> timeout, idle_watch watch = idle_watch::reads,
                            std::function<void()> on_idle = {}) {
        watch_ = watch;
        if (!on_idle) on_idle = [this] { this->close(); };
        idle_.start(this->map(), timeout, std::move(on_idle));
    }
    // There was activity the reads and writes do not show (a reply sent from a completion, say).
    void touch_idle() noexcept { idle_.touch(); }

    // Who the connection is, in log lines: the peer's address by default; a protocol may say more (a chat name).
    virtual std::string log_name() const {
        const auto& peer = this->addr();
        return peer ? peer->to_string() : std::string("a connection");
    }

private:
    std::string service_;
    connection_account account_;
    asyncore::idle_timer idle_;
    idle_watch watch_ = idle_watch::reads;
};

} // namespace asynchat
