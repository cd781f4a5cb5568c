#pragma once
// asynchat::line::chat_room — the chat server of `asynchat serve chat`, on line_receiver. One room per server;
// every accepted connection joins it.
//
// The protocol (lines end with LF; a CR before it is stripped; every reply ends with CRLF):
//   on connect          -> "HELLO guest-N"
//   NICK name           -> "OK name"  (name: 1 to 32 of [A-Za-z0-9_-]; otherwise "ERR bad nick")
//   QUIT                -> "BYE", then the server closes the connection
//   (server stopping)   -> "BYE server shutting down", then the server closes the connection
//   any other line      -> sent to every OTHER member as "<name> text" (an empty line is ignored)
//   a line over max_line bytes -> "ERR line too long" once, the line is dropped, the connection stays
// The command words are matched without regard to case ("nick", "Quit").
//
// A member that does not read must not make the server buffer without bound: when more than max_pending bytes
// are queued for one member (the room's lines, or the replies to its own commands once a read has been
// answered), that member is disconnected and the room goes on. Any bytes received count as activity for
// idle_timeout. After QUIT nothing more the client sent is acted on.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <asyncore/loop_inbox.hpp>
#include <asyncore/ref.hpp>
#include <asynchat/line/line_receiver.hpp>
#include <asynchat/service_connection.hpp>

namespace asynchat::line {

struct chat_options {
    std::size_t max_line = 4096;            // bytes of one line, without its ending
    std::size_t max_pending = 1 << 20;      // bytes queued for one member before it is disconnected
    std::chrono::duration<double> idle_timeout{0}; // close a member silent this long; 0: never
};

class chat_member;
class chat_room;

// One room over several event loops (asynchat::serve's workers): each worker has a chat_room of its own, made
// on its thread and attached to the hub, and a line said in any of them reaches the members of all. The
// fan-out is one post per other room per line, through that room's asyncore::loop_inbox (an eventfd), so a
// line crosses to another worker's loop as a function run there, never as a member list shared between
// threads; guest numbers come from one counter. The rooms attach before the loops serve and detach after all
// have stopped (asynchat::serve's workers start and stop together), so the list is only read while they
// run. Not copyable; outlives its rooms.
class chat_hub {
public:
    chat_hub() = default;
    chat_hub(const chat_hub&) = delete;
    chat_hub& operator=(const chat_hub&) = delete;

private:
    friend class chat_room;
    struct entry {
        chat_room* room;
        asyncore::loop_inbox* inbox;
    };
    std::mutex mutex_;               // attach and detach only
    std::vector<entry> rooms_;
    std::atomic<std::uint64_t> next_guest_{1};
};

class chat_room {
public:
    explicit chat_room(chat_options options = {}, service_stats* stats = nullptr)
        : options_(options), stats_(stats) {}
    // A room on the loop of `map` (the calling thread's), one of the hub's: its members hear every room's lines.
    chat_room(chat_hub& hub, asyncore::socket_map& map, chat_options options = {}, service_stats* stats = nullptr);
    chat_room(const chat_room&) = delete;
    chat_room& operator=(const chat_room&) = delete;
    // Members still in the room are closed (their channels then no longer refer to the room).
    ~chat_room();

    // Makes the channel of a new connection and greets it.
    asyncore::ref<chat_member> join(asyncore::socket sock, asyncore::socket_map* map = nullptr);
    // The same for a member made by the caller (tests drive one through string_transport).
    void admit(chat_member& member);

    // Sends "<from's name> text" to every member but `from`.
    void broadcast(chat_member& from, std::string_view text);

    std::size_t size() const noexcept { return members_.size(); }
    const chat_options& options() const noexcept { return options_; }
    service_stats* stats() const noexcept { return stats_; }

private:
    friend class chat_member;
    void leave(chat_member& member) noexcept;
    // A whole line ("<name> text\r\n") to every member but `from` (null: to all, a line from another room).
    void deliver(const std::string& line, chat_member* from);

    chat_options options_;
    service_stats* stats_;
    std::vector<chat_member*> members_;   // a slot is null only during broadcast(), for a member that left in it
    std::uint64_t next_guest_ = 1;   // without a hub
    chat_hub* hub_ = nullptr;
    std::unique_ptr<asyncore::loop_inbox> inbox_; // with a hub: how the other rooms' lines reach this loop
    bool broadcasting_ = false;
};

class chat_member : public service_connection<line_receiver> {
public:
    explicit chat_member(chat_room& room, asyncore::socket_map* map = nullptr);
    chat_member(chat_room& room, asyncore::socket sock, asyncore::socket_map* map = nullptr);
    ~chat_member() override;

    const std::string& name() const noexcept { return name_; }

    void line_received(std::string_view line) override;
    void line_length_exceeded(std::size_t length) override;
    void handle_incoming(std::string_view bytes) override;
    void close() override;
    // The server is stopping: "BYE server shutting down", then the close once the queue is sent.
    void handle_shutdown() override;

private:
    friend class chat_room;
    // Leaves the room after a last line (QUIT's "BYE", the shutdown's): nothing the client sends after it is acted on.
    void leave_with(std::string_view farewell);
    void setup();
    // More than max_pending bytes queued for this member (a client that does not read).
    bool backlogged() noexcept;
    void disconnect_backlogged();
    void after_read();
    std::string log_name() const override { return name_; }

    chat_room* room_;      // null once the member has left (QUIT, close, or the room's end)
    std::string name_;
};

// What a client the server will not admit (a listener's --max-connections) reads before the close, in the room's
// ERR style: "ERR server full\r\n".
std::string_view over_capacity_reply() noexcept;

// True for 1 to 32 characters of [A-Za-z0-9_-].
bool valid_nick(std::string_view name) noexcept;

} // namespace asynchat::line
