// bench_maildir_writer: the machine's own limit for bench/run_smtp. N threads each do what a durable Maildir
// delivery does, with no SMTP and no batching: create tmp/NAME, write --size bytes, fsync, close, rename into new/,
// fsync new/. Prints one line after --duration seconds:
//   messages=N seconds=S per_s=R
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
    int threads = 1;
    std::size_t size = 10240;
    double duration = 3;
    std::string dir;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--threads") threads = std::atoi(argv[i + 1]);
        else if (a == "--size") size = std::strtoul(argv[i + 1], nullptr, 10);
        else if (a == "--duration") duration = std::strtod(argv[i + 1], nullptr);
        else if (a == "--dir") dir = argv[i + 1];
    }
    if (dir.empty()) {
        std::fprintf(stderr, "usage: bench_maildir_writer --dir D [--threads N] [--size B] [--duration S]\n");
        return 2;
    }
    for (const char* sub : {"tmp", "new", "cur"}) std::filesystem::create_directories(dir + "/" + sub);
    const int tmp = ::open((dir + "/tmp").c_str(), O_RDONLY | O_DIRECTORY);
    const int fresh = ::open((dir + "/new").c_str(), O_RDONLY | O_DIRECTORY);
    const std::string data(size, 'x');
    std::atomic<long> count{0};
    std::atomic<bool> failed{false};
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                            std::chrono::duration<double>(duration));
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            for (long n = 0; std::chrono::steady_clock::now() < end; ++n) {
                const std::string name = std::to_string(::getpid()) + "_" + std::to_string(t) + "_" + std::to_string(n);
                const int fd = ::openat(tmp, name.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
                if (fd < 0 || ::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size()) ||
                    ::fsync(fd) != 0 || ::close(fd) != 0 || ::renameat(tmp, name.c_str(), fresh, name.c_str()) != 0 ||
                    ::fsync(fresh) != 0) {
                    failed = true;
                    return;
                }
                ++count;
            }
        });
    for (auto& t : pool) t.join();
    std::printf("messages=%ld seconds=%.3f per_s=%.1f\n", count.load(), duration, count.load() / duration);
    return failed ? 1 : 0;
}
