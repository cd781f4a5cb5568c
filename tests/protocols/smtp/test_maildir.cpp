// The Maildir delivery (its completions come back to the loop thread through asyncore::loop_inbox), on every backend:
// files complete in new/ only, one completion per message on the loop thread, group commit, failures reported,
// and maildir_server's SMTP replies waiting for the disk.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <asyncore/socket_map.hpp>
#include <asynchat/smtp/maildir.hpp>
#include <asynchat/smtp/server.hpp>

#include "smtp_test_util.hpp"
#include "maildir_test_util.hpp"
#include "test_support.hpp"

namespace bdata = boost::unit_test::data;
namespace fs = std::filesystem;
using maildir_test::files_in;
using maildir_test::slurp;
using maildir_test::temp_dir;
using namespace std::chrono_literals;
using namespace smtp_test;

using test_support::run_until;

BOOST_AUTO_TEST_SUITE(smtp_maildir)

BOOST_DATA_TEST_CASE(messages_land_complete_in_new, bdata::make(test_support::backends()), backend) {
    temp_dir dir;
    asyncore::socket_map map;
    asynchat::smtp::maildir box(dir.path, map, {.workers = 3});
    BOOST_TEST(fs::is_directory(dir.path / "cur"));
    std::vector<asynchat::smtp::delivery_result> results;
    constexpr int count = 40;
    for (int i = 0; i < count; ++i)
        box.deliver("Head: " + std::to_string(i) + "\r\n", std::string(10240, static_cast<char>('a' + i % 26)),
                    [&](const asynchat::smtp::delivery_result& r) { results.push_back(r); });
    BOOST_TEST(results.empty()); // never from inside deliver()
    BOOST_REQUIRE(run_until(map, backend, [&] { return results.size() == count; }));
    std::set<std::string> names;
    for (const auto& r : results) {
        BOOST_TEST(r.ok, r.error);
        names.insert(r.name);
    }
    BOOST_TEST(names.size() == std::size_t{count});
    BOOST_TEST(files_in(dir.path / "new").size() == std::size_t{count});
    BOOST_TEST(files_in(dir.path / "tmp").empty());
    for (const auto& name : names) {
        const std::string body = slurp(dir.path / "new" / name);
        BOOST_REQUIRE(body.starts_with("Head: "));
        const int i = std::stoi(body.substr(6));
        BOOST_TEST(body == "Head: " + std::to_string(i) + "\r\n" +
                               std::string(10240, static_cast<char>('a' + i % 26)));
        // time.pid_seq.host, as the Maildir spec names files.
        BOOST_TEST(name.find("." + std::to_string(::getpid()) + "_") != std::string::npos, name);
    }
    BOOST_TEST(box.stats().delivered == std::uint64_t{count});
    BOOST_TEST(box.in_flight() == 0u);
}

// Two loops (a server's two workers) on one Maildir, the second writing with the first's delivery threads: each
// loop's completions come back to its own loop (a thread of its own runs the second), every file is whole and
// uniquely named, and the second can go while the first stays.
BOOST_DATA_TEST_CASE(a_second_loop_delivers_with_the_first_ones_threads, bdata::make(test_support::backends()),
                     backend) {
    temp_dir dir;
    asyncore::socket_map first_map;
    asynchat::smtp::maildir first(dir.path, first_map, {.workers = 2});
    constexpr int count = 30;
    std::vector<asynchat::smtp::delivery_result> first_results;
    std::vector<asynchat::smtp::delivery_result> second_results;
    bool second_on_its_thread = true;
    std::uint64_t second_delivered = 0; // (Boost.Test's checks are for this thread: values come back instead)
    std::thread other([&] {
        asyncore::socket_map second_map;
        asynchat::smtp::maildir second(dir.path, second_map, first);
        const auto me = std::this_thread::get_id();
        for (int i = 0; i < count; ++i)
            second.deliver("Loop: 2\r\n", std::string(4096, 'b'), [&](const asynchat::smtp::delivery_result& r) {
                second_results.push_back(r);
                second_on_its_thread = second_on_its_thread && std::this_thread::get_id() == me;
            });
        run_until(second_map, backend, [&] { return second_results.size() == count; });
        second_delivered = second.stats().delivered;
    }); // `second` goes here, before `first`
    for (int i = 0; i < count; ++i)
        first.deliver("Loop: 1\r\n", std::string(4096, 'a'),
                      [&](const asynchat::smtp::delivery_result& r) { first_results.push_back(r); });
    BOOST_REQUIRE(run_until(first_map, backend, [&] { return first_results.size() == count; }));
    other.join();
    BOOST_TEST(second_results.size() == std::size_t{count});
    BOOST_TEST(second_on_its_thread);
    BOOST_TEST(second_delivered == std::uint64_t{count});
    std::set<std::string> names;
    for (const auto* results : {&first_results, &second_results})
        for (const auto& r : *results) {
            BOOST_TEST(r.ok, r.error);
            names.insert(r.name);
        }
    BOOST_TEST(names.size() == std::size_t{2 * count});
    std::size_t ones = 0, twos = 0;
    for (const auto& f : files_in(dir.path / "new")) {
        const std::string body = slurp(f);
        ones += body == "Loop: 1\r\n" + std::string(4096, 'a');
        twos += body == "Loop: 2\r\n" + std::string(4096, 'b');
    }
    BOOST_TEST(ones == std::size_t{count});
    BOOST_TEST(twos == std::size_t{count});
    BOOST_TEST(first.stats().delivered == std::uint64_t{count});
}

// Messages queued while a worker is busy go in one batch: one fsync of new/ for all of them. 64 deliveries are
// queued in microseconds, one file's fsync takes far longer, so with group commit there are fewer batches than
// messages; without it, exactly as many.
BOOST_DATA_TEST_CASE(pending_messages_share_one_directory_fsync, bdata::make(test_support::backends()), backend) {
    temp_dir dir;
    asyncore::socket_map map;
    asynchat::smtp::maildir box(dir.path, map, {.workers = 1});
    std::size_t done = 0;
    for (int i = 0; i < 64; ++i) box.deliver("", "x\r\n", [&](const asynchat::smtp::delivery_result&) { ++done; });
    BOOST_REQUIRE(run_until(map, backend, [&] { return done == 64; }));
    BOOST_TEST(box.stats().delivered == 64u);
    BOOST_TEST(box.stats().batches < 64u);
    BOOST_TEST_MESSAGE("64 messages in " << box.stats().batches << " batches");
}

BOOST_DATA_TEST_CASE(a_failed_write_is_reported_and_leaves_nothing_in_new, bdata::make(test_support::backends()),
                     backend) {
    temp_dir dir;
    asyncore::socket_map map;
    asynchat::smtp::maildir box(dir.path, map, {.workers = 2});
    fs::remove_all(dir.path / "tmp"); // the disk "fails": tmp/ is gone (permissions would not stop root)
    std::vector<asynchat::smtp::delivery_result> results;
    box.deliver("", "x\r\n", [&](const asynchat::smtp::delivery_result& r) { results.push_back(r); });
    BOOST_REQUIRE(run_until(map, backend, [&] { return results.size() == 1; }));
    BOOST_TEST(!results[0].ok);
    BOOST_TEST(results[0].error.find("tmp/") != std::string::npos, results[0].error);
    BOOST_TEST(files_in(dir.path / "new").empty());
    BOOST_TEST(box.stats().failed == 1u);
}

// Destroyed with deliveries in flight: the workers finish what they took, no completion runs afterwards, and
// whatever reached new/ is complete.
BOOST_AUTO_TEST_CASE(destroyed_with_deliveries_in_flight) {
    temp_dir dir;
    asyncore::socket_map map;
    int called = 0;
    {
        asynchat::smtp::maildir box(dir.path, map, {.workers = 2});
        for (int i = 0; i < 20; ++i)
            box.deliver("", std::string(4096, 'z'), [&](const asynchat::smtp::delivery_result&) { ++called; });
    }
    BOOST_TEST(called == 0);
    for (const auto& f : files_in(dir.path / "new")) BOOST_TEST(slurp(f) == std::string(4096, 'z'));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(smtp_maildir_server)

// The 250 after DATA waits for the disk; the message is in new/ with the envelope's header lines when it comes.
BOOST_DATA_TEST_CASE(the_250_comes_after_the_file_is_in_new, bdata::make(test_support::backends()), backend) {
    temp_dir dir;
    asyncore::socket_map map;
    asynchat::smtp::maildir_server server(dir.path, map);
    asynchat::smtp::smtp_channel channel(server, &map);
    asynchat::string_transport wire(channel);
    channel.start();
    wire.written();
    std::string got;
    wire.receive("EHLO me\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nRCPT TO:<c@z>\r\nDATA\r\nSubject: s\r\n\r\n"
                 "..body\r\n.\r\nNOOP\r\n");
    got += wire.written();
    BOOST_TEST(!got.ends_with("250 OK\r\n")); // the NOOP waits behind the delivery
    BOOST_REQUIRE(run_until(map, backend, [&] {
        got += wire.written();
        return got.ends_with("250 OK\r\n");
    }));
    const auto queued = got.find("250 OK: queued as ");
    BOOST_REQUIRE(queued != std::string::npos);
    const std::string name = got.substr(queued + 18, got.find("\r\n", queued) - queued - 18);
    // The Received line names the stored file as its id; without a socket it has no client address.
    const std::string stored = slurp(dir.path / "new" / name);
    const std::string received = "Received: from me by localhost with ESMTP id " + name + "; ";
    BOOST_TEST(escape(stored.substr(0, stored.find("Received: "))) ==
               escape("Return-Path: <a@x>\r\nX-Envelope-To: <b@y>, <c@z>\r\n"));
    BOOST_TEST(stored.find(received) != std::string::npos, escape(stored));
    BOOST_TEST(escape(stored.substr(stored.find("\r\n", stored.find(received)) + 2)) ==
               escape("Subject: s\r\n\r\n.body\r\n"));
}

// RFC 5321 §4.4's trace line: from the HELO name and the client's address literal, by us, with the protocol, the
// queue id, the one recipient, and the date; a HELO name cannot break out of the header.
BOOST_AUTO_TEST_CASE(the_received_line_says_where_the_message_came_from) {
    using asynchat::smtp::arrival;
    asynchat::smtp::envelope one{.mail_from = "a@x", .mail_options = {}, .rcpt_tos = {"b@y"}, .content = {}};
    asynchat::smtp::envelope two = one;
    two.rcpt_tos.push_back("c@z");
    // 2026-12-08 01:02:03 UTC, a Tuesday.
    const auto when = std::chrono::system_clock::from_time_t(1796691723);
    const arrival v4{.helo = "client.example",
                     .client = asyncore::address::ipv4("203.0.113.7", 56324),
                     .by = "mx.example",
                     .with = "ESMTP",
                     .id = "Q1",
                     .when = when};
    BOOST_TEST(asynchat::smtp::received_header(v4, one) ==
               "Received: from client.example ([203.0.113.7]) by mx.example with ESMTP id Q1 for <b@y>; "
               "Tue, 08 Dec 2026 01:02:03 +0000\r\n");
    arrival v6 = v4;
    v6.client = asyncore::address::ipv6("2001:db8::1", 25);
    v6.with = "ESMTPS";
    BOOST_TEST(asynchat::smtp::received_header(v6, two) ==
               "Received: from client.example ([IPv6:2001:db8::1]) by mx.example with ESMTPS id Q1; "
               "Tue, 08 Dec 2026 01:02:03 +0000\r\n");
    arrival forged = v4;
    forged.helo = "x\r\nReceived: from trusted (evil";
    const std::string line = asynchat::smtp::received_header(forged, one);
    BOOST_TEST(line.find('\r') == line.size() - 2);
    BOOST_TEST(line.starts_with("Received: from x__Received:_from_trusted__evil ([203.0.113.7]) by "));
}

BOOST_DATA_TEST_CASE(a_failed_delivery_is_451_and_the_session_goes_on, bdata::make(test_support::backends()),
                     backend) {
    temp_dir dir;
    asyncore::socket_map map;
    asynchat::smtp::maildir_server server(dir.path, map);
    asynchat::smtp::smtp_channel channel(server, &map);
    asynchat::string_transport wire(channel);
    channel.start();
    wire.written();
    fs::remove_all(dir.path / "tmp");
    std::string got;
    wire.receive("HELO me\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nx\r\n.\r\nNOOP\r\n");
    BOOST_REQUIRE(run_until(map, backend, [&] {
        got += wire.written();
        return got.ends_with("\r\n250 OK\r\n") && got.find("451") != std::string::npos;
    }));
    BOOST_TEST(escape(got) == replies({"250 localhost", "250 OK", "250 OK", "354 End data with <CR><LF>.<CR><LF>",
                                       "451 Requested action aborted: local error in processing", "250 OK"}));
    BOOST_TEST(files_in(dir.path / "new").empty());
}

BOOST_AUTO_TEST_SUITE_END()
