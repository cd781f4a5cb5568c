#pragma once
// Files for the Maildir tests, in-process and black-box alike: a scratch directory, a file's bytes, a folder's files.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

namespace maildir_test {

namespace fs = std::filesystem;

// A fresh path under the temp dir (made when `create`, else left for the code under test to make), removed again
// at the end.
struct temp_dir {
    fs::path path;
    explicit temp_dir(bool create = false) {
        static int n = 0;
        path = fs::temp_directory_path() / ("asynchat-maildir-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
        fs::remove_all(path);
        if (create) fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ignored;
        fs::remove_all(path, ignored);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
};

inline std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The entries of dir (none if it does not exist).
inline std::vector<fs::path> files_in(const fs::path& dir) {
    std::vector<fs::path> out;
    if (fs::is_directory(dir))
        for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
    return out;
}

} // namespace maildir_test
