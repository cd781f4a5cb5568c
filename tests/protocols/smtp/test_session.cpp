// The SMTP server (smtp_session through smtp_channel) driven by string_transport: every command, reply code and
// sequence error, DATA cut at every byte boundary, dot-stuffing, the smuggling sequences, the size bounds and
// pipelining with deliveries that complete later. No sockets, no loop.
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <random>
#include <string>
#include <vector>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <asynchat/service_stats.hpp>
#include <asynchat/smtp/server.hpp>

#include "smtp_test_util.hpp"

namespace bdata = boost::unit_test::data;
using namespace smtp_test;
using asynchat::smtp::smtp_options;

namespace {

const std::string ehlo_reply =
    replies({"250-localhost", "250-SIZE 33554432", "250-8BITMIME", "250-PIPELINING", "250 HELP"});

// A session ready for MAIL.
struct greeted {
    recording_server server;
    client c{server};
    explicit greeted(smtp_options options = {}) : server(std::move(options)) { c.exchange("EHLO me\r\n"); }
};

// The bytes of one whole transaction carrying `data` (already dot-stuffed, ending with CRLF).
std::string transaction(std::string_view data, std::string_view from = "a@example.org") {
    return "MAIL FROM:<" + std::string(from) + ">\r\nRCPT TO:<b@example.org>\r\nDATA\r\n" + std::string(data) +
           ".\r\n";
}

} // namespace

BOOST_AUTO_TEST_SUITE(smtp_commands)

BOOST_AUTO_TEST_CASE(greeting_is_220) {
    recording_server server;
    asynchat::smtp::smtp_channel channel(server);
    asynchat::string_transport wire(channel);
    channel.start();
    BOOST_TEST(wire.written() == "220 localhost ESMTP asynchat\r\n");
}

BOOST_AUTO_TEST_CASE(ehlo_lists_size_8bitmime_pipelining_help) {
    recording_server server;
    client c(server);
    BOOST_TEST(c.exchange("EHLO client.example\r\n") == ehlo_reply);
    BOOST_TEST(c.channel.session().helo_name() == "client.example");
    BOOST_TEST(c.channel.session().extended());
}

BOOST_AUTO_TEST_CASE(ehlo_announces_the_configured_size) {
    recording_server server(smtp_options{.hostname = "mx.test", .max_size = 1000});
    client c(server);
    BOOST_TEST(c.exchange("EHLO x\r\n") ==
               replies({"250-mx.test", "250-SIZE 1000", "250-8BITMIME", "250-PIPELINING", "250 HELP"}));
}

BOOST_AUTO_TEST_CASE(helo_and_the_simple_commands) {
    recording_server server;
    client c(server);
    BOOST_TEST(c.exchange("HELO client\r\n") == replies({"250 localhost"}));
    BOOST_TEST(!c.channel.session().extended());
    BOOST_TEST(c.exchange("NOOP\r\n") == replies({"250 OK"}));
    BOOST_TEST(c.exchange("NOOP anything at all\r\n") == replies({"250 OK"}));
    BOOST_TEST(c.exchange("VRFY someone\r\n") ==
               replies({"252 Cannot VRFY user, but will accept message and attempt delivery"}));
    BOOST_TEST(c.exchange("HELP\r\n") ==
               replies({"214 Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP"}));
    BOOST_TEST(c.exchange("RSET\r\n") == replies({"250 OK"}));
    BOOST_TEST(c.exchange("QUIT\r\n") == replies({"221 Bye"}));
    BOOST_TEST(c.wire.closed_when_done());
}

BOOST_AUTO_TEST_CASE(verbs_are_case_insensitive) {
    recording_server server;
    client c(server);
    BOOST_TEST(c.exchange("eHlO me\r\n") == ehlo_reply);
    BOOST_TEST(c.exchange("mail from:<a@x>\r\nRcPt To:<b@y>\r\ndata\r\nhi\r\n.\r\nnoop\r\nquit\r\n") ==
               replies({"250 OK", "250 OK", "354 End data with <CR><LF>.<CR><LF>", "250 OK", "250 OK", "221 Bye"}));
    BOOST_REQUIRE_EQUAL(server.messages.size(), 1u);
    BOOST_TEST(server.messages[0].mail_from == "a@x");
}

BOOST_AUTO_TEST_CASE(syntax_errors_are_501) {
    recording_server server;
    client c(server);
    BOOST_TEST(c.exchange("EHLO\r\n") == replies({"501 Syntax: EHLO hostname"}));
    BOOST_TEST(c.exchange("HELO\r\n") == replies({"501 Syntax: HELO hostname"}));
    BOOST_TEST(c.exchange("VRFY\r\n") == replies({"501 Syntax: VRFY <address>"}));
    BOOST_TEST(c.exchange("RSET now\r\n") == replies({"501 Syntax: RSET"}));
    BOOST_TEST(c.exchange("QUIT now\r\n") == replies({"501 Syntax: QUIT"}));
    c.exchange("EHLO me\r\n");
    BOOST_TEST(c.exchange("MAIL\r\n") == replies({"501 Syntax: MAIL FROM:<address>"}));
    BOOST_TEST(c.exchange("MAIL TO:<a>\r\n") == replies({"501 Syntax: MAIL FROM:<address>"}));
    BOOST_TEST(c.exchange("MAIL FROM:a@x\r\n") == replies({"501 Syntax: MAIL FROM:<address>"}));
    BOOST_TEST(c.exchange("MAIL FROM:<a@x\r\n") == replies({"501 Syntax: MAIL FROM:<address>"}));
    BOOST_TEST(c.exchange("MAIL FROM:<a@x> SIZE=12x\r\n") == replies({"501 Syntax: SIZE=<number>"}));
    BOOST_TEST(c.exchange("MAIL FROM:<a@x> SIZE=\r\n") == replies({"501 Syntax: SIZE=<number>"}));
    BOOST_TEST(c.exchange("MAIL FROM:<a@x> BODY=BINARYMIME\r\n") ==
               replies({"501 Error: BODY can only be one of 7BIT, 8BITMIME"}));
    BOOST_TEST(c.exchange("MAIL FROM:<a@x> AUTH=<>\r\n") ==
               replies({"555 MAIL FROM parameters not recognized or not implemented"}));
    BOOST_TEST(c.exchange("MAIL FROM:<a@x>\r\n") == replies({"250 OK"}));
    BOOST_TEST(c.exchange("RCPT\r\n") == replies({"501 Syntax: RCPT TO:<address>"}));
    BOOST_TEST(c.exchange("RCPT TO:b@y\r\n") == replies({"501 Syntax: RCPT TO:<address>"}));
    BOOST_TEST(c.exchange("RCPT TO:<>\r\n") == replies({"501 Syntax: RCPT TO:<address>"}));
    BOOST_TEST(c.exchange("RCPT TO:<b@y> NOTIFY=NEVER\r\n") ==
               replies({"555 RCPT TO parameters not recognized or not implemented"}));
    BOOST_TEST(c.exchange("RCPT TO:<b@y>\r\n") == replies({"250 OK"}));
    BOOST_TEST(c.exchange("DATA now\r\n") == replies({"501 Syntax: DATA"}));
    BOOST_TEST(server.messages.empty());
}

BOOST_AUTO_TEST_CASE(unknown_and_empty_commands_are_500) {
    recording_server server;
    client c(server);
    BOOST_TEST(c.exchange("BDAT 10\r\n") == replies({"500 Error: command not recognized"}));
    BOOST_TEST(c.exchange("\r\n") == replies({"500 Error: bad syntax"}));
    BOOST_TEST(c.exchange(" NOOP\r\n") == replies({"500 Error: bad syntax"}));
    BOOST_TEST(c.exchange("NOOPX\r\n") == replies({"500 Error: command not recognized"}));
    BOOST_TEST(c.exchange("NOOP\r\n") == replies({"250 OK"}));
}

BOOST_AUTO_TEST_CASE(sequence_errors_are_503) {
    recording_server server;
    client c(server);
    BOOST_TEST(c.exchange("MAIL FROM:<a@x>\r\n") == replies({"503 Error: send HELO first"}));
    BOOST_TEST(c.exchange("RCPT TO:<b@y>\r\n") == replies({"503 Error: send HELO first"}));
    BOOST_TEST(c.exchange("DATA\r\n") == replies({"503 Error: send HELO first"}));
    c.exchange("HELO me\r\n");
    BOOST_TEST(c.exchange("RCPT TO:<b@y>\r\n") == replies({"503 Error: need MAIL command"}));
    BOOST_TEST(c.exchange("DATA\r\n") == replies({"503 Error: need RCPT command"}));
    BOOST_TEST(c.exchange("MAIL FROM:<a@x>\r\n") == replies({"250 OK"}));
    BOOST_TEST(c.exchange("MAIL FROM:<a@x>\r\n") == replies({"503 Error: nested MAIL command"}));
    BOOST_TEST(c.exchange("DATA\r\n") == replies({"503 Error: need RCPT command"}));
    // RSET ends the transaction: RCPT needs a new MAIL.
    BOOST_TEST(c.exchange("RSET\r\n") == replies({"250 OK"}));
    BOOST_TEST(c.exchange("RCPT TO:<b@y>\r\n") == replies({"503 Error: need MAIL command"}));
    // So does a second HELO/EHLO (RFC 5321 4.1.4).
    c.exchange("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n");
    BOOST_TEST(c.exchange("EHLO again\r\n") == ehlo_reply);
    BOOST_TEST(c.exchange("DATA\r\n") == replies({"503 Error: need RCPT command"}));
    BOOST_TEST(server.messages.empty());
}

BOOST_AUTO_TEST_CASE(esmtp_parameters_need_ehlo) {
    recording_server server;
    client c(server);
    c.exchange("HELO me\r\n");
    BOOST_TEST(c.exchange("MAIL FROM:<a@x> SIZE=10\r\n") == replies({"501 Syntax: MAIL FROM:<address>"}));
    BOOST_TEST(c.exchange("MAIL FROM:<a@x>\r\n") == replies({"250 OK"}));
}

BOOST_AUTO_TEST_CASE(null_sender_and_parameters) {
    greeted g;
    BOOST_TEST(g.c.exchange("MAIL FROM:<> SIZE=100 BODY=8BITMIME\r\nRCPT TO:<b@y>\r\nRCPT TO: <c@z>\r\n") ==
               replies({"250 OK", "250 OK", "250 OK"}));
    BOOST_TEST(g.c.exchange("DATA\r\nbounce\r\n.\r\n") ==
               replies({"354 End data with <CR><LF>.<CR><LF>", "250 OK"}));
    BOOST_REQUIRE_EQUAL(g.server.messages.size(), 1u);
    const auto& m = g.server.messages[0];
    BOOST_TEST(m.mail_from == "");
    BOOST_TEST((m.mail_options == std::vector<std::string>{"SIZE=100", "BODY=8BITMIME"}));
    BOOST_TEST((m.rcpt_tos == std::vector<std::string>{"b@y", "c@z"}));
    BOOST_TEST(m.content == "bounce\r\n");
}

BOOST_AUTO_TEST_CASE(size_over_the_limit_is_552_at_mail) {
    greeted g(smtp_options{.max_size = 1000});
    BOOST_TEST(g.c.exchange("MAIL FROM:<a@x> SIZE=1001\r\n") ==
               replies({"552 Error: message size exceeds fixed maximum message size"}));
    BOOST_TEST(g.c.exchange("MAIL FROM:<a@x> SIZE=99999999999999999999999999\r\n") ==
               replies({"552 Error: message size exceeds fixed maximum message size"}));
    BOOST_TEST(g.c.exchange("MAIL FROM:<a@x> SIZE=1000\r\n") == replies({"250 OK"}));
}

// The addresses go into header lines of the stored file: a CR, an LF or a space in one could forge a header.
BOOST_AUTO_TEST_CASE(addresses_with_control_characters_are_refused) {
    greeted g;
    BOOST_TEST(g.c.exchange("MAIL FROM:<a@x\rX-Forged: 1>\r\n") == replies({"501 Syntax: MAIL FROM:<address>"}));
    BOOST_TEST(g.c.exchange("MAIL FROM:<a@x\nX-Forged: 1>\r\n") == replies({"501 Syntax: MAIL FROM:<address>"}));
    BOOST_TEST(g.c.exchange(std::string("MAIL FROM:<a\0b>\r\n", 17)) == replies({"501 Syntax: MAIL FROM:<address>"}));
    BOOST_TEST(g.c.exchange("MAIL FROM:<a@x>\r\n") == replies({"250 OK"}));
    BOOST_TEST(g.c.exchange("RCPT TO:<b@y\n>\r\n") == replies({"501 Syntax: RCPT TO:<address>"}));
    BOOST_TEST(g.c.exchange("RCPT TO:<b y>\r\n") == replies({"501 Syntax: RCPT TO:<address>"}));
}

BOOST_AUTO_TEST_CASE(too_many_recipients_is_452) {
    greeted g(smtp_options{.max_recipients = 2});
    BOOST_TEST(g.c.exchange("MAIL FROM:<a@x>\r\nRCPT TO:<1@y>\r\nRCPT TO:<2@y>\r\nRCPT TO:<3@y>\r\n") ==
               replies({"250 OK", "250 OK", "250 OK", "452 Error: too many recipients"}));
    g.c.exchange("DATA\r\nx\r\n.\r\n");
    BOOST_REQUIRE_EQUAL(g.server.messages.size(), 1u);
    BOOST_TEST(g.server.messages[0].rcpt_tos.size() == 2u);
}

// RFC 5321 4.5.3.1.4: a command line is at most 512 bytes with its CRLF.
BOOST_AUTO_TEST_CASE(command_line_over_512_bytes_is_500_and_dropped) {
    recording_server server;
    client c(server);
    const std::string longest = "NOOP " + std::string(505, 'x');   // 510 + CRLF = 512
    BOOST_TEST(c.exchange(longest + "\r\n") == replies({"250 OK"}));
    BOOST_TEST(c.exchange(longest + "y\r\nNOOP\r\n") == replies({"500 Error: line too long", "250 OK"}));
    // However it arrives, and however long: one 500, and the next line is a command again.
    BOOST_TEST(c.exchange("HELO " + std::string(100000, 'z') + "\r\nQUIT\r\n", 7) ==
               replies({"500 Error: line too long", "221 Bye"}));
}

BOOST_AUTO_TEST_CASE(failed_delivery_is_451_and_the_connection_stays) {
    greeted g;
    g.server.reply = "451 Requested action aborted: local error in processing";
    BOOST_TEST(g.c.exchange(transaction("x\r\n")) ==
               replies({"250 OK", "250 OK", "354 End data with <CR><LF>.<CR><LF>",
                        "451 Requested action aborted: local error in processing"}));
    BOOST_TEST(g.c.exchange("NOOP\r\n") == replies({"250 OK"}));
    // The failed transaction is over: a new one starts with MAIL.
    BOOST_TEST(g.c.exchange("RCPT TO:<b@y>\r\n") == replies({"503 Error: need MAIL command"}));
}

BOOST_AUTO_TEST_CASE(the_default_process_message_refuses) {
    asynchat::smtp::smtp_server server;
    client c(server);
    c.exchange("HELO x\r\n");
    BOOST_TEST(c.exchange(transaction("x\r\n")) ==
               replies({"250 OK", "250 OK", "354 End data with <CR><LF>.<CR><LF>",
                        "554 Error: no delivery configured"}));
}

BOOST_AUTO_TEST_CASE(smtpd_style_process_message_sees_the_envelope) {
    struct printer : asynchat::smtp::smtp_server {
        std::string seen;
        std::string process_message(const std::string& peer, const std::string& from,
                                    const std::vector<std::string>& to, const std::string& data) override {
            seen = "[" + peer + "] " + from + " -> " + to.at(0) + ": " + data;
            return to.at(0) == "nobody@y" ? "550 No such user" : "";
        }
    } server;
    client c(server);
    c.exchange("HELO x\r\n");
    BOOST_TEST(c.exchange(transaction("hi\r\n")).ends_with(replies({"250 OK"})));
    BOOST_TEST(server.seen == "[] a@example.org -> b@example.org: hi\r\n");
    BOOST_TEST(c.exchange("MAIL FROM:<a@x>\r\nRCPT TO:<nobody@y>\r\nDATA\r\nhi\r\n.\r\n")
                   .ends_with(replies({"550 No such user"})));
}

BOOST_AUTO_TEST_CASE(timeout_is_421_and_close) {
    recording_server server;
    client c(server);
    c.channel.session().timeout();
    BOOST_TEST(c.got() == replies({"421 localhost Error: timeout exceeded"}));
    BOOST_TEST(c.wire.closed_when_done());
}

BOOST_AUTO_TEST_CASE(nothing_after_quit_is_answered) {
    recording_server server;
    client c(server);
    BOOST_TEST(c.exchange("QUIT\r\nNOOP\r\nHELO x\r\n") == replies({"221 Bye"}));
}

BOOST_AUTO_TEST_CASE(statistics_count_messages_and_errors) {
    asynchat::service_stats stats;
    recording_server server(smtp_options{}, &stats);
    {
        client c(server);
        BOOST_TEST(stats.connections_open == 1u);
        c.exchange("EHLO x\r\nBOGUS\r\n" + transaction("x\r\n"));
        c.channel.close();
        BOOST_TEST(stats.connections_open == 0u);
    }
    BOOST_TEST(stats.messages == 1u);
    BOOST_TEST(stats.errors == 1u);
    BOOST_TEST(stats.connections_accepted == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(smtp_data)

BOOST_AUTO_TEST_CASE(data_is_stored_byte_for_byte_with_its_last_crlf) {
    greeted g;
    BOOST_TEST(g.c.exchange(transaction("Subject: t\r\n\r\nline 1\r\n\r\n  indented\t\r\n")) ==
               replies({"250 OK", "250 OK", "354 End data with <CR><LF>.<CR><LF>", "250 OK"}));
    BOOST_REQUIRE_EQUAL(g.server.messages.size(), 1u);
    BOOST_TEST(g.server.messages[0].content == "Subject: t\r\n\r\nline 1\r\n\r\n  indented\t\r\n");
}

BOOST_AUTO_TEST_CASE(empty_message) {
    greeted g;
    g.c.exchange(transaction(""));
    BOOST_REQUIRE_EQUAL(g.server.messages.size(), 1u);
    BOOST_TEST(g.server.messages[0].content == "");
}

BOOST_AUTO_TEST_CASE(dot_unstuffing) {
    greeted g;
    g.c.exchange(transaction("..\r\n...\r\n.x\r\n..x\r\nx.\r\n. \r\n"));
    BOOST_REQUIRE_EQUAL(g.server.messages.size(), 1u);
    BOOST_TEST(escape(g.server.messages[0].content) == escape(".\r\n..\r\nx\r\n.x\r\nx.\r\n \r\n"));
}

BOOST_AUTO_TEST_CASE(eight_bit_and_nul_bytes_are_data) {
    greeted g;
    const std::string data = std::string("caf\xc3\xa9 \x00\x01\xff\r\n", 11);
    g.c.exchange(transaction(data));
    BOOST_REQUIRE_EQUAL(g.server.messages.size(), 1u);
    BOOST_TEST(escape(g.server.messages[0].content) == escape(data));
}

// DATA lines are not commands: neither RFC 5321's 998 nor the 512 of a command line applies to them.
BOOST_AUTO_TEST_CASE(long_data_lines_are_data) {
    greeted g;
    const std::string data = std::string(998, 'a') + "\r\n" + std::string(5000, 'b') + "\r\n" +
                             std::string(200000, 'c') + "\r\n";
    BOOST_TEST(g.c.exchange(transaction(data), 4096).ends_with(replies({"250 OK"})));
    BOOST_REQUIRE_EQUAL(g.server.messages.size(), 1u);
    BOOST_TEST(g.server.messages[0].content == data);
}

// Bare LF and bare CR inside a line are kept as data: only CRLF ends a line.
BOOST_AUTO_TEST_CASE(bare_lf_and_bare_cr_are_kept) {
    greeted g;
    const std::string data = "a\nb\rc\n\r\n\r\r\n";
    g.c.exchange(transaction(data));
    BOOST_REQUIRE_EQUAL(g.server.messages.size(), 1u);
    BOOST_TEST(escape(g.server.messages[0].content) == escape(data));
}

// Every cut of a whole session into two reads, and reads of 1 to 9 bytes: the terminator and every command are
// found however the stream is split.
BOOST_AUTO_TEST_CASE(data_split_at_every_byte_boundary) {
    const std::string data = "Subject: x\r\n..dotted\r\n\r\nbody\nbare\r\n";
    const std::string stream = "EHLO me\r\n" + transaction(data) + "QUIT\r\n";
    const std::string expected = ehlo_reply + replies({"250 OK", "250 OK", "354 End data with <CR><LF>.<CR><LF>",
                                                       "250 OK", "221 Bye"});
    auto check = [&](const std::vector<std::string_view>& pieces, const std::string& how) {
        recording_server server;
        client c(server);
        for (auto p : pieces) c.says(p);
        BOOST_TEST(c.got() == expected, how);
        BOOST_REQUIRE_MESSAGE(server.messages.size() == 1u, how);
        BOOST_TEST(escape(server.messages[0].content) == escape("Subject: x\r\n.dotted\r\n\r\nbody\nbare\r\n"), how);
    };
    const std::string_view s = stream;
    for (std::size_t cut = 0; cut <= s.size(); ++cut)
        check({s.substr(0, cut), s.substr(cut)}, "cut at " + std::to_string(cut));
    for (std::size_t segment = 1; segment <= 9; ++segment) {
        std::vector<std::string_view> pieces;
        for (std::size_t at = 0; at < s.size(); at += segment) pieces.push_back(s.substr(at, segment));
        check(pieces, "segments of " + std::to_string(segment));
    }
    std::mt19937 rng(20240107);
    for (int round = 0; round < 200; ++round) {
        std::vector<std::string_view> pieces;
        for (std::size_t at = 0; at < s.size();) {
            const std::size_t n = std::uniform_int_distribution<std::size_t>(1, 12)(rng);
            pieces.push_back(s.substr(at, n));
            at += n;
        }
        check(pieces, "random cuts, round " + std::to_string(round));
    }
}

// SMTP smuggling (CVE-2023-51764 Postfix, CVE-2023-51765 Sendmail, CVE-2023-51766 Exim): an end-of-data other
// than <CRLF>.<CRLF> that one server honours and another does not lets a second, forged message ride inside the
// first. Here none of them ends DATA: the bytes after one stay in the same message, and no second transaction
// starts, however the stream is cut.
BOOST_DATA_TEST_CASE(smuggling_sequences_do_not_end_data,
                     bdata::make(std::vector<std::string>{"\n.\r\n", "\n.\n", "\r\n.\n", "\r.\r", "\r.\r\n",
                                                          "\n.\r", "\r\n.\r"}),
                     fake_end) {
    const std::string smuggled = "MAIL FROM:<admin@victim>\r\nRCPT TO:<c@z>\r\nDATA\r\nforged\r\n";
    const std::string data = "first" + fake_end + smuggled;
    const std::string stream = "EHLO me\r\n" + transaction(data) + "QUIT\r\n";
    for (std::size_t segment : {0, 1, 2, 3, 5, 7}) {
        recording_server server;
        client c(server);
        c.says(stream, segment);
        BOOST_TEST(c.got() == ehlo_reply + replies({"250 OK", "250 OK", "354 End data with <CR><LF>.<CR><LF>",
                                                    "250 OK", "221 Bye"}),
                   "segment " << segment);
        BOOST_REQUIRE_EQUAL(server.messages.size(), 1u);
        // The stored line that began with '.' after a CRLF lost that dot; the rest is verbatim.
        std::string expected = "first" + fake_end + smuggled;
        if (fake_end.starts_with("\r\n.")) expected = "first\r\n" + fake_end.substr(3) + smuggled;
        BOOST_TEST(escape(server.messages[0].content) == escape(expected), "segment " << segment);
        BOOST_TEST(server.messages[0].mail_from == "a@example.org");
    }
}

// The other way round: a real <CRLF>.<CRLF> ends the message even when bare-LF lookalikes came before it, and
// what follows it is a new command.
BOOST_AUTO_TEST_CASE(only_crlf_dot_crlf_ends_data) {
    greeted g;
    BOOST_TEST(g.c.exchange(transaction("x\n.\ny\r\n") + "NOOP\r\n", 1) ==
               replies({"250 OK", "250 OK", "354 End data with <CR><LF>.<CR><LF>", "250 OK", "250 OK"}));
    BOOST_REQUIRE_EQUAL(g.server.messages.size(), 1u);
    BOOST_TEST(escape(g.server.messages[0].content) == escape("x\n.\ny\r\n"));
}

BOOST_AUTO_TEST_CASE(message_of_exactly_max_size_is_accepted) {
    greeted g(smtp_options{.max_size = 100});
    const std::string data = std::string(98, 'x') + "\r\n";
    BOOST_TEST(g.c.exchange(transaction(data)).ends_with(replies({"250 OK"})));
    BOOST_REQUIRE_EQUAL(g.server.messages.size(), 1u);
    BOOST_TEST(g.server.messages[0].content.size() == 100u);
}

// Over --max-size by the bytes actually received: DATA is read to its end, nothing is stored, 552, and the
// connection goes on.
BOOST_DATA_TEST_CASE(message_over_max_size_is_552_and_stored_nowhere,
                     bdata::make(std::vector<std::string>{"one byte over", "many lines", "one huge line",
                                                          "dotted line over"}),
                     shape) {
    greeted g(smtp_options{.max_size = 100});
    std::string data;
    if (shape == "one byte over") data = std::string(99, 'x') + "\r\n";
    if (shape == "many lines")
        for (int i = 0; i < 100; ++i) data += "line\r\n";
    if (shape == "one huge line") data = std::string(1 << 20, 'h') + "\r\n";
    if (shape == "dotted line over") data = std::string(60, 'x') + "\r\n.." + std::string(40, 'y') + "\r\n";
    BOOST_TEST(g.c.exchange(transaction(data), 1000) ==
               replies({"250 OK", "250 OK", "354 End data with <CR><LF>.<CR><LF>", "552 Error: Too much mail data"}));
    BOOST_TEST(g.server.messages.empty());
    BOOST_TEST(g.c.exchange(transaction("small\r\n")).ends_with(replies({"250 OK"})));
    BOOST_REQUIRE_EQUAL(g.server.messages.size(), 1u);
    BOOST_TEST(g.server.messages[0].content == "small\r\n");
}

// A dot-stuffed line is measured after unstuffing: 98 bytes + CRLF with a stuffed dot is exactly 100.
BOOST_AUTO_TEST_CASE(the_stuffed_dot_does_not_count) {
    greeted g(smtp_options{.max_size = 100});
    g.c.exchange(transaction("." + std::string(98, '.') + "\r\n"));
    BOOST_REQUIRE_EQUAL(g.server.messages.size(), 1u);
    BOOST_TEST(g.server.messages[0].content.size() == 100u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(smtp_pipelining)

// RFC 2920: a whole session in one write, the message body sent before the 354 could have arrived.
BOOST_AUTO_TEST_CASE(whole_session_in_one_write) {
    recording_server server;
    client c(server);
    BOOST_TEST(c.exchange("EHLO me\r\n" + transaction("one\r\n") + "RSET\r\n" + transaction("two\r\n", "") +
                          "QUIT\r\n") ==
               ehlo_reply + replies({"250 OK", "250 OK", "354 End data with <CR><LF>.<CR><LF>", "250 OK", "250 OK",
                                     "250 OK", "250 OK", "354 End data with <CR><LF>.<CR><LF>", "250 OK",
                                     "221 Bye"}));
    BOOST_REQUIRE_EQUAL(server.messages.size(), 2u);
    BOOST_TEST(server.messages[0].content == "one\r\n");
    BOOST_TEST(server.messages[1].content == "two\r\n");
    BOOST_TEST(server.messages[1].mail_from == "");
}

// While a delivery is in flight nothing after the "." is answered; once its reply is out, the held commands are
// answered in order — whichever byte of the stream the delivery began at.
BOOST_AUTO_TEST_CASE(commands_wait_for_the_delivery_in_flight) {
    const std::string second = "MAIL FROM:<c@x>\r\nRCPT TO:<d@y>\r\nDATA\r\ntwo\r\n.\r\nNOOP\r\nQUIT\r\n";
    const std::string stream = "EHLO me\r\n" + transaction("one\r\n") + second;
    for (std::size_t segment : {0, 1, 3, 8}) {
        recording_server server;
        server.hold = true;
        client c(server);
        c.says(stream, segment);
        BOOST_TEST(c.got() == ehlo_reply + replies({"250 OK", "250 OK", "354 End data with <CR><LF>.<CR><LF>"}),
                   "segment " << segment);
        BOOST_REQUIRE_EQUAL(server.messages.size(), 1u);
        BOOST_TEST(c.channel.delivering());
        BOOST_TEST(!c.channel.readable());
        BOOST_REQUIRE_EQUAL(server.held.size(), 1u);
        server.held[0]("250 OK: first");
        BOOST_TEST(c.got() == replies({"250 OK: first", "250 OK", "250 OK", "354 End data with <CR><LF>.<CR><LF>"}),
                   "segment " << segment);
        BOOST_REQUIRE_EQUAL(server.messages.size(), 2u);
        BOOST_TEST(server.messages[1].content == "two\r\n");
        BOOST_REQUIRE_EQUAL(server.held.size(), 2u);
        server.held[1]("451 try again");
        BOOST_TEST(c.got() == replies({"451 try again", "250 OK", "221 Bye"}), "segment " << segment);
        BOOST_TEST(c.wire.closed_when_done());
        server.held.clear(); // the completions refer to the channel: they go first
    }
}

// A completion called twice, or after the channel closed (the client gone), does nothing.
BOOST_AUTO_TEST_CASE(completion_after_close_touches_nothing) {
    recording_server server;
    server.hold = true;
    auto channel = asyncore::make<asynchat::smtp::smtp_channel>(server);
    asynchat::string_transport wire(*channel);
    channel->start();
    wire.receive("HELO x\r\n" + transaction("x\r\n"));
    BOOST_REQUIRE_EQUAL(server.held.size(), 1u);
    channel->close();
    channel.reset(); // only the completion keeps the channel alive now
    server.held[0]("250 OK");
    server.held.clear(); // the channel is deleted here (ASan would see a use after free otherwise)
    BOOST_TEST(server.messages.size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_second_call_of_a_completion_is_ignored) {
    greeted g;
    g.server.hold = true;
    g.c.exchange(transaction("x\r\n"));
    auto done = g.server.held.at(0);
    done("250 OK");
    done("451 again");
    BOOST_TEST(g.c.got() == replies({"250 OK"}));
    BOOST_TEST(g.c.exchange("NOOP\r\n") == replies({"250 OK"}));
    g.server.held.clear(); // the completions refer to the channel: they go first
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(smtp_random_streams)

// Bad input from the network gets a reply, never a crash: random streams of commands, stray CR/LF, dots, long lines,
// NULs and 8-bit bytes. Every reply line is well formed, every stored message is within max_size, and neither the
// replies nor the messages depend on how the stream is cut.
BOOST_AUTO_TEST_CASE(replies_and_messages_do_not_depend_on_segmentation) {
    const std::vector<std::string> tokens = {
        "EHLO x\r\n", "HELO y\r\n", "MAIL FROM:<a@b>\r\n", "MAIL FROM:<> SIZE=10\r\n", "RCPT TO:<c@d>\r\n",
        "DATA\r\n", ".\r\n", "..x\r\n", "RSET\r\n", "NOOP\r\n", "VRFY z\r\n", "HELP\r\n", "\r\n", "\n", "\r", ".",
        "x", std::string(600, 'y'), std::string(1, '\0'), "\xff", "MAIL FROM:<a\nb>\r\n", "body line\r\n",
        std::string(1500, 'z') + "\r\n", "mail from:<q@r> BODY=8BITMIME\r\n", "QUIT\r\n"};
    std::mt19937 rng(51764);
    for (int round = 0; round < 300; ++round) {
        std::string stream;
        for (int i = 0; i < 60; ++i) {
            std::size_t t = std::uniform_int_distribution<std::size_t>(0, tokens.size() - 1)(rng);
            if (tokens[t] == "QUIT\r\n" && i < 55) t = 0; // mostly a session that runs to its end
            stream += tokens[t];
        }
        auto run = [&](bool cut) {
            recording_server server(smtp_options{.max_size = 2000});
            asynchat::smtp::smtp_channel channel(server);
            asynchat::string_transport wire(channel);
            channel.start();
            std::string out = wire.written();
            std::string_view rest = stream;
            while (!rest.empty()) {
                const std::size_t n =
                    cut ? std::min(rest.size(), std::uniform_int_distribution<std::size_t>(1, 16)(rng)) : rest.size();
                wire.receive(rest.substr(0, n));
                out += wire.written();
                rest.remove_prefix(n);
            }
            std::vector<std::string> contents;
            for (const auto& m : server.messages) contents.push_back(m.content);
            return std::make_pair(out, contents);
        };
        const auto whole = run(false);
        const auto cut = run(true);
        BOOST_TEST(escape(whole.first) == escape(cut.first), "round " << round);
        BOOST_TEST((whole.second == cut.second), "round " << round);
        std::string_view replies_text = whole.first;
        while (!replies_text.empty()) {
            const std::size_t eol = replies_text.find("\r\n");
            BOOST_REQUIRE_MESSAGE(eol != std::string_view::npos, "a reply without CRLF, round " << round);
            const std::string_view line = replies_text.substr(0, eol);
            const bool well_formed = line.size() >= 4 && line[0] >= '2' && line[0] <= '5' &&
                                     std::isdigit(static_cast<unsigned char>(line[1])) &&
                                     std::isdigit(static_cast<unsigned char>(line[2])) &&
                                     (line[3] == ' ' || line[3] == '-');
            BOOST_TEST(well_formed, escape(line) << ", round " << round);
            replies_text.remove_prefix(eol + 2);
        }
        for (const auto& content : whole.second) BOOST_TEST(content.size() <= 2000u);
    }
}

BOOST_AUTO_TEST_SUITE_END()
