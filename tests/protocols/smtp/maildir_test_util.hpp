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

// A stored message without the Received line maildir_server adds after X-Envelope-To, so that the rest can be
// compared byte for byte. The line must be there, name the file as its id, and (when `client` is not empty) the
// client's address literal; otherwise the result says what is wrong instead, and the comparison fails with it.
inline std::string without_received(const fs::path& f, const std::string& client = "127.0.0.1") {
    const std::string content = slurp(f);
    const auto start = content.find("\r\nReceived: from ");
    if (start == std::string::npos) return "no Received line in " + f.string() + ": " + content.substr(0, 300);
    const auto end = content.find("\r\n", start + 2);
    const std::string line = content.substr(start + 2, end - start - 2);
    if (line.find(" id " + f.filename().string() + (line.find(" for <") != std::string::npos ? " for <" : ";")) ==
        std::string::npos)
        return "the Received line does not name " + f.filename().string() + ": " + line;
    if (!client.empty() && line.find(" ([" + client + "]) by ") == std::string::npos)
        return "the Received line does not name the client " + client + ": " + line;
    return content.substr(0, start + 2) + content.substr(end + 2);
}

} // namespace maildir_test
