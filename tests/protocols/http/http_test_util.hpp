#pragma once
// Helpers of the HTTP suites: the segmentations every parser test runs over, a temporary document root, and an
// independent reading of the server's output (so that the server is not checked against its own client code).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include "chat_test_util.hpp"

namespace http_test {

using chat_test::escape;

// Reads of 1..9 bytes, and one read of everything (0).
inline std::vector<std::size_t> segment_sizes() { return {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; }

// The pieces of bytes cut every `segment` bytes (0: one piece).
inline std::vector<std::string_view> cut(std::string_view bytes, std::size_t segment) {
    std::vector<std::string_view> pieces;
    if (segment == 0) segment = bytes.size() ? bytes.size() : 1;
    for (std::size_t at = 0; at < bytes.size(); at += segment) pieces.push_back(bytes.substr(at, segment));
    return pieces;
}

// The pieces of bytes cut at seeded random places (pieces of 1 to 40 bytes).
inline std::vector<std::string_view> random_cut(std::string_view bytes, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<std::size_t> len(1, 40);
    std::vector<std::string_view> pieces;
    for (std::size_t at = 0; at < bytes.size();) {
        const std::size_t n = std::min(len(rng), bytes.size() - at);
        pieces.push_back(bytes.substr(at, n));
        at += n;
    }
    return pieces;
}

// One response as the test reads it: the status, the raw head and the body by Content-Length.
struct parsed_response {
    int status = 0;
    std::string head; // status line and header lines, CRLF-separated, without the blank line
    std::string body;
    bool has_header(std::string_view line) const { return head.find("\r\n" + std::string(line) + "\r\n") != std::string::npos; }
    std::string header(std::string_view name) const {
        const std::string key = "\r\n" + std::string(name) + ": ";
        const auto at = head.find(key);
        if (at == std::string::npos) return {};
        const auto end = head.find("\r\n", at + key.size());
        return head.substr(at + key.size(), end == std::string::npos ? std::string::npos : end - at - key.size());
    }
};

// Splits the server's output into responses: a head ending in CRLF CRLF, then Content-Length bytes (none for HEAD
// answers, 304 and 204, which head_only says or the status implies). Stops at anything it cannot read.
inline std::vector<parsed_response> split_responses(std::string_view out, const std::vector<bool>& head_only = {}) {
    std::vector<parsed_response> result;
    while (!out.empty()) {
        const auto end = out.find("\r\n\r\n");
        if (end == std::string_view::npos || !out.starts_with("HTTP/1.0 ")) break;
        parsed_response r;
        r.head = std::string(out.substr(0, end)) + "\r\n";
        r.status = std::stoi(std::string(out.substr(9, 3)));
        out.remove_prefix(end + 4);
        const std::string length = r.header("Content-Length");
        const bool head = result.size() < head_only.size() && head_only[result.size()];
        if (!head && !length.empty() && r.status != 304 && r.status != 204) {
            const std::size_t n = std::stoul(length);
            r.body = std::string(out.substr(0, n));
            out.remove_prefix(std::min(n, out.size()));
        }
        result.push_back(std::move(r));
    }
    return result;
}

// A temporary directory, removed with everything in it at the end of the test.
class temp_dir {
public:
    temp_dir() {
        static int counter = 0;
        path_ = std::filesystem::temp_directory_path() /
                ("asynchat-http-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    ~temp_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const std::filesystem::path& path() const noexcept { return path_; }
    void write(const std::filesystem::path& relative, std::string_view content) const {
        const auto full = path_ / relative;
        std::filesystem::create_directories(full.parent_path());
        std::ofstream(full, std::ios::binary).write(content.data(), static_cast<std::streamsize>(content.size()));
    }

private:
    std::filesystem::path path_;
};

// A marker only the file outside the root contains: a response that shows it has escaped the root.
inline constexpr std::string_view secret_marker = "TOP-SECRET-OUTSIDE-THE-ROOT";

// A document root for the server tests, next to a directory `outside` with a secret file, and symlinks from the
// root to it (the escape a symlink allows when the server follows it).
//   root/a.txt ("hello\n"), root/index.html, root/sub/index.html, root/big.bin (100000 bytes), root/style.css
//   root/evil -> outside/secret.txt, root/evildir -> outside, root/inside -> a.txt (a symlink that stays inside)
struct site {
    temp_dir dir;
    std::filesystem::path root = dir.path() / "root";
    std::filesystem::path outside = dir.path() / "outside";
    std::string big;
    site() {
        dir.write("root/a.txt", "hello\n");
        dir.write("root/index.html", "<h1>home</h1>\n");
        dir.write("root/sub/index.html", "<p>sub</p>\n");
        dir.write("root/style.css", "p{}\n");
        for (std::size_t i = 0; i < 100000; ++i) big += static_cast<char>((i * 7919 + i / 251) & 0xff);
        dir.write("root/big.bin", big);
        dir.write("outside/secret.txt", secret_marker);
        std::filesystem::create_directories(root / "empty");
        std::filesystem::create_symlink(outside / "secret.txt", root / "evil");
        std::filesystem::create_symlink(outside, root / "evildir");
        std::filesystem::create_symlink("a.txt", root / "inside");
    }
};

} // namespace http_test
