#include "asynchat/systemd.hpp"

#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace asynchat::systemd {

namespace {

// The decimal number `text` is, whole; nothing otherwise.
bool parse_number(const char* text, unsigned long long& out) {
    if (!text || !*text) return false;
    const char* end = text + std::strlen(text);
    const auto [at, ec] = std::from_chars(text, end, out);
    return ec == std::errc{} && at == end;
}

std::string describe(const passed_socket& s) {
    return "descriptor " + std::to_string(s.fd) + (s.name.empty() ? std::string() : " (" + s.name + ")");
}

std::string service_names(const std::vector<service>& services) {
    std::string names;
    for (const auto& s : services) names += (names.empty() ? "" : ", ") + s.name;
    return names;
}

} // namespace

std::vector<passed_socket> take_listen_fds() {
    unsigned long long pid = 0, count = 0;
    const bool ours = parse_number(std::getenv("LISTEN_PID"), pid) && pid == static_cast<unsigned long long>(::getpid()) &&
                      parse_number(std::getenv("LISTEN_FDS"), count);
    const char* names_env = std::getenv("LISTEN_FDNAMES");
    const std::string names = names_env ? names_env : "";
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    std::vector<passed_socket> out;
    if (!ours) return out;
    std::size_t from = 0;
    for (unsigned long long i = 0; i < count && i < 1024; ++i) {
        const int fd = 3 + static_cast<int>(i);
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        std::string name;
        if (from <= names.size()) {
            const auto end = names.find(':', from);
            name = names.substr(from, end == std::string::npos ? std::string::npos : end - from);
            from = end == std::string::npos ? names.size() + 1 : end + 1;
        }
        if (name == "unknown") name.clear();
        out.push_back({fd, std::move(name)});
    }
    return out;
}

void use_passed_sockets(std::vector<service>& services, std::vector<passed_socket> passed) {
    for (const auto& s : passed) {
        int listening = 0, type = 0;
        socklen_t len = sizeof listening;
        const bool accepts = ::getsockopt(s.fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening;
        len = sizeof type;
        if (!accepts || ::getsockopt(s.fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
            throw std::invalid_argument("LISTEN_FDS: " + describe(s) + " is not a listening stream socket");
    }
    if (passed.empty()) return;
    if (services.size() == 1) {
        if (passed.size() != 1)
            throw std::invalid_argument("LISTEN_FDS: " + std::to_string(passed.size()) +
                                        " sockets passed to one service");
        services[0].listening = asyncore::socket::adopt(passed[0].fd);
        return;
    }
    for (const auto& s : passed) {
        if (s.name.empty())
            throw std::invalid_argument("LISTEN_FDS: " + describe(s) +
                                        " has no name; name it (FileDescriptorName=) after its service: " +
                                        service_names(services));
        service* to = nullptr;
        for (auto& candidate : services)
            if (candidate.name == s.name) to = &candidate;
        if (!to)
            throw std::invalid_argument("LISTEN_FDS: " + describe(s) + " names no service (" +
                                        service_names(services) + ")");
        if (to->listening) throw std::invalid_argument("LISTEN_FDS: two sockets named " + s.name);
        to->listening = asyncore::socket::adopt(s.fd);
    }
}

bool notify(std::string_view state) {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (!path || (path[0] != '/' && path[0] != '@')) return false;
    sockaddr_un where{};
    where.sun_family = AF_UNIX;
    const std::size_t length = std::strlen(path);
    if (length >= sizeof where.sun_path) return false;
    std::memcpy(where.sun_path, path, length);
    if (path[0] == '@') where.sun_path[0] = '\0'; // the abstract namespace
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length);
    const bool sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&where),
                               size) == static_cast<ssize_t>(state.size());
    ::close(fd);
    return sent;
}

std::chrono::microseconds watchdog_ping_interval() {
    unsigned long long usec = 0, pid = 0;
    if (!parse_number(std::getenv("WATCHDOG_USEC"), usec) || usec == 0) return {};
    if (std::getenv("WATCHDOG_PID") &&
        (!parse_number(std::getenv("WATCHDOG_PID"), pid) || pid != static_cast<unsigned long long>(::getpid())))
        return {};
    return std::chrono::microseconds(usec / 2);
}

} // namespace asynchat::systemd
