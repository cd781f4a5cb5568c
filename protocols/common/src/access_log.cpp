#include "asynchat/access_log.hpp"

#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

namespace asynchat {

namespace {

constexpr std::size_t wake_at = 64 * 1024; // bytes pending that wake the thread before its interval

void say(const std::string& line) {
    const std::string text = "asynchat: access log: " + line + "\n";
    [[maybe_unused]] auto ignored = ::write(2, text.data(), text.size()); // one write: lines never interleave
}

} // namespace

access_log::access_log(std::string path, access_log_options options)
    : path_(std::move(path)), options_(options) {
    open_path(true);
    thread_ = std::thread([this] { run(); });
}

access_log::~access_log() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
    if (owns_fd_) ::close(fd_);
}

void access_log::open_path(bool first) {
    if (path_ == "-") {
        fd_ = 1;
        owns_fd_ = false;
        return;
    }
    const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        const int error = errno;
        if (first) throw std::system_error(error, std::generic_category(), "cannot open access log " + path_);
        say("cannot reopen " + path_ + ": " + std::strerror(error) + "; still writing to the old file");
        return;
    }
    if (owns_fd_) ::close(fd_);
    fd_ = fd;
    owns_fd_ = true;
}

void access_log::write(std::string_view line) {
    bool wake = false;
    {
        std::lock_guard lock(mutex_);
        if (pending_.size() + line.size() + 1 > options_.max_pending) {
            dropped_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        pending_.append(line).push_back('\n');
        ++queued_batches_;
        wake = pending_.size() >= wake_at;
    }
    if (wake) wake_.notify_one();
}

void access_log::reopen() {
    {
        std::lock_guard lock(mutex_);
        reopen_ = true;
    }
    wake_.notify_one();
}

void access_log::flush() {
    std::unique_lock lock(mutex_);
    const std::uint64_t wanted = queued_batches_;
    wake_.notify_one();
    written_.wait(lock, [&] { return written_batches_ >= wanted; });
}

void access_log::write_out(const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            // Disk full, a closed pipe: the rest of this batch is lost, and said so, once per batch.
            std::uint64_t lines = 0;
            for (std::size_t i = done; i < bytes.size(); ++i) lines += bytes[i] == '\n';
            dropped_.fetch_add(lines, std::memory_order_relaxed);
            say("write to " + path_ + " failed (" + std::strerror(errno) + "): " + std::to_string(lines) +
                " lines lost");
            return;
        }
        done += static_cast<std::size_t>(n);
    }
}

void access_log::run() {
    std::string batch;
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait_for(lock, options_.flush_interval, [&] {
            return stopping_ || reopen_ || pending_.size() >= wake_at || written_batches_ < queued_batches_;
        });
        // A turn comes at the interval, or sooner when woken: by 64 KiB pending, reopen(), the destructor, or
        // flush() (the last condition lets its wake-up through: lines are waiting).
        batch.swap(pending_);
        const std::uint64_t covered = queued_batches_;
        const bool reopen = std::exchange(reopen_, false);
        const bool stop = stopping_;
        lock.unlock();
        if (!batch.empty()) write_out(batch);
        batch.clear();
        if (reopen) open_path(false);
        lock.lock();
        written_batches_ = covered;
        written_.notify_all();
        if (stop && pending_.empty()) return;
    }
}

} // namespace asynchat
