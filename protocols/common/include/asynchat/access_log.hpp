#pragma once
// asynchat::access_log — one line per request served (HTTP, in the combined log format) or message delivered
// (SMTP), appended to a file off the loop's path: write() only appends to a buffer in memory; a thread of the log's
// own writes the buffer out (every flush_interval, or sooner once 64 KiB are waiting), so a slow disk never holds
// up a connection. reopen() — what a server does on SIGHUP — makes the thread write what is pending to the file
// it has, then open the path afresh: logrotate renames the file, sends SIGHUP, and no line is lost or split
// between the two files. Bounded: past max_pending bytes waiting (the disk stalled), lines are dropped and
// counted, never queued without limit.
//
//   asynchat::access_log log("/var/log/asynchat/access.log");
//   http_options.access_log = &log;                   // http::server_options
//   asyncore::on_signals({SIGHUP}, [&] { log.reopen(); });
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace asynchat {

struct access_log_options {
    std::size_t max_pending = 16u << 20;              // bytes waiting for the disk; a line past it is dropped
    std::chrono::milliseconds flush_interval{200};    // the longest a line waits in memory
};

class access_log {
public:
    // Opens `path` for appending (created 0640 if missing); "-" is standard output. Throws std::system_error
    // naming the path when it cannot be opened.
    explicit access_log(std::string path, access_log_options options = {});
    // Writes what is pending, then stops the thread.
    ~access_log();
    access_log(const access_log&) = delete;
    access_log& operator=(const access_log&) = delete;

    // One line; the '\n' is added. Any thread.
    void write(std::string_view line);
    // At the thread's next turn: what is pending goes to the current file, then the path is opened again. A path
    // that cannot be opened keeps the old file (and says so once on stderr).
    void reopen();
    // Returns once every line written so far is in the file (or dropped): for tests, and before an exit.
    void flush();

    const std::string& path() const noexcept { return path_; }
    std::uint64_t lines_dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

private:
    void run();
    void open_path(bool first);
    void write_out(const std::string& bytes);

    std::string path_;
    access_log_options options_;
    int fd_ = -1;
    bool owns_fd_ = false;
    std::atomic<std::uint64_t> dropped_{0};

    std::mutex mutex_;
    std::condition_variable wake_;      // the thread: something to do
    std::condition_variable written_;   // flush(): what it waited for is out
    std::string pending_;
    std::uint64_t queued_batches_ = 0;  // lines accepted by write()
    std::uint64_t written_batches_ = 0; // of those, how many the thread has written out
    bool reopen_ = false;
    bool stopping_ = false;
    std::thread thread_;
};

} // namespace asynchat
