// asyncore::log, the facility every layer writes through (core/include/asyncore/log.hpp).
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include "log_capture.hpp"

#include <asyncore/asyncore.hpp>

using test_support::installed_sink;

BOOST_AUTO_TEST_SUITE(log_facility)

BOOST_AUTO_TEST_CASE(lines_go_to_the_installed_sink_with_their_level) {
    installed_sink s;
    asyncore::log(asyncore::log_level::error, "one");
    asyncore::log(asyncore::log_level::warning, "two");
    BOOST_REQUIRE_EQUAL(s.sink->lines.size(), 2u);
    BOOST_TEST(s.sink->lines[0].second == "one");
    BOOST_TEST((s.sink->lines[0].first == asyncore::log_level::error));
    BOOST_TEST((s.sink->lines[1].first == asyncore::log_level::warning));
}

BOOST_AUTO_TEST_CASE(lines_below_the_level_are_dropped) {
    installed_sink s;
    asyncore::set_log_level(asyncore::log_level::warning);
    BOOST_TEST(!asyncore::log_enabled(asyncore::log_level::info));
    asyncore::log(asyncore::log_level::info, "dropped");
    asyncore::log(asyncore::log_level::debug, "dropped too");
    asyncore::log(asyncore::log_level::error, "kept");
    BOOST_REQUIRE_EQUAL(s.sink->lines.size(), 1u);
    BOOST_TEST(s.sink->lines[0].second == "kept");
    asyncore::set_log_level(asyncore::log_level::debug);
    asyncore::log(asyncore::log_level::debug, "traced");
    BOOST_TEST(s.sink->lines.size() == 2u);
}

// dispatcher::log and log_info keep Python's formats and reach the facility; ignore_log_types still filters.
BOOST_AUTO_TEST_CASE(dispatcher_log_and_log_info_go_through_it) {
    installed_sink s;
    asyncore::dispatcher d;
    d.log("plain");
    d.log_info("hello", "EGGS");
    d.log_info("quiet", "warning"); // in ignore_log_types by default
    d.log_info("bad", "error");
    d.log_info("traced", "debug"); // Python prints any type not ignored; so does this at the default level
    BOOST_REQUIRE_EQUAL(s.sink->lines.size(), 4u);
    BOOST_TEST(s.sink->lines[3].second == "debug: traced");
    BOOST_TEST(s.sink->lines[0].second == "log: plain");
    BOOST_TEST(s.sink->lines[1].second == "EGGS: hello");
    BOOST_TEST(s.sink->lines[2].second == "error: bad");
    BOOST_TEST((s.sink->lines[2].first == asyncore::log_level::error));
}

// The default sink: one write(2) per line on the descriptor, newline added, nothing else; lines written from
// several threads stay whole (each is one write below PIPE_BUF).
BOOST_AUTO_TEST_CASE(fd_sink_writes_whole_lines) {
    int fds[2];
    BOOST_REQUIRE_EQUAL(::pipe(fds), 0);
    {
        asyncore::fd_sink sink(fds[1]);
        std::vector<std::thread> writers;
        for (int t = 0; t < 4; ++t)
            writers.emplace_back([&] {
                auto shared = std::make_shared<asyncore::fd_sink>(fds[1]);
                for (int i = 0; i < 50; ++i) shared->write(asyncore::log_level::info, std::string(100, 'x'));
            });
        for (auto& w : writers) w.join();
        sink.write(asyncore::log_level::error, "last");
    }
    ::close(fds[1]);
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    std::size_t lines = 0, start = 0;
    for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1, ++lines) {
        const std::string line = text.substr(start, nl - start);
        if (lines < 200) BOOST_TEST(line == std::string(100, 'x'));
        else BOOST_TEST(line == "last");
    }
    BOOST_TEST(lines == 201u);
}

BOOST_AUTO_TEST_CASE(a_null_sink_restores_stderr) {
    auto previous = asyncore::set_log_sink(nullptr);
    auto restored = asyncore::set_log_sink(previous);
    BOOST_TEST(dynamic_cast<asyncore::fd_sink*>(restored.get()) != nullptr);
}

BOOST_AUTO_TEST_SUITE_END()
