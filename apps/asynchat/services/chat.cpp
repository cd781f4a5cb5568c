// `asynchat serve chat`: the chat room of asynchat::line::chat_room; every line goes to every other member.
#include <asynchat/line/chat_room.hpp>

#include "service_table.hpp"

namespace asynchat_cli {

namespace {

class chat_service final : public command_service {
public:
    std::string_view name() const override { return "chat"; }
    std::string_view summary() const override { return "a chat room: every line goes to every other client"; }
    std::uint16_t default_port(serve_mode) const override { return 8023; }

    void add_options(CLI::App& cmd, serve_mode mode) override {
        const std::string prefix = mode == serve_mode::all ? "chat-" : "";
        cmd.add_option("--" + prefix + "max-line", options_.max_line,
                       "longest chat line in bytes; a longer one gets 'ERR line too long' and is dropped")
            ->check(at_least_one)
            ->capture_default_str();
        cmd.add_option("--" + prefix + "max-pending", options_.max_pending,
                       "bytes queued for one chat client before it is disconnected (a client that does not read)")
            ->check(at_least_one)
            ->capture_default_str();
        add_seconds_option(cmd, "--" + prefix + "idle-timeout", options_.idle_timeout,
                           "seconds without a byte from a chat client before it is closed (0: never)");
    }

    void finish(const server_options&, serve_mode) override {}

    started_service start(serve_context& context) override {
        room_ = std::make_unique<asynchat::line::chat_room>(options_, &context.stats);
        const auto joiner = [tls = context.server.tls](asynchat::line::chat_room* room) {
            return [room, tls](asyncore::socket sock) {
                if (!tls) {
                    room->join(std::move(sock));
                    return;
                }
                // The layer goes on before the greeting is pushed, so that the greeting is the first thing sent
                // over TLS.
                auto member = asyncore::make<asynchat::line::chat_member>(*room, std::move(sock));
                use_tls(*member, tls);
                room->admit(*member);
            };
        };
        started_service started{joiner(room_.get()),
                                busy_reply(context.server, std::string(asynchat::line::over_capacity_reply()))};
        // With --workers: a room per worker, made on its thread and joined to the others through the hub, so the
        // members of every worker hear each other. The accept owns its room, which goes on its worker's thread.
        started.accept_for_worker = [this, joiner](unsigned, asynchat::service_stats* stats) {
            auto room = std::make_shared<asynchat::line::chat_room>(hub_, asyncore::socket_map::default_map(),
                                                                    options_, stats);
            return std::function<void(asyncore::socket)>(
                [room, join = joiner(room.get())](asyncore::socket sock) { join(std::move(sock)); });
        };
        return started;
    }

private:
    asynchat::line::chat_options options_;
    std::unique_ptr<asynchat::line::chat_room> room_;
    asynchat::line::chat_hub hub_; // the workers' rooms
};

} // namespace

std::unique_ptr<command_service> make_chat_service() { return std::make_unique<chat_service>(); }

} // namespace asynchat_cli
