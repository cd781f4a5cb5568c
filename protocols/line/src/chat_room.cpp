#include "asynchat/line/chat_room.hpp"

#include <asyncore/log.hpp>

#include <algorithm>
#include <cctype>

#include <asyncore/loop.hpp>
#include <asyncore/socket_map.hpp>

namespace asynchat::line {

namespace {

// The command word of a line, matched without regard to case: "NICK bob" -> "nick", rest "bob".
bool command_is(std::string_view line, std::string_view word, std::string_view& rest) {
    if (line.size() < word.size()) return false;
    for (std::size_t i = 0; i < word.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(line[i])) != word[i]) return false;
    if (line.size() == word.size()) {
        rest = {};
        return true;
    }
    if (line[word.size()] != ' ') return false;
    rest = line.substr(word.size() + 1);
    return true;
}

} // namespace

bool valid_nick(std::string_view name) noexcept {
    if (name.empty() || name.size() > 32) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    });
}

chat_room::chat_room(chat_hub& hub, asyncore::socket_map& map, chat_options options, service_stats* stats)
    : options_(options), stats_(stats), hub_(&hub), inbox_(std::make_unique<asyncore::loop_inbox>(map)) {
    std::lock_guard lock(hub.mutex_);
    hub.rooms_.push_back({this, inbox_.get()});
}

chat_room::~chat_room() {
    if (hub_) {
        std::lock_guard lock(hub_->mutex_);
        std::erase_if(hub_->rooms_, [this](const chat_hub::entry& e) { return e.room == this; });
    }
    // Closing a member takes it out of members_: work on a copy.
    for (chat_member* m : std::vector<chat_member*>(members_)) {
        m->room_ = nullptr;
        m->close();
    }
}

asyncore::ref<chat_member> chat_room::join(asyncore::socket sock, asyncore::socket_map* map) {
    auto member = asyncore::make<chat_member>(*this, std::move(sock), map);
    admit(*member);
    return member;
}

void chat_room::admit(chat_member& member) {
    members_.push_back(&member);
    member.name_ = "guest-" + std::to_string(hub_ ? hub_->next_guest_.fetch_add(1, std::memory_order_relaxed)
                                                  : next_guest_++);
    member.send_line("HELLO " + member.name_);
}

void chat_room::leave(chat_member& member) noexcept {
    auto it = std::find(members_.begin(), members_.end(), &member);
    if (it == members_.end()) return;
    // During a broadcast the walk over members_ must not see it shift: the slot is emptied, and the walk
    // compacts the list when it is done.
    if (broadcasting_) *it = nullptr;
    else members_.erase(it);
}

void chat_room::broadcast(chat_member& from, std::string_view text) {
    std::string line;
    line.reserve(from.name_.size() + text.size() + 5);
    line.append("<").append(from.name_).append("> ").append(text).append("\r\n");
    // The rooms of the other workers first (their loops run while this one pushes), then this one's members.
    if (hub_)
        for (const auto& peer : hub_->rooms_)
            if (peer.room != this)
                peer.inbox->call_from_thread([room = peer.room, line] { room->deliver(line, nullptr); });
    deliver(line, &from);
}

void chat_room::deliver(const std::string& line, chat_member* from) {
    std::vector<chat_member*> too_slow;
    {
        broadcasting_ = true;
        struct done {
            chat_room& room;
            ~done() {
                room.broadcasting_ = false;
                std::erase(room.members_, nullptr);
            }
        } compact{*this};
        for (std::size_t i = 0; i < members_.size(); ++i) {
            chat_member* m = members_[i];
            if (!m || m == from) continue;
            // A push sends at once, and a peer found gone there closes its member (and may free it) before push
            // returns: leave() then empties the slot, which is checked before m is touched again. A send error
            // is that member's, not the sender's.
            try {
                m->push(line);
            } catch (...) {
                if (members_[i]) m->handle_error();
            }
            if (members_[i] && m->backlogged()) too_slow.push_back(m);
        }
    }
    // Closed after the walk, so that the list is whole again: closing takes a member out of members_.
    for (chat_member* m : too_slow) m->disconnect_backlogged();
}

chat_member::chat_member(chat_room& room, asyncore::socket_map* map)
    : service_connection("chat", room.stats(), map), room_(&room) {
    setup();
}

chat_member::chat_member(chat_room& room, asyncore::socket sock, asyncore::socket_map* map)
    : service_connection("chat", room.stats(), std::move(sock), map), room_(&room) {
    setup();
}

chat_member::~chat_member() {
    if (room_) room_->leave(*this);
}

void chat_member::setup() {
    set_delimiter("\n");
    set_strip_cr(true);
    set_line_ending("\r\n");
    set_max_line_length(room_->options().max_line);
    // Silence from the client is what times it out: a member who only listens to the room is idle.
    start_idle_timeout(room_->options().idle_timeout, idle_watch::reads);
}

bool chat_member::backlogged() noexcept {
    return room_ && output().ready_bytes() > room_->options().max_pending;
}

void chat_member::disconnect_backlogged() {
    asyncore::log(asyncore::log_level::warning,
                  "asynchat: chat: disconnecting " + name_ + ": more than " +
                      std::to_string(room_->options().max_pending) + " bytes queued (a client that does not read)");
    account().count_error();
    discard_buffers();
    close();
}

void chat_member::after_read() {
    // The replies to this read have been sent as far as the peer takes them: what is still queued is the
    // peer's backlog. A client that keeps sending commands and never reads their replies is as slow as one that
    // never reads the room's lines.
    if (backlogged()) disconnect_backlogged();
}

void chat_member::handle_incoming(std::string_view bytes) {
    service_connection::handle_incoming(bytes); // any bytes count as activity, a long line arriving slowly included
    after_read();
}

void chat_member::line_received(std::string_view line) {
    if (!room_) return; // after QUIT (or the room's end): nothing more is for the room
    account().count_message();
    std::string_view rest;
    if (command_is(line, "nick", rest)) {
        if (valid_nick(rest)) {
            name_.assign(rest);
            send_line("OK " + name_);
        } else {
            account().count_error();
            send_line("ERR bad nick");
        }
    } else if (command_is(line, "quit", rest) && rest.empty()) {
        leave_with("BYE");
    } else if (!line.empty()) {
        room_->broadcast(*this, line);
    }
}

void chat_member::leave_with(std::string_view farewell) {
    send_line(farewell);
    if (room_) room_->leave(*this);
    room_ = nullptr;
    close_when_done();
    // What the client sent after QUIT in the same read is not framed at all: no line of it is broadcast, and no
    // "ERR line too long" follows the BYE.
    input_framer().reset();
}

void chat_member::handle_shutdown() {
    if (room_)
        leave_with("BYE server shutting down");
    else
        close_when_done(); // it had left already (QUIT): its BYE is queued
}

void chat_member::line_length_exceeded(std::size_t) {
    if (!room_) return;
    account().count_error();
    send_line("ERR line too long");
}

void chat_member::close() {
    if (room_) {
        room_->leave(*this);
        room_ = nullptr;
    }
    service_connection::close();
}

std::string_view over_capacity_reply() noexcept { return "ERR server full\r\n"; }

} // namespace asynchat::line
