// `asynchat serve discard`: RFC 863's discard service — every byte a client sends is read and dropped, and nothing
// is ever sent back; /metrics counts the connections and the bytes. A sink for load generators and for testing a
// client's sending side alone.
#include <asynchat/async_chat.hpp>
#include <asynchat/service_connection.hpp>

#include "service_table.hpp"

namespace asynchat_cli {

namespace {

class discard_channel final : public asynchat::service_connection<asynchat::async_chat> {
public:
    discard_channel(asyncore::socket sock, std::chrono::duration<double> idle_timeout, asynchat::service_stats* stats)
        : service_connection("discard", stats, std::move(sock)) {
        set_terminator(nullptr); // no framing: the stream is one message, handed on as it comes and not kept
        start_idle_timeout(idle_timeout, asynchat::idle_watch::reads);
    }
    void collect_incoming_data(std::string_view) override {}
    void found_terminator() override {}
};

class discard_service final : public command_service {
public:
    std::string_view name() const override { return "discard"; }
    std::string_view summary() const override { return "read and drop every byte (RFC 863)"; }
    std::uint16_t default_port(serve_mode mode) const override { return mode == serve_mode::all ? 8009 : 0; }

    void add_options(CLI::App& cmd, serve_mode mode) override {
        add_seconds_option(cmd, std::string(mode == serve_mode::all ? "--discard-" : "--") + "idle-timeout",
                           idle_timeout_, "seconds without a byte before a discard connection is closed (0: never)");
    }

    void finish(const server_options&, serve_mode) override {}

    started_service start(serve_context& context) override {
        return {[this, stats = &context.stats, tls = context.server.tls](asyncore::socket sock) {
                    use_tls(*asyncore::make<discard_channel>(std::move(sock), idle_timeout_, stats), tls);
                },
                ""};
    }

private:
    std::chrono::duration<double> idle_timeout_{300};
};

} // namespace

std::unique_ptr<command_service> make_discard_service() { return std::make_unique<discard_service>(); }

} // namespace asynchat_cli
