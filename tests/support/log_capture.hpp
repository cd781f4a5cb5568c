#pragma once
// A recording asyncore::log sink, installed for a test's duration: what the layers logged, line by line, with the
// level. The previous sink and level come back when it goes.
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asyncore/log.hpp>

namespace test_support {

struct recording_sink final : asyncore::log_sink {
    std::vector<std::pair<asyncore::log_level, std::string>> lines;
    void write(asyncore::log_level level, std::string_view line) override { lines.emplace_back(level, line); }
};

struct installed_sink {
    std::shared_ptr<recording_sink> sink = std::make_shared<recording_sink>();
    std::shared_ptr<asyncore::log_sink> previous = asyncore::set_log_sink(sink);
    asyncore::log_level level = asyncore::get_log_level();
    installed_sink() = default;
    installed_sink(const installed_sink&) = delete;
    installed_sink& operator=(const installed_sink&) = delete;
    ~installed_sink() {
        asyncore::set_log_sink(previous);
        asyncore::set_log_level(level);
    }
};

} // namespace test_support
