// Load generator for line-echo servers: N active connections over loopback, each keeping DEPTH messages of SIZE
// bytes (SIZE-1 payload bytes and '\n') in flight, plus IDLE connections opened first and held. After a warm-up,
// it measures a fixed window and prints one CSV line (the header with --header):
//
//   connections,idle,size,depth,duration_s,messages,msgs_per_s,mb_per_s,p50_us,p99_us,
//   server_cpu_us_per_msg,client_cpu_us_per_msg,other_cpu_pct,steal_pct,errors
//
//   bench_loadgen --port P [--host 127.0.0.1] [--connections N] [--size S] [--depth M] [--idle K]
//                 [--warmup SECONDS] [--duration SECONDS] [--server-pid PID] [--setup-timeout SECONDS] [--tls]
//
// --tls speaks TLS on every connection (OpenSSL, when the build found it): each connection's handshake is done
// during setup, before the warm-up, and then SSL_write/SSL_read on the non-blocking socket replace send/recv; the
// check of every echoed byte is the same. The server's certificate is not verified (the benchmark measures the
// record layer, not the PKI); the suite and group are whatever the two sides' OpenSSL configurations agree on
// (bench/run tls pins them with OPENSSL_CONF).
//
// Every echoed byte is checked against what was sent on that connection (content and order). Exit status: 0; 1
// when any error was counted (the line is still printed); 2 for bad arguments; 3 when the server could not be
// reached or the idle connections were not all served. Plain POSIX and epoll, one thread: the same syscalls per
// message as the server it measures, so client_cpu_us_per_msg says when the generator itself is the limit.
// other_cpu_pct is the CPU time (user + system, percent of one core) that the rest of the machine used during the
// window, and steal_pct the time the hypervisor took: on a shared machine they say which runs were disturbed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#ifdef BENCH_LOADGEN_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

struct ssl_st; // OpenSSL's SSL: a connection's TLS session with --tls, else null

namespace {

constexpr const char* csv_header = "connections,idle,size,depth,duration_s,messages,msgs_per_s,mb_per_s,p50_us,p99_us,"
                                   "server_cpu_us_per_msg,client_cpu_us_per_msg,other_cpu_pct,steal_pct,errors";

struct options {
    std::string host = "127.0.0.1";
    int port = 0;
    long connections = 1;
    long size = 64;
    long depth = 1;
    long idle = 0;
    double warmup = 0.5;
    double duration = 2.0;
    double setup_timeout = 60.0;
    long server_pid = 0;
    bool tls = false;
};

std::int64_t now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

[[noreturn]] void usage_error(const std::string& what) {
    std::fprintf(stderr, "bench_loadgen: %s\n", what.c_str());
    std::exit(2);
}

// Log-linear histogram of nanoseconds: 32 buckets per power of two, so the bucket midpoint reported for a quantile
// is within 1.6% of the exact value, in fixed memory however many messages a run measures.
class histogram {
public:
    void add(std::int64_t ns) {
        const auto v = static_cast<std::uint64_t>(std::max<std::int64_t>(ns, 0));
        ++counts_[index(v)];
        ++total_;
    }
    void clear() {
        counts_.fill(0);
        total_ = 0;
    }
    std::uint64_t total() const { return total_; }
    // The midpoint of the bucket holding the q-quantile, in microseconds.
    double quantile_us(double q) const {
        if (total_ == 0) return 0;
        const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_)));
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            seen += counts_[i];
            if (seen >= std::max<std::uint64_t>(rank, 1)) {
                const auto [lo, hi] = bounds(i);
                return (static_cast<double>(lo) + static_cast<double>(hi)) / 2 / 1000.0;
            }
        }
        return 0;
    }

private:
    // Values below 64 get a bucket each; above, a bucket per value of their top six bits (32..63) and exponent.
    static constexpr std::size_t buckets = 64 + 59 * 32;
    static std::size_t index(std::uint64_t v) {
        if (v < 64) return static_cast<std::size_t>(v);
        const int shift = 63 - __builtin_clzll(v) - 5;
        return 64 + static_cast<std::size_t>(shift - 1) * 32 + static_cast<std::size_t>((v >> shift) - 32);
    }
    static std::pair<std::uint64_t, std::uint64_t> bounds(std::size_t i) {
        if (i < 64) return {i, i + 1};
        const std::size_t shift = (i - 64) / 32 + 1;
        const std::uint64_t top = 32 + (i - 64) % 32;
        return {top << shift, (top + 1) << shift};
    }
    std::array<std::uint64_t, buckets> counts_{};
    std::uint64_t total_ = 0;
};

// Every connection sends the same cyclic stream of distinct messages from its own starting message; the stream is
// stored twice in a row so that any slice up to one period long is contiguous, for both send() and the check.
class message_ring {
public:
    explicit message_ring(std::size_t size) : size_(size) {
        // At least 257 messages (a period of 256 KiB or more) for small sizes; at most 64 MiB for large ones.
        count_ = std::max<std::size_t>(3, std::min<std::size_t>(std::max<std::size_t>(257, (256 * 1024) / size + 1),
                                                                (64u << 20) / size));
        period_ = count_ * size_;
        bytes_.resize(2 * period_);
        static constexpr char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        for (std::size_t j = 0; j < count_; ++j) {
            char* m = bytes_.data() + j * size_;
            for (std::size_t k = 0; k + 1 < size_; ++k) m[k] = alphabet[(j * 7 + k + j / 62) % 62];
            // The message number in hex, so that no two messages of a period are equal: a lost, repeated or
            // reordered message shows as a mismatch.
            if (size_ > 9) {
                for (int d = 0; d < 8; ++d) m[d] = "0123456789abcdef"[(j >> (28 - 4 * d)) & 15];
                m[8] = '-';
            }
            m[size_ - 1] = '\n';
        }
        std::memcpy(bytes_.data() + period_, bytes_.data(), period_);
    }
    std::size_t period() const { return period_; }
    std::size_t messages() const { return count_; }
    // The stream from byte `at` (any offset), contiguous for at least period() bytes.
    const char* at(std::uint64_t offset) const { return bytes_.data() + offset % period_; }

private:
    std::size_t size_, count_ = 0, period_ = 0;
    std::vector<char> bytes_;
};

struct connection {
    int fd = -1;
    std::uint64_t start = 0;    // offset of this connection's stream in the ring
    std::uint64_t queued = 0;   // bytes of whole messages handed to the sender
    std::uint64_t sent = 0;     // bytes the kernel took
    std::uint64_t received = 0; // bytes echoed and checked
    bool want_out = false;      // EPOLLOUT registered
    bool open = true;
    ssl_st* ssl = nullptr;      // --tls: the session over fd (non-blocking after its handshake)
};

struct cpu_times {
    double server_us = -1;
    double client_us = 0;
    double machine_busy_us = -1; // user + nice + system over all CPUs
    double steal_us = 0;
};

double server_cpu_us(long pid) {
    if (pid <= 0) return -1;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE* f = std::fopen(path, "r");
    if (!f) return -1;
    char buf[4096];
    const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    // The command name may hold spaces and parentheses: fields are counted from the last ')'.
    const char* p = std::strrchr(buf, ')');
    if (!p) return -1;
    unsigned long long utime = 0, stime = 0;
    if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return -1;
    static const long ticks = ::sysconf(_SC_CLK_TCK);
    return static_cast<double>(utime + stime) * 1e6 / static_cast<double>(ticks);
}

double client_cpu_us() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto us = [](const timeval& t) { return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec); };
    return us(ru.ru_utime) + us(ru.ru_stime);
}

// The first line of /proc/stat: the whole machine's time by kind, in clock ticks.
void machine_cpu_us(double& busy, double& steal) {
    busy = -1;
    FILE* f = std::fopen("/proc/stat", "r");
    if (!f) return;
    unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, st = 0;
    const int n = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle, &iowait,
                              &irq, &softirq, &st);
    std::fclose(f);
    if (n != 8) return;
    static const long ticks = ::sysconf(_SC_CLK_TCK);
    busy = static_cast<double>(user + nice + system) * 1e6 / static_cast<double>(ticks);
    steal = static_cast<double>(st) * 1e6 / static_cast<double>(ticks);
}

cpu_times sample_cpu(long pid) {
    cpu_times t{server_cpu_us(pid), client_cpu_us()};
    machine_cpu_us(t.machine_busy_us, t.steal_us);
    return t;
}

class load {
public:
    load(const options& o, const sockaddr_in& where)
        : opt_(o), where_(where), size_(static_cast<std::size_t>(o.size)), depth_(static_cast<std::size_t>(o.depth)),
          ring_(size_), read_buf_(256 * 1024) {
        epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
        if (epfd_ < 0) fatal_setup("epoll_create1");
        if (o.tls) make_tls_context();
    }
    load(const load&) = delete;
    load& operator=(const load&) = delete;
#ifdef BENCH_LOADGEN_TLS
    // The sessions are freed (LeakSanitizer checks the debug build's exit); the sockets close with the process.
    ~load() {
        for (auto* set : {&idle_, &active_})
            for (auto& c : *set) SSL_free(c.ssl);
        SSL_CTX_free(tls_ctx_);
    }
#endif

    // Opens the idle connections and has each echo one message, so that the server has accepted and registered
    // every one of them before the first measured message; then they are left alone.
    void open_idle() {
        idle_.resize(static_cast<std::size_t>(opt_.idle));
        for (std::size_t i = 0; i < idle_.size(); ++i) open_connection(idle_[i], i);
        const std::int64_t deadline = now_ns() + static_cast<std::int64_t>(opt_.setup_timeout * 1e9);
        for (auto& c : idle_) queue_message(c, nullptr);
        std::size_t done = 0;
        while (done < idle_.size()) {
            if (now_ns() > deadline) {
                std::fprintf(stderr, "bench_loadgen: %zu of %zu idle connections not echoed in %.0f s\n",
                             idle_.size() - done, idle_.size(), opt_.setup_timeout);
                std::exit(3);
            }
            poll_once(idle_, 100, [&](connection& c, std::uint64_t before) {
                if (before < size_ && c.received >= size_) ++done;
            });
            if (errors_) {
                std::fprintf(stderr, "bench_loadgen: an idle connection failed during setup\n");
                std::exit(3);
            }
        }
        for (auto& c : idle_) {
            epoll_event ev{};
            ::epoll_ctl(epfd_, EPOLL_CTL_DEL, c.fd, &ev);
        }
    }

    void open_active() {
        active_.resize(static_cast<std::size_t>(opt_.connections));
        for (std::size_t i = 0; i < active_.size(); ++i) open_connection(active_[i], idle_.size() + i);
        stamps_.assign(active_.size() * depth_, 0);
    }

    void run() {
        const std::int64_t t0 = now_ns();
        for (auto& c : active_) top_up(c, t0);
        const std::int64_t measure_from = t0 + static_cast<std::int64_t>(opt_.warmup * 1e9);
        const std::int64_t measure_to = measure_from + static_cast<std::int64_t>(opt_.duration * 1e9);
        bool measuring = false;
        cpu_times before{};
        auto count = [&](connection&, std::uint64_t) {};
        for (;;) {
            const std::int64_t t = now_ns();
            if (!measuring && t >= measure_from) {
                measuring = true;
                // Errors during warm-up count too; only the throughput and latency figures restart here.
                latencies_.clear();
                before = sample_cpu(opt_.server_pid);
                window_start_ = t;
            }
            if (measuring && t >= measure_to) break;
            const std::int64_t until = measuring ? measure_to : measure_from;
            const int timeout_ms = static_cast<int>(std::max<std::int64_t>(1, (until - t + 999'999) / 1'000'000));
            poll_once(active_, timeout_ms, count);
            if (open_active_count() == 0) break;
        }
        window_end_ = now_ns();
        if (!measuring) {
            // Every connection failed during the warm-up: nothing was measured.
            latencies_.clear();
            window_start_ = window_end_;
            before = sample_cpu(opt_.server_pid);
        }
        const cpu_times after = sample_cpu(opt_.server_pid);
        messages_ = latencies_.total();
        if (before.server_us >= 0 && after.server_us >= 0) server_cpu_ = after.server_us - before.server_us;
        client_cpu_ = after.client_us - before.client_us;
        if (before.machine_busy_us >= 0 && after.machine_busy_us >= 0) {
            other_cpu_ = after.machine_busy_us - before.machine_busy_us - client_cpu_ - std::max(server_cpu_, 0.0);
            steal_ = after.steal_us - before.steal_us;
        }
        if (messages_ == 0) {
            std::fprintf(stderr, "bench_loadgen: no message was echoed in the measured window\n");
            ++errors_;
        }
    }

    void report() const {
        const double seconds = static_cast<double>(window_end_ - window_start_) / 1e9;
        const double msgs = static_cast<double>(messages_);
        const double rate = seconds > 0 ? msgs / seconds : 0;
        char server[32] = "";
        if (server_cpu_ >= 0 && messages_ > 0) std::snprintf(server, sizeof server, "%.3f", server_cpu_ / msgs);
        // Tick-based accounting makes a quiet machine read a few percent either side of zero.
        const double window_us = seconds * 1e6;
        const double other = window_us > 0 ? std::max(other_cpu_, 0.0) / window_us * 100 : 0;
        const double steal = window_us > 0 ? steal_ / window_us * 100 : 0;
        std::printf("%ld,%ld,%ld,%ld,%.3f,%llu,%.0f,%.2f,%.1f,%.1f,%s,%.3f,%.1f,%.1f,%llu\n", opt_.connections,
                    opt_.idle, opt_.size, opt_.depth, seconds, static_cast<unsigned long long>(messages_), rate,
                    rate * static_cast<double>(size_) / 1e6, latencies_.quantile_us(0.50),
                    latencies_.quantile_us(0.99), server, messages_ ? client_cpu_ / msgs : 0.0, other, steal,
                    static_cast<unsigned long long>(errors_));
        std::fflush(stdout);
    }

    std::uint64_t errors() const { return errors_; }

private:
    [[noreturn]] void fatal_setup(const char* what) {
        std::fprintf(stderr, "bench_loadgen: %s: %s\n", what, std::strerror(errno));
        std::exit(3);
    }

#ifdef BENCH_LOADGEN_TLS
    // OpenSSL's reason for the last error in this thread's queue, and the queue emptied.
    static const char* tls_reason() {
        const unsigned long e = ERR_peek_last_error();
        ERR_clear_error();
        const char* r = e ? ERR_reason_error_string(e) : nullptr;
        return r ? r : "no reason given (the peer closed the connection?)";
    }

    void make_tls_context() {
        tls_ctx_ = SSL_CTX_new(TLS_client_method());
        if (!tls_ctx_) {
            std::fprintf(stderr, "bench_loadgen: cannot create a TLS context: %s\n", tls_reason());
            std::exit(3);
        }
        SSL_CTX_set_verify(tls_ctx_, SSL_VERIFY_NONE, nullptr);
        // A write that fills the socket returns what it encrypted and sent so far, and its retry may pass a larger
        // length (more messages queued meanwhile) from the same ring offset, as the plaintext path does with send.
        SSL_CTX_set_mode(tls_ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        // One recv for whatever records have arrived, not one for each record's header and one for its body: the
        // generator's syscalls per message stay those of the plaintext path.
        SSL_CTX_set_read_ahead(tls_ctx_, 1);
    }

    // The handshake, on the still blocking socket (SO_SNDTIMEO/SO_RCVTIMEO bound it): setup, before the warm-up.
    void start_tls(connection& c, std::size_t index) {
        c.ssl = SSL_new(tls_ctx_);
        if (!c.ssl || SSL_set_fd(c.ssl, c.fd) != 1) {
            std::fprintf(stderr, "bench_loadgen: cannot create a TLS session: %s\n", tls_reason());
            std::exit(3);
        }
        ERR_clear_error();
        if (SSL_connect(c.ssl) != 1) {
            std::fprintf(stderr, "bench_loadgen: TLS handshake with %s:%d failed (connection %zu): %s\n",
                         opt_.host.c_str(), opt_.port, index, tls_reason());
            std::exit(3);
        }
    }

    // flush() over TLS: SSL_write_ex from the same ring offset as send(); a retry after SSL_ERROR_WANT_WRITE finds
    // c.sent unchanged and so passes the same bytes again.
    void flush_tls(connection& c) {
        while (c.open && c.sent < c.queued) {
            const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(c.queued - c.sent, ring_.period()));
            std::size_t w = 0;
            ERR_clear_error();
            if (SSL_write_ex(c.ssl, ring_.at(c.start + c.sent), n, &w) == 1) {
                c.sent += w;
                continue;
            }
            const int e = SSL_get_error(c.ssl, 0);
            if (e == SSL_ERROR_WANT_WRITE) {
                set_want_out(c, true);
                return;
            }
            // WANT_READ: the session needs the peer first (a TLS 1.3 key update); the next EPOLLIN reads it, and
            // read_tls flushes again.
            if (e == SSL_ERROR_WANT_READ) return;
            tls_fail(c, "SSL_write", e);
            return;
        }
        if (c.open) set_want_out(c, false);
    }

    // read_some() over TLS: every record that has arrived (SSL_read_ex until it wants more input: read-ahead may have
    // taken them all from the socket, which then stays quiet), each checked as recv()'s bytes are.
    void read_tls(connection& c, bool is_active) {
        for (;;) {
            std::size_t got = 0;
            ERR_clear_error();
            if (SSL_read_ex(c.ssl, read_buf_.data(), read_buf_.size(), &got) == 1) {
                if (!check_echoed(c, got, is_active)) return;
                continue;
            }
            const int e = SSL_get_error(c.ssl, 0);
            if (e == SSL_ERROR_WANT_READ) break;
            if (e == SSL_ERROR_WANT_WRITE) {
                set_want_out(c, true);
                return;
            }
            if (e == SSL_ERROR_ZERO_RETURN) {
                errno = 0;
                fail(c, "the server closed the connection (close_notify)");
            } else {
                tls_fail(c, "SSL_read", e);
            }
            return;
        }
        if (c.open && c.sent < c.queued) flush_tls(c);
    }

    void tls_fail(connection& c, const char* what, int ssl_error) {
        const int saved = errno;
        char why[256];
        if (ssl_error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
            std::snprintf(why, sizeof why, "%s: %s", what, saved ? std::strerror(saved) : "the server closed the connection");
        else
            std::snprintf(why, sizeof why, "%s: %s", what, tls_reason());
        errno = 0;
        fail(c, why);
    }
#else
    [[noreturn]] static void no_tls() {
        std::fprintf(stderr, "bench_loadgen: --tls: built without OpenSSL\n");
        std::exit(2);
    }
    void make_tls_context() { no_tls(); }
    void start_tls(connection&, std::size_t) { no_tls(); }
    void flush_tls(connection&) { no_tls(); }
    void read_tls(connection&, bool) { no_tls(); }
#endif

    void open_connection(connection& c, std::size_t index) {
        c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c.fd < 0) fatal_setup("socket");
        // Bounded connect: a server that stops accepting fails the run instead of hanging it.
        timeval tv{static_cast<time_t>(opt_.setup_timeout), 0};
        ::setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&where_), sizeof where_) < 0) {
            char what[96];
            std::snprintf(what, sizeof what, "connect to %s:%d (connection %zu)", opt_.host.c_str(), opt_.port, index);
            fatal_setup(what);
        }
        // The generator must never hold a message back: with Nagle on, a pipelined client would wait for ACKs.
        int one = 1;
        ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (opt_.tls) {
            ::setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            start_tls(c, index);
        }
        ::fcntl(c.fd, F_SETFL, ::fcntl(c.fd, F_GETFL) | O_NONBLOCK);
        c.start = (index * 7919 % ring_.messages()) * size_;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = &c;
        if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, c.fd, &ev) < 0) fatal_setup("epoll_ctl");
    }

    std::size_t open_active_count() const { return active_.size() - closed_active_; }

    void fail(connection& c, const char* why) {
        if (!c.open) return;
        std::fprintf(stderr, "bench_loadgen: connection fd %d: %s%s%s\n", c.fd, why, errno ? ": " : "",
                     errno ? std::strerror(errno) : "");
        ++errors_;
        if (!active_.empty() && &c >= active_.data() && &c < active_.data() + active_.size()) ++closed_active_;
        c.open = false;
        ::close(c.fd);
    }

    void set_want_out(connection& c, bool on) {
        if (c.want_out == on) return;
        c.want_out = on;
        epoll_event ev{};
        ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
        ev.data.ptr = &c;
        ::epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
    }

    void queue_message(connection& c, std::int64_t* stamp) {
        if (stamp) *stamp = now_ns();
        c.queued += size_;
        flush(c);
    }

    // Keeps `depth` messages in flight: each one completed makes room for the next.
    void top_up(connection& c, std::int64_t t) {
        const std::uint64_t done = c.received / size_;
        const std::uint64_t target = (done + depth_) * size_;
        if (c.queued >= target) return;
        const std::size_t index = static_cast<std::size_t>(&c - active_.data());
        for (std::uint64_t m = c.queued / size_; m < done + depth_; ++m) stamps_[index * depth_ + m % depth_] = t;
        c.queued = target;
        flush(c);
    }

    void flush(connection& c) {
        if (c.ssl) {
            flush_tls(c);
            return;
        }
        while (c.open && c.sent < c.queued) {
            const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(c.queued - c.sent, ring_.period()));
            const ssize_t w = ::send(c.fd, ring_.at(c.start + c.sent), n, MSG_NOSIGNAL);
            if (w > 0) {
                c.sent += static_cast<std::uint64_t>(w);
            } else if (w < 0 && errno == EINTR) {
                continue;
            } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                set_want_out(c, true);
                return;
            } else {
                fail(c, "send");
                return;
            }
        }
        if (c.open) set_want_out(c, false);
    }

    template <class OnRead>
    void poll_once(std::vector<connection>& set, int timeout_ms, OnRead&& on_read) {
        std::array<epoll_event, 1024> events;
        const int n = ::epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), timeout_ms);
        if (n < 0) {
            if (errno == EINTR) return;
            fatal_setup("epoll_wait");
        }
        const bool is_active = &set == &active_;
        for (int i = 0; i < n; ++i) {
            auto& c = *static_cast<connection*>(events[static_cast<std::size_t>(i)].data.ptr);
            const unsigned ev = events[static_cast<std::size_t>(i)].events;
            if (!c.open) continue;
            if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                const std::uint64_t before = c.received;
                read_some(c, is_active);
                if (c.open && c.received != before) on_read(c, before);
            }
            if (c.open && (ev & EPOLLOUT)) flush(c);
        }
    }

    void read_some(connection& c, bool is_active) {
        if (c.ssl) {
            read_tls(c, is_active);
            return;
        }
        const ssize_t r = ::recv(c.fd, read_buf_.data(), read_buf_.size(), 0);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
            fail(c, "recv");
            return;
        }
        if (r == 0) {
            errno = 0;
            fail(c, "the server closed the connection");
            return;
        }
        check_echoed(c, static_cast<std::size_t>(r), is_active);
    }

    // The `got` bytes just read into read_buf_ against what was sent on c, then the messages they complete: their
    // latencies, and as many new ones sent. False when the connection failed.
    bool check_echoed(connection& c, std::size_t got_bytes, bool is_active) {
        const auto got = static_cast<std::uint64_t>(got_bytes);
        if (c.received + got > c.sent) {
            errno = 0;
            fail(c, "more bytes echoed than sent");
            return false;
        }
        for (std::uint64_t off = 0; off < got;) {
            const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(got - off, ring_.period()));
            if (std::memcmp(read_buf_.data() + off, ring_.at(c.start + c.received + off), n) != 0) {
                errno = 0;
                fail(c, "echoed bytes differ from the bytes sent");
                return false;
            }
            off += n;
        }
        const std::uint64_t done_before = c.received / size_;
        c.received += got;
        const std::uint64_t done_after = c.received / size_;
        if (!is_active || done_after == done_before) return true;
        const std::int64_t t = now_ns();
        const std::size_t index = static_cast<std::size_t>(&c - active_.data());
        for (std::uint64_t m = done_before; m < done_after; ++m) latencies_.add(t - stamps_[index * depth_ + m % depth_]);
        top_up(c, t);
        return c.open;
    }

    const options& opt_;
    sockaddr_in where_;
    std::size_t size_, depth_;
    message_ring ring_;
    std::vector<char> read_buf_;
    int epfd_ = -1;
    std::vector<connection> idle_, active_;
    std::vector<std::int64_t> stamps_; // send time of each message in flight: connection * depth + message % depth
    histogram latencies_;
    std::uint64_t errors_ = 0, messages_ = 0;
    std::size_t closed_active_ = 0;
#ifdef BENCH_LOADGEN_TLS
    SSL_CTX* tls_ctx_ = nullptr;
#endif
    std::int64_t window_start_ = 0, window_end_ = 0;
    double server_cpu_ = -1, client_cpu_ = 0, other_cpu_ = 0, steal_ = 0;
};

long parse_long(const char* opt, const char* text, long lo, long hi) {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi)
        usage_error(std::string(opt) + " must be a whole number from " + std::to_string(lo) + " to " +
                    std::to_string(hi) + ", not " + text);
    return v;
}

double parse_seconds(const char* opt, const char* text, double lo, double hi) {
    char* end = nullptr;
    const double v = std::strtod(text, &end);
    if (end == text || *end || !(v >= lo && v <= hi))
        usage_error(std::string(opt) + " must be a number of seconds from " + std::to_string(lo) + " to " +
                    std::to_string(hi) + ", not " + text);
    return v;
}

} // namespace

int main(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string opt = argv[i];
        if (opt == "--header") {
            std::printf("%s\n", csv_header);
            return 0;
        }
        if (opt == "--tls") {
#ifndef BENCH_LOADGEN_TLS
            usage_error("--tls: this bench_loadgen was built without OpenSSL");
#endif
            o.tls = true;
            continue;
        }
        if (i + 1 >= argc) usage_error("missing value after " + opt);
        const char* v = argv[++i];
        if (opt == "--host") o.host = v;
        else if (opt == "--port") o.port = static_cast<int>(parse_long("--port", v, 1, 65535));
        else if (opt == "--connections") o.connections = parse_long("--connections", v, 1, 50000);
        else if (opt == "--size") o.size = parse_long("--size", v, 2, 1 << 20);
        else if (opt == "--depth") o.depth = parse_long("--depth", v, 1, 1024);
        else if (opt == "--idle") o.idle = parse_long("--idle", v, 0, 100000);
        else if (opt == "--warmup") o.warmup = parse_seconds("--warmup", v, 0, 60);
        else if (opt == "--duration") o.duration = parse_seconds("--duration", v, 0.01, 600);
        else if (opt == "--setup-timeout") o.setup_timeout = parse_seconds("--setup-timeout", v, 1, 600);
        else if (opt == "--server-pid") o.server_pid = parse_long("--server-pid", v, 1, 1L << 30);
        else usage_error("unknown option " + opt);
    }
    if (o.port == 0) usage_error("--port is required");
    if (static_cast<double>(o.connections) * static_cast<double>(o.depth) * static_cast<double>(o.size) > 1e9)
        usage_error("connections x depth x size must stay under 1 GB in flight");
    sockaddr_in where{};
    where.sin_family = AF_INET;
    where.sin_port = htons(static_cast<std::uint16_t>(o.port));
    // A load generator aimed at someone else's host is an attack; this one only speaks to loopback.
    if (::inet_pton(AF_INET, o.host.c_str(), &where.sin_addr) != 1 || (ntohl(where.sin_addr.s_addr) >> 24) != 127)
        usage_error("--host must be an IPv4 loopback address (127.x.x.x), not " + o.host);

    // Each connection is an fd; take what the hard limit allows.
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    // The hard bound on the run, whatever the server does.
    ::alarm(static_cast<unsigned>(2 * o.setup_timeout + o.warmup + o.duration + 30));

    load l(o, where);
    l.open_idle();
    l.open_active();
    l.run();
    l.report();
    return l.errors() ? 1 : 0;
}
