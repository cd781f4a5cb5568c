#pragma once
// asynchat::smtp::maildir — durable delivery into a Maildir (DIR/tmp, DIR/new, DIR/cur), off the loop thread.
//
// deliver() queues a message and returns at once; a small pool of std::threads does the slow part, and the
// completion runs on the loop thread (through a loop_inbox) once the message is safe, or has failed:
//   1. the file is created in tmp/ (O_EXCL, a unique name time.pid_seq.host as the Maildir spec asks), written
//      and fsync'd;
//   2. it is renamed into new/ (never replacing a file there);
//   3. new/ itself is fsync'd, so the rename survives a crash.
// A crash at any moment therefore leaves no partial file in new/ (a file appears there only by rename, after its
// fsync), and a message whose completion said "ok" is in new/ for good. A message may be left in tmp/, which
// Maildir readers clean up.
//
// Group commit: a worker takes every message pending when it wakes, writes and fsyncs each file, renames them
// all, then fsyncs new/ once for the whole batch; under load, batches grow and the per-message cost of the
// directory fsync shrinks. The file fsyncs run on several workers at once so the filesystem's journal can merge
// them too.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <asyncore/loop_inbox.hpp>

namespace asynchat::smtp {

struct delivery_result {
    bool ok = false;
    std::string name;    // the file's name in new/ when ok
    std::string error;   // what failed otherwise ("open tmp/...: Permission denied")
};

struct maildir_stats {
    std::uint64_t delivered = 0;    // messages safely in new/
    std::uint64_t failed = 0;
    std::uint64_t batches = 0;      // directory fsyncs: delivered / batches is the group-commit factor
};

// How the delivery threads run.
struct maildir_options {
    unsigned workers = 4;       // delivery threads (at least 1)
    // CPUs the delivery threads may run on; empty: the process's affinity, inherited. The kernel work of writeback
    // and fsync (a few hundred microseconds of CPU per message) then stays off the loop thread's core.
    std::vector<int> cpus{};
    // How much nicer than the loop thread they run (Linux nice is per thread), so the loop keeps answering other
    // connections while they are busy. The price: against other processes on the same core they get less CPU,
    // and that CPU is on every message's path. 0: the loop's own priority.
    int nice = 10;
};

class maildir {
public:
    // Creates DIR, DIR/tmp, DIR/new and DIR/cur as needed (std::filesystem_error when it cannot). Completions run
    // from map's loop.
    maildir(std::filesystem::path dir, asyncore::socket_map& map, maildir_options options = {});
    // The same, for another loop (a server's other worker), writing with `shared`'s delivery threads instead of
    // threads of its own: the workers of a server share one pool of them. Its completions run on `map`'s loop;
    // each batch is committed per maildir (one directory fsync each). `shared` must outlive it.
    maildir(std::filesystem::path dir, asyncore::socket_map& map, maildir& shared);
    // Waits for the workers to finish the messages already taken; completions not yet run are dropped. A maildir
    // on another's threads waits for its own messages only.
    ~maildir();
    maildir(const maildir&) = delete;
    maildir& operator=(const maildir&) = delete;

    // Stores head followed by body as one file (head: the header lines the server adds). Loop thread only;
    // done runs later on the loop thread, never from inside this call.
    // `name`: from next_name(), so that the head can already say it (a Received line's id); the file gets it
    // unless another process took it meanwhile (then delivery_result::name says which). Empty: one is chosen.
    void deliver(std::string head, std::string body, std::function<void(const delivery_result&)> done,
                 std::string name = {});
    // A name unique to this Maildir for a file (time.pid_seq.host). Any thread.
    std::string next_name() { return unique_name(); }

    const std::filesystem::path& path() const noexcept { return dir_; }
    // Loop thread only.
    const maildir_stats& stats() const noexcept { return stats_; }
    std::size_t in_flight() const noexcept { return callbacks_.size(); }

private:
    struct job {
        std::uint64_t id;
        std::string head;
        std::string body;
        std::string name; // wanted; empty: any
        maildir* owner;   // whose directory, completions and figures (itself, or one sharing its threads)
    };
    void open_directories(); // makes DIR/tmp, new, cur as needed and opens tmp and new (closed again on a failure)
    void work();
    void run_batch(std::vector<job>& batch);
    // Creates tmp/NAME with the job's bytes and starts their writeback; fd is left open for sync_tmp. False (and
    // nothing left behind) on an error.
    bool write_tmp(const job& j, std::string& name, int& fd, std::string& error);
    // fsync and close; on an error the file is removed.
    bool sync_tmp(int fd, const std::string& name, std::string& error);
    std::string unique_name();
    void complete(std::uint64_t id, const delivery_result& result);

    std::filesystem::path dir_;
    std::string host_;                 // this host's name, with '/' and ':' escaped as the Maildir spec says
    maildir_options options_;
    int tmp_fd_ = -1;
    int new_fd_ = -1;
    asyncore::loop_inbox inbox_;
    maildir_stats stats_;
    std::uint64_t next_id_ = 1;
    std::unordered_map<std::uint64_t, std::function<void(const delivery_result&)>> callbacks_; // loop thread only
    // Process-wide, not per maildir: two maildirs of one process (one per worker) on one directory must not
    // choose the same name for the same second.
    static inline std::atomic<std::uint64_t> sequence_{0};

    maildir* pool_ = this;               // whose threads and queue write this maildir's messages
    std::size_t outstanding_ = 0;        // this maildir's messages queued or being written (pool_->mutex_)

    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable written_;    // an owner's outstanding_ went down
    std::vector<job> queue_;
    bool stopping_ = false;
    std::vector<std::thread> workers_;   // last: started after everything they use, joined first
};

} // namespace asynchat::smtp
