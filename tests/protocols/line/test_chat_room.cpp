// asynchat::line::chat_room through string_transport: several members in one room, no sockets and no loop, so
// every reply can be checked byte for byte and every input delivered in pieces of any size. The protocol is the
// one of issue 8 (chat_room.hpp).
#include <cstddef>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <sys/socket.h>

#include <boost/test/unit_test.hpp>

#include <asynchat/line/chat_room.hpp>
#include <asynchat/service_stats.hpp>
#include <asynchat/string_transport.hpp>

#include "line_test_util.hpp"

using asynchat::line::chat_member;
using asynchat::line::chat_options;
using asynchat::line::chat_room;
using line_test::printable;

namespace test_chat_room {

// A member and the transport that plays its client.
struct client {
    chat_member member;
    asynchat::string_transport wire{member};
    explicit client(chat_room& room) : member(room) { room.admit(member); }
    // What the server sent since the last call, as printable text.
    std::string got() { return printable(wire.written()); }
    void says(std::string_view bytes, std::size_t segment = 0) { wire.receive(bytes, segment); }
};

// A room and n members, greeted and drained.
struct room_of {
    asynchat::service_stats stats;
    chat_room room;
    std::vector<std::unique_ptr<client>> clients;
    explicit room_of(std::size_t n, chat_options options = {}) : room(options, &stats) {
        for (std::size_t i = 0; i < n; ++i) {
            clients.push_back(std::make_unique<client>(room));
            clients.back()->got();
        }
    }
    client& operator[](std::size_t i) { return *clients[i]; }
};

} // namespace test_chat_room

using namespace test_chat_room;

BOOST_AUTO_TEST_SUITE(chat_room_protocol)

BOOST_AUTO_TEST_CASE(hello_names_each_guest) {
    chat_room room;
    client a(room), b(room), c(room);
    BOOST_TEST(a.got() == "HELLO guest-1\\r\\n");
    BOOST_TEST(b.got() == "HELLO guest-2\\r\\n");
    BOOST_TEST(c.got() == "HELLO guest-3\\r\\n");
    BOOST_TEST(room.size() == 3u);
    BOOST_TEST(a.member.name() == "guest-1");
}

BOOST_AUTO_TEST_CASE(broadcast_goes_to_every_other_member_not_the_sender) {
    room_of r(3);
    r[0].says("hello all\n");
    BOOST_TEST(r[0].got() == "");
    BOOST_TEST(r[1].got() == "<guest-1> hello all\\r\\n");
    BOOST_TEST(r[2].got() == "<guest-1> hello all\\r\\n");
    r[2].says("back\r\n");
    BOOST_TEST(r[0].got() == "<guest-3> back\\r\\n");
    BOOST_TEST(r[1].got() == "<guest-3> back\\r\\n");
    BOOST_TEST(r[2].got() == "");
}

BOOST_AUTO_TEST_CASE(crlf_and_lf_endings_are_the_same_line) {
    for (std::size_t n = 0; n <= 9; ++n) {
        room_of r(2);
        r[0].says("one\ntwo\r\n\r\nthree\r\r\n", n);
        BOOST_TEST_CONTEXT("packet " << n) {
            // The empty line (a bare CRLF) is ignored; only one CR is stripped.
            BOOST_TEST(r[1].got() == "<guest-1> one\\r\\n<guest-1> two\\r\\n<guest-1> three\\r\\r\\n");
        }
    }
}

BOOST_AUTO_TEST_CASE(nick_sets_the_name_used_in_broadcasts) {
    room_of r(2);
    r[0].says("NICK alice\n");
    BOOST_TEST(r[0].got() == "OK alice\\r\\n");
    BOOST_TEST(r[1].got() == ""); // a NICK is not broadcast
    r[0].says("hi\n");
    BOOST_TEST(r[1].got() == "<alice> hi\\r\\n");
    r[0].says("nick Al-ic_3\r\n"); // the command word in any case
    BOOST_TEST(r[0].got() == "OK Al-ic_3\\r\\n");
    BOOST_TEST(r[0].member.name() == "Al-ic_3");
}

BOOST_AUTO_TEST_CASE(nick_validation_edge_cases) {
    const std::string max_nick(32, 'n');
    struct scenario {
        std::string line;
        std::string reply;
    };
    const std::vector<scenario> scenarios{
        {"NICK " + max_nick, "OK " + max_nick},
        {"NICK " + max_nick + "n", "ERR bad nick"},   // 33 characters
        {"NICK a", "OK a"},
        {"NICK", "ERR bad nick"},                     // no name
        {"NICK ", "ERR bad nick"},                    // empty name
        {"NICK  bob", "ERR bad nick"},                // the name would start with a space
        {"NICK bob ", "ERR bad nick"},
        {"NICK bo b", "ERR bad nick"},
        {"NICK bob.x", "ERR bad nick"},
        {"NICK b\xc3\xb6", "ERR bad nick"},           // not ASCII
        {"NICK <bob>", "ERR bad nick"},
        {"NICK b\tob", "ERR bad nick"},
        {std::string("NICK b\0b", 8), "ERR bad nick"},
    };
    for (const auto& s : scenarios) {
        room_of r(2);
        r[0].says(s.line + "\r\n");
        BOOST_TEST_CONTEXT(printable(s.line)) {
            BOOST_TEST(r[0].got() == printable(s.reply + "\r\n"));
            BOOST_TEST(r[1].got() == "");
            BOOST_TEST(r[0].member.name() == (s.reply.starts_with("OK") ? s.line.substr(5) : "guest-1"));
        }
    }
    // Not the NICK command at all: broadcast as text.
    room_of r(2);
    r[0].says("NICKname\nnickel\n");
    BOOST_TEST(r[0].got() == "");
    BOOST_TEST(r[1].got() == "<guest-1> NICKname\\r\\n<guest-1> nickel\\r\\n");
}

BOOST_AUTO_TEST_CASE(quit_says_bye_and_closes) {
    for (const std::string quit : {"QUIT\n", "QUIT\r\n", "quit\n"}) {
        room_of r(3);
        r[0].says(quit);
        BOOST_TEST_CONTEXT(printable(quit)) {
            BOOST_TEST(r[0].got() == "BYE\\r\\n");
            BOOST_TEST(r[0].wire.closed_when_done());
            BOOST_TEST(r.room.size() == 2u);
            BOOST_TEST(r[1].got() == ""); // leaving is not announced
            r[1].says("still here\n");
            BOOST_TEST(r[2].got() == "<guest-2> still here\\r\\n");
            BOOST_TEST(r[0].got() == ""); // no longer a member
        }
    }
    // "QUIT x" is not the command.
    room_of r(2);
    r[0].says("QUIT now\n");
    BOOST_TEST(r[0].got() == "");
    BOOST_TEST(r[1].got() == "<guest-1> QUIT now\\r\\n");
}

// Lines after QUIT in the same read are not broadcast, nor answered (no ERR after the BYE), in any packet size.
BOOST_AUTO_TEST_CASE(lines_after_quit_in_the_same_read_are_dropped) {
    for (std::size_t n = 0; n <= 9; ++n) {
        chat_options o;
        o.max_line = 16;
        room_of r(2, o);
        r[0].says("before\nQUIT\nafter\nNICK late\n" + std::string(40, 'L') + "\nmore\n", n);
        BOOST_TEST_CONTEXT("packet " << n) {
            BOOST_TEST(r[0].got() == "BYE\\r\\n");
            BOOST_TEST(r[1].got() == "<guest-1> before\\r\\n");
            BOOST_TEST(r[0].member.name() == "guest-1");
        }
    }
}

// One "ERR line too long" per over-long line, however it arrives, the line dropped, the connection kept, the next
// line delivered normally.
BOOST_AUTO_TEST_CASE(long_line_gets_one_error_and_is_dropped) {
    for (std::size_t max : {std::size_t{16}, std::size_t{4096}}) {
        for (std::size_t n : {0, 1, 2, 3, 5, 7, 9, 4095}) {
            chat_options o;
            o.max_line = max;
            room_of r(2, o);
            r[0].says(std::string(max + 1, 'x') + "\nafter\n", n);
            BOOST_TEST_CONTEXT("max " << max << " packet " << n) {
                BOOST_TEST(r[0].got() == "ERR line too long\\r\\n");
                BOOST_TEST(r[1].got() == "<guest-1> after\\r\\n");
                BOOST_TEST(r.room.size() == 2u);
                BOOST_TEST(!r[0].wire.closed_when_done());
                BOOST_TEST(r.stats.errors == 1u);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(line_of_exactly_max_line_is_delivered_with_either_ending) {
    for (const std::string ending : {"\n", "\r\n"}) {
        for (std::size_t n : {0, 1, 3}) {
            chat_options o;
            o.max_line = 16;
            room_of r(2, o);
            const std::string text(16 - 4, 't'); // "<guest-1> " is not part of the limit: the client's line is
            const std::string line = "abcd" + text;
            r[0].says(line + ending, n);
            BOOST_TEST_CONTEXT(printable(ending) << " packet " << n) {
                BOOST_TEST(r[0].got() == "");
                BOOST_TEST(r[1].got() == printable("<guest-1> " + line + "\r\n"));
            }
        }
    }
}

// A long line with no end yet: the error comes as soon as the bound is crossed, not when the LF arrives.
BOOST_AUTO_TEST_CASE(long_line_error_comes_before_its_end) {
    chat_options o;
    o.max_line = 16;
    room_of r(2, o);
    r[0].says(std::string(16, 'x'), 1);
    BOOST_TEST(r[0].got() == "");
    r[0].says("x");
    BOOST_TEST(r[0].got() == "ERR line too long\\r\\n");
    r[0].says(std::string(1000, 'x'), 7);
    BOOST_TEST(r[0].got() == ""); // still the same line: no second error
    r[0].says("\nok\n");
    BOOST_TEST(r[1].got() == "<guest-1> ok\\r\\n");
}

// A member that never drains its output is disconnected once more than max_pending bytes are queued for it; the
// room goes on. (With string_transport, not calling written() on a member is a client that does not read.)
BOOST_AUTO_TEST_CASE(member_that_never_reads_is_disconnected_past_max_pending) {
    chat_options o;
    o.max_pending = 1000;
    asynchat::service_stats stats;
    chat_room room(o, &stats);
    client talker(room), reader(room), sleeper(room);
    talker.got();
    reader.got();
    std::size_t queued = std::string("HELLO guest-3\r\n").size(); // never read
    const std::string text(90, 'm');
    const std::string delivered = "<guest-1> " + text + "\r\n";
    bool disconnected = false;
    for (int i = 0; i < 30 && !disconnected; ++i) {
        talker.says(text + "\n");
        queued += delivered.size();
        BOOST_TEST(reader.got() == printable(delivered));
        disconnected = room.size() == 2;
        BOOST_TEST_CONTEXT("line " << i << ", " << queued << " bytes queued") {
            // Exactly when the queue passes the bound.
            BOOST_TEST(disconnected == (queued > o.max_pending));
        }
    }
    BOOST_TEST(disconnected);
    BOOST_TEST(stats.errors == 1u);
    BOOST_TEST(stats.connections_open == 2u);
    BOOST_TEST(sleeper.member.output().ready_bytes() == 0u); // its queue was freed
    talker.says("after\n");
    BOOST_TEST(reader.got() == "<guest-1> after\\r\\n");
}

BOOST_AUTO_TEST_CASE(stats_count_lines_errors_and_connections) {
    asynchat::service_stats stats;
    chat_options o;
    o.max_line = 16;
    chat_room room(o, &stats);
    {
        client a(room), b(room);
        BOOST_TEST(stats.connections_open == 2u);
        BOOST_TEST(stats.connections_accepted == 2u);
        a.says("hi\nNICK ann\nNICK bad nick\n" + std::string(20, 'z') + "\n");
        BOOST_TEST(stats.messages == 3u);   // the over-long line is an error, not a message
        BOOST_TEST(stats.errors == 2u);     // the bad nick and the long line
        BOOST_TEST(stats.traffic.bytes_in > 0u);
        b.says("QUIT\n");
        b.got(); // BYE sent: the connection closes
        BOOST_TEST(stats.connections_open == 1u);
    }
    BOOST_TEST(stats.connections_open == 0u);
    BOOST_TEST(stats.connections_accepted == 2u);
}

// A member whose peer is gone is found out by a broadcast's own send. The first failed send only starts the close
// (async_chat's handle_close waits for the queue); the next one closes it, and takes it out of the room, in the
// middle of the walk over the members: every other member must still get each line exactly once. (The walk once
// iterated a vector that the close erased from: the member after the closed one was skipped and the last one
// served twice.)
BOOST_AUTO_TEST_CASE(member_closed_by_the_broadcast_send_does_not_upset_the_walk) {
    for (std::size_t dead_at = 1; dead_at <= 3; ++dead_at) {
        chat_room room;
        std::vector<std::unique_ptr<client>> clients;
        asyncore::ref<chat_member> dead;
        for (std::size_t i = 0; i < 5; ++i) {
            if (i == dead_at) {
                int fds[2];
                if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
                    throw std::system_error(errno, std::system_category(), "socketpair");
                dead = room.join(asyncore::socket::adopt(fds[0]));
                asyncore::socket::adopt(fds[1]); // the peer, closed at once
                continue;
            }
            clients.push_back(std::make_unique<client>(room));
            clients.back()->got();
        }
        BOOST_REQUIRE_EQUAL(room.size(), 5u);
        clients[0]->says("to all\nagain\n");
        BOOST_TEST_CONTEXT("dead member at " << dead_at) {
            BOOST_TEST(room.size() == 4u);
            BOOST_TEST(!dead->connected());
            BOOST_TEST(clients[0]->got() == "");
            for (std::size_t i = 1; i < clients.size(); ++i)
                BOOST_TEST(clients[i]->got() == "<guest-1> to all\\r\\n<guest-1> again\\r\\n", "member " << i);
        }
    }
}

BOOST_AUTO_TEST_CASE(room_end_closes_its_members) {
    auto room = std::make_unique<chat_room>();
    client a(*room);
    a.got();
    room.reset();
    a.says("into the void\n"); // must not touch the room that is gone (ASan would say so)
    BOOST_TEST(a.got() == "");
}

BOOST_AUTO_TEST_SUITE_END()
