#include "asynchat/smtp/maildir.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <algorithm>
#include <cstring>

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

namespace asynchat::smtp {

namespace {

std::string errno_text(const std::string& what, int err) { return what + ": " + std::strerror(err); }

int open_dir(const std::filesystem::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        throw std::filesystem::filesystem_error("open", dir, std::error_code(errno, std::generic_category()));
    return fd;
}

// The host part of a Maildir name: '/' and ':' are escaped (\057, \072) so the name stays one name and the
// ":2,FLAGS" suffix readers add stays unambiguous.
std::string maildir_host() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
    std::string out;
    for (const char* p = buf; *p; ++p) {
        if (*p == '/')
            out += "\\057";
        else if (*p == ':')
            out += "\\072";
        else
            out += *p;
    }
    return out;
}

// rename(2) that never replaces an existing file in new/ (two names colliding must not lose a message).
int rename_noreplace(int from_dir, const char* from, int to_dir, const char* to) {
    if (::renameat2(from_dir, from, to_dir, to, RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS) return -1;
    // A filesystem without RENAME_NOREPLACE: link(2) fails on an existing name too.
    if (::linkat(from_dir, from, to_dir, to, 0) != 0) return -1;
    ::unlinkat(from_dir, from, 0);
    return 0;
}

} // namespace

void maildir::open_directories() {
    for (const char* sub : {"tmp", "new", "cur"}) std::filesystem::create_directories(dir_ / sub);
    tmp_fd_ = open_dir(dir_ / "tmp");
    try {
        new_fd_ = open_dir(dir_ / "new");
    } catch (...) {
        ::close(tmp_fd_);
        throw;
    }
}

maildir::maildir(std::filesystem::path dir, asyncore::socket_map& map, maildir_options options)
    : dir_(std::move(dir)), host_(maildir_host()), options_(std::move(options)), inbox_(map) {
    open_directories();
    const unsigned workers = std::max(options_.workers, 1u);
    for (unsigned i = 0; i < workers; ++i) workers_.emplace_back([this] { work(); });
}

maildir::maildir(std::filesystem::path dir, asyncore::socket_map& map, maildir& shared)
    : dir_(std::move(dir)), host_(maildir_host()), options_(shared.options_), inbox_(map), pool_(&shared) {
    open_directories();
}

maildir::~maildir() {
    if (pool_ != this) {
        // On another's threads: once none of its messages is queued or being written, nothing touches it.
        std::unique_lock lock(pool_->mutex_);
        pool_->written_.wait(lock, [this] { return outstanding_ == 0; });
    } else {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        for (auto& t : workers_) t.join();
    }
    ::close(tmp_fd_);
    ::close(new_fd_);
}

void maildir::deliver(std::string head, std::string body, std::function<void(const delivery_result&)> done,
                      std::string name) {
    const std::uint64_t id = next_id_++;
    callbacks_.emplace(id, std::move(done));
    {
        std::lock_guard lock(pool_->mutex_);
        pool_->queue_.push_back(job{id, std::move(head), std::move(body), std::move(name), this});
        ++outstanding_;
    }
    pool_->wake_.notify_one();
}

void maildir::work() {
    // The loop thread comes first: a delivery thread busy in the kernel (writeback, journal) must not take the
    // CPU from the connections the loop serves. On Linux the nice value is per thread; raising one's own needs
    // no privilege, and a failure only leaves the default.
    errno = 0;
    const int nice_now = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
    if (errno == 0 && options_.nice > 0)
        ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), std::min(nice_now + options_.nice, 19));
    if (!options_.cpus.empty()) {
        cpu_set_t set;
        CPU_ZERO(&set);
        for (const int cpu : options_.cpus)
            if (cpu >= 0 && cpu < CPU_SETSIZE) CPU_SET(cpu, &set);
        // Best effort, as the nice value: a CPU outside the process's cpuset leaves the inherited affinity.
        ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
    }
    for (;;) {
        std::vector<job> batch;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return; // stopping, and nothing left
            batch.swap(queue_);
        }
        // A batch may hold the messages of several maildirs (a server's workers share the threads): each is
        // written and committed by its own.
        while (!batch.empty()) {
            maildir* owner = batch.front().owner;
            std::vector<job> own;
            std::erase_if(batch, [&](job& j) {
                if (j.owner != owner) return false;
                own.push_back(std::move(j));
                return true;
            });
            owner->run_batch(own);
            {
                std::lock_guard lock(mutex_);
                owner->outstanding_ -= own.size();
            }
            written_.notify_all();
        }
    }
}

std::string maildir::unique_name() {
    const auto seconds =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
    return std::to_string(seconds.count()) + "." + std::to_string(::getpid()) + "_" +
           std::to_string(sequence_.fetch_add(1, std::memory_order_relaxed)) + "." + host_;
}

bool maildir::write_tmp(const job& j, std::string& name, int& fd, std::string& error) {
    fd = -1;
    for (int attempt = 0; attempt < 8 && fd < 0; ++attempt) {
        name = attempt == 0 && !j.name.empty() ? j.name : unique_name();
        fd = ::openat(tmp_fd_, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        error = errno_text("open tmp/" + name, errno);
        return false;
    }
    iovec iov[2] = {{const_cast<char*>(j.head.data()), j.head.size()},
                    {const_cast<char*>(j.body.data()), j.body.size()}};
    int count = 2;
    iovec* at = iov;
    while (count > 0) {
        const ssize_t n = ::writev(fd, at, count);
        if (n < 0) {
            if (errno == EINTR) continue;
            error = errno_text("write tmp/" + name, errno);
            ::close(fd);
            ::unlinkat(tmp_fd_, name.c_str(), 0);
            fd = -1;
            return false;
        }
        std::size_t left = static_cast<std::size_t>(n);
        while (count > 0 && left >= at->iov_len) {
            left -= at->iov_len;
            ++at;
            --count;
        }
        if (count > 0) {
            at->iov_base = static_cast<char*>(at->iov_base) + left;
            at->iov_len -= left;
        }
    }
    // Start the data on its way to the disk now, without waiting: when the batch's fsyncs come, one journal
    // commit finds every file of the batch already written and covers them all, instead of one commit each.
    // Only a hint: the fsync below is what makes the file durable.
    ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    return true;
}

bool maildir::sync_tmp(int fd, const std::string& name, std::string& error) {
    bool ok = true;
    if (::fsync(fd) != 0) {
        error = errno_text("fsync tmp/" + name, errno);
        ok = false;
    }
    if (::close(fd) != 0 && ok) {
        error = errno_text("close tmp/" + name, errno);
        ok = false;
    }
    if (!ok) ::unlinkat(tmp_fd_, name.c_str(), 0);
    return ok;
}

void maildir::run_batch(std::vector<job>& batch) {
    struct outcome {
        std::uint64_t id;
        delivery_result result;
        std::string tmp_name;
        int fd = -1;
    };
    std::vector<outcome> outcomes;
    outcomes.reserve(batch.size());
    // 1. Every file written, its writeback started.
    for (job& j : batch) {
        outcome o{j.id, {}, {}, -1};
        write_tmp(j, o.tmp_name, o.fd, o.result.error);
        // The content is not needed any more: free it before the slow part.
        std::string().swap(j.body);
        std::string().swap(j.head);
        outcomes.push_back(std::move(o));
    }
    // 2. Every file fsync'd, then renamed into new/ (never over an existing name: the same name, or a fresh one
    // should another process have taken it meanwhile).
    std::vector<std::size_t> renamed;
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
        outcome& o = outcomes[i];
        if (o.fd < 0 || !sync_tmp(o.fd, o.tmp_name, o.result.error)) continue;
        std::string target = o.tmp_name;
        int rc = -1;
        for (int attempt = 0; attempt < 8; ++attempt) {
            rc = rename_noreplace(tmp_fd_, o.tmp_name.c_str(), new_fd_, target.c_str());
            if (rc == 0 || errno != EEXIST) break;
            target = unique_name();
        }
        if (rc == 0) {
            o.result.name = std::move(target);
            renamed.push_back(i);
        } else {
            o.result.error = errno_text("rename tmp/" + o.tmp_name + " to new/", errno);
            ::unlinkat(tmp_fd_, o.tmp_name.c_str(), 0);
        }
    }
    // 3. One directory fsync makes every rename of the batch durable (group commit).
    bool synced = true;
    std::string sync_error;
    if (!renamed.empty() && ::fsync(new_fd_) != 0) {
        synced = false;
        sync_error = errno_text("fsync new/", errno);
    }
    for (const std::size_t i : renamed) {
        if (synced)
            outcomes[i].result.ok = true;
        else
            // The file is in new/ but may not survive a crash: refused (451), so the client retries. At worst
            // the message arrives twice; it is never acknowledged and lost.
            outcomes[i].result.error = sync_error;
    }
    std::vector<std::pair<std::uint64_t, delivery_result>> results;
    results.reserve(outcomes.size());
    for (auto& o : outcomes) results.emplace_back(o.id, std::move(o.result));
    const bool counted = !renamed.empty();
    inbox_.call_from_thread([this, counted, results = std::move(results)] {
        if (counted) ++stats_.batches;
        for (const auto& [id, result] : results) complete(id, result);
    });
}

void maildir::complete(std::uint64_t id, const delivery_result& result) {
    auto it = callbacks_.find(id);
    if (it == callbacks_.end()) return;
    auto done = std::move(it->second);
    callbacks_.erase(it);
    if (result.ok)
        ++stats_.delivered;
    else
        ++stats_.failed;
    done(result);
}

} // namespace asynchat::smtp
