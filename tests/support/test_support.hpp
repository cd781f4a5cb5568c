#pragma once
// Parameters every behaviour suite runs over, so that one suite covers every backend (and, where the original
// does, every address family) instead of a copy per backend.
#include <chrono>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include <asyncore/asyncore.hpp>
#ifdef ASYNCHAT_HAVE_ASIO
#include <asynchat/asio.hpp>
#endif

namespace test_support {

// Runs passes of `map` on `backend` until done() is true or 20 s have passed (a hang guard, not a timing claim);
// false on the guard.
template <class Done> bool run_until(asyncore::socket_map& map, const std::string& backend, Done done) {
    using namespace std::chrono_literals;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        map.run_pass(100ms, backend);
    }
    return true;
}

// Every registered backend: select, poll, epoll, and asio when the Asio layer is built.
inline std::vector<std::string> backends() {
#ifdef ASYNCHAT_HAVE_ASIO
    asynchat::asio_transport::register_backend();
#endif
    return asyncore::backend_names();
}

enum class family { ipv4, ipv6, unix_socket };
inline std::ostream& operator<<(std::ostream& os, family f) {
    return os << (f == family::ipv4 ? "ipv4" : f == family::ipv6 ? "ipv6" : "unix");
}
inline std::vector<family> families() { return {family::ipv4, family::ipv6, family::unix_socket}; }
inline int af(family f) { return f == family::ipv4 ? AF_INET : f == family::ipv6 ? AF_INET6 : AF_UNIX; }

// A fresh bind address for a family: port 0 on loopback, or a unique path in the temp dir.
inline asyncore::address bind_address(family f) {
    static int counter = 0;
    switch (f) {
    case family::ipv4: return asyncore::address::ipv4("127.0.0.1", 0);
    case family::ipv6: return asyncore::address::ipv6("::1", 0);
    case family::unix_socket: {
        auto path = std::filesystem::temp_directory_path() /
                    ("asynchat-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".sock");
        std::filesystem::remove(path);
        return asyncore::address::unix_path(path.string());
    }
    }
    return {};
}

// Raises the soft fd limit to the hard one (tests with thousands of channels).
inline rlim_t raise_fd_limit() {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur;
}

} // namespace test_support
