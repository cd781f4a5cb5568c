// asynchat::access_log (access_log.hpp) in this process: lines land whole and in order, nothing pending is lost at
// the end, the memory bound drops (and counts) what does not fit instead of growing, reopen() after a rename puts
// the lines before it in the old file and the lines after in the new one, and a path that cannot be opened is
// an error naming it.
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <asynchat/access_log.hpp>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace test_access_log {

struct scratch {
    fs::path dir = fs::temp_directory_path() / ("asynchat-access-unit-" + std::to_string(::getpid()));
    scratch() {
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    ~scratch() { fs::remove_all(dir); }
};

std::vector<std::string> lines_of(const fs::path& p) {
    std::ifstream in(p);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

} // namespace test_access_log

using namespace test_access_log;

BOOST_AUTO_TEST_SUITE(access_log_file)

BOOST_AUTO_TEST_CASE(lines_land_whole_in_order_and_none_is_lost_at_the_end) {
    scratch s;
    const fs::path file = s.dir / "a.log";
    {
        asynchat::access_log log(file.string(), {.max_pending = 1 << 20, .flush_interval = 60s});
        for (int i = 0; i < 1000; ++i) log.write("line " + std::to_string(i));
        log.flush();
        BOOST_TEST(lines_of(file).size() == 1000u);
        for (int i = 1000; i < 1500; ++i) log.write("line " + std::to_string(i));
    } // the destructor writes the 500 still pending (the interval is a minute away)
    const auto lines = lines_of(file);
    BOOST_REQUIRE_EQUAL(lines.size(), 1500u);
    for (int i = 0; i < 1500; ++i) BOOST_REQUIRE_EQUAL(lines[static_cast<std::size_t>(i)], "line " + std::to_string(i));
}

// A disk that does not keep up (here: a writer that is not due for a minute) cannot make the log grow: past
// max_pending, lines are dropped and counted; the ones kept are whole.
BOOST_AUTO_TEST_CASE(past_max_pending_lines_are_dropped_and_counted) {
    scratch s;
    const fs::path file = s.dir / "b.log";
    asynchat::access_log log(file.string(), {.max_pending = 100, .flush_interval = 60s});
    for (int i = 0; i < 20; ++i) log.write("twenty bytes line " + std::to_string(i % 10)); // 20 bytes + '\n'
    log.flush();
    const auto lines = lines_of(file);
    BOOST_TEST(log.lines_dropped() > 0u);
    BOOST_TEST(lines.size() + log.lines_dropped() == 20u);
    for (const auto& line : lines) BOOST_TEST(line.starts_with("twenty bytes line "));
}

BOOST_AUTO_TEST_CASE(reopen_after_a_rename_splits_at_the_call) {
    scratch s;
    const fs::path file = s.dir / "c.log";
    asynchat::access_log log(file.string(), {.max_pending = 1 << 20, .flush_interval = 60s});
    log.write("before 1");
    log.write("before 2");
    fs::rename(file, s.dir / "c.log.1");
    log.reopen();
    log.flush();
    log.write("after");
    log.flush();
    BOOST_TEST((lines_of(s.dir / "c.log.1") == std::vector<std::string>{"before 1", "before 2"}));
    BOOST_TEST((lines_of(file) == std::vector<std::string>{"after"}));
}

BOOST_AUTO_TEST_CASE(a_path_that_cannot_be_opened_is_an_error_naming_it) {
    try {
        asynchat::access_log log("/nonexistent-dir/x.log");
        BOOST_FAIL("opened a file in a directory that does not exist");
    } catch (const std::system_error& e) {
        BOOST_TEST(std::string(e.what()).find("/nonexistent-dir/x.log") != std::string::npos, e.what());
    }
}

BOOST_AUTO_TEST_SUITE_END()
