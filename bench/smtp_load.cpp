// bench_smtp_load: the SMTP load generator of bench/run_smtp. N client threads, one connection each, send messages
// of --size bytes back to back (MAIL, RCPT and DATA pipelined in one write, then the body once 354 is in, then
// wait for the 250), or with --ping, NOOP round trips. After --warmup seconds it counts for --duration seconds and
// prints one line:
//   messages=N seconds=S per_s=R p50_us=A p99_us=B errors=E
// where a message is a delivered mail (or a NOOP answered with --ping) and the latencies run from the first byte
// of the transaction sent to its final reply received.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
    int port = 0;
    int clients = 1;
    std::size_t size = 10240;
    double duration = 3;
    double warmup = 1;
    bool ping = false;
};

class connection {
public:
    explicit connection(int port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        const int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(static_cast<std::uint16_t>(port));
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    }
    ~connection() { ::close(fd_); }
    bool send(const std::string& data) {
        std::size_t at = 0;
        while (ok_ && at < data.size()) {
            const ssize_t n = ::send(fd_, data.data() + at, data.size() - at, MSG_NOSIGNAL);
            if (n <= 0) ok_ = false;
            else at += static_cast<std::size_t>(n);
        }
        return ok_;
    }
    int reply() {
        for (;;) {
            const auto eol = buf_.find("\r\n", scan_);
            if (eol != std::string::npos) {
                const bool last = eol - scan_ == 3 || (eol - scan_ > 3 && buf_[scan_ + 3] == ' ');
                const int code = std::atoi(buf_.c_str() + scan_);
                scan_ = eol + 2;
                if (scan_ == buf_.size()) buf_.clear(), scan_ = 0;
                if (last) return code;
                continue;
            }
            char chunk[8192];
            const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n <= 0) return ok_ = false, 0;
            buf_.append(chunk, static_cast<std::size_t>(n));
        }
    }
    bool ok() const { return ok_; }

private:
    int fd_ = -1;
    bool ok_ = false;
    std::string buf_;
    std::size_t scan_ = 0;
};

double arg_double(const char* v) { return std::strtod(v, nullptr); }

} // namespace

int main(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&] { return i + 1 < argc ? argv[++i] : (std::fprintf(stderr, "%s needs a value\n", a.c_str()), std::exit(2), argv[0]); };
        if (a == "--port") o.port = std::atoi(next());
        else if (a == "--clients") o.clients = std::atoi(next());
        else if (a == "--size") o.size = std::strtoul(next(), nullptr, 10);
        else if (a == "--duration") o.duration = arg_double(next());
        else if (a == "--warmup") o.warmup = arg_double(next());
        else if (a == "--ping") o.ping = true;
        else {
            std::fprintf(stderr, "usage: bench_smtp_load --port P [--clients N] [--size B] [--duration S] "
                                 "[--warmup S] [--ping]\n");
            return 2;
        }
    }
    // The body: 78-byte lines, CRLF-terminated, about --size bytes.
    std::string body = "Subject: bench\r\n\r\n";
    while (body.size() + 80 <= o.size) body += std::string(78, 'x') + "\r\n";
    body += std::string(o.size > body.size() + 2 ? o.size - body.size() - 2 : 0, 'y') + "\r\n.\r\n";
    const std::string envelope = "MAIL FROM:<bench@x>\r\nRCPT TO:<sink@y>\r\nDATA\r\n";

    const auto start = clock_type::now();
    const auto measure_from = start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(o.warmup));
    const auto measure_to = measure_from + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(o.duration));
    std::atomic<long> errors{0};
    std::mutex m;
    std::vector<double> latencies;
    std::vector<std::thread> threads;
    for (int c = 0; c < o.clients; ++c)
        threads.emplace_back([&] {
            std::vector<double> mine;
            connection conn(o.port);
            if (!conn.ok() || conn.reply() != 220 || !conn.send("EHLO bench\r\n") || conn.reply() != 250) {
                ++errors;
                return;
            }
            for (;;) {
                const auto t0 = clock_type::now();
                if (t0 >= measure_to) break;
                bool good;
                if (o.ping) {
                    good = conn.send("NOOP\r\n") && conn.reply() == 250;
                } else {
                    good = conn.send(envelope) && conn.reply() == 250 && conn.reply() == 250 && conn.reply() == 354 &&
                           conn.send(body) && conn.reply() == 250;
                }
                const auto t1 = clock_type::now();
                if (!good) {
                    ++errors;
                    break;
                }
                if (t0 >= measure_from && t1 <= measure_to)
                    mine.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
                // A pinger paces itself: it measures the loop's responsiveness, it is not load.
                if (o.ping) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            conn.send("QUIT\r\n");
            std::lock_guard lock(m);
            latencies.insert(latencies.end(), mine.begin(), mine.end());
        });
    for (auto& t : threads) t.join();
    std::sort(latencies.begin(), latencies.end());
    auto pct = [&](double p) {
        return latencies.empty() ? 0.0 : latencies[std::min(latencies.size() - 1, static_cast<std::size_t>(p * latencies.size()))];
    };
    std::printf("messages=%zu seconds=%.3f per_s=%.1f p50_us=%.0f p99_us=%.0f errors=%ld\n", latencies.size(),
                o.duration, latencies.size() / o.duration, pct(0.50), pct(0.99), errors.load());
    return errors.load() ? 1 : 0;
}
