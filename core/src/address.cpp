#include "asyncore/address.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <charconv>
#include <cstring>
#include <ostream>
#include <stdexcept>
#include <system_error>

namespace asyncore {

address::address() noexcept { storage_.ss_family = AF_UNSPEC; }

address::address(const sockaddr* sa, socklen_t len) {
    if (len > sizeof(storage_)) throw std::invalid_argument("address: sockaddr larger than sockaddr_storage");
    std::memcpy(&storage_, sa, len);
    len_ = len;
}

address address::ipv4(std::string_view host, std::uint16_t port) {
    address a;
    auto* in = reinterpret_cast<sockaddr_in*>(&a.storage_);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    if (::inet_pton(AF_INET, std::string(host).c_str(), &in->sin_addr) != 1)
        throw std::invalid_argument("address: not an IPv4 address: " + std::string(host));
    a.len_ = sizeof(sockaddr_in);
    return a;
}

address address::ipv6(std::string_view host, std::uint16_t port) {
    address a;
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    if (::inet_pton(AF_INET6, std::string(host).c_str(), &in6->sin6_addr) != 1)
        throw std::invalid_argument("address: not an IPv6 address: " + std::string(host));
    a.len_ = sizeof(sockaddr_in6);
    return a;
}

address address::inet(std::string_view host, std::uint16_t port) {
    std::string h(host);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = ::getaddrinfo(h.c_str(), nullptr, &hints, &res);
    if (rc != 0 || res == nullptr) {
        std::string why = rc == EAI_SYSTEM ? std::string(std::strerror(errno)) : ::gai_strerror(rc);
        // A lookup failure is a getaddrinfo code, not an errno: no error category would describe it truthfully.
        throw std::runtime_error("address: cannot resolve '" + h + "': " + why);
    }
    address a(res->ai_addr, res->ai_addrlen);
    ::freeaddrinfo(res);
    if (a.family() == AF_INET)
        reinterpret_cast<sockaddr_in*>(&a.storage_)->sin_port = htons(port);
    else if (a.family() == AF_INET6)
        reinterpret_cast<sockaddr_in6*>(&a.storage_)->sin6_port = htons(port);
    return a;
}

address address::unix_path(std::string_view path) {
    address a;
    auto* un = reinterpret_cast<sockaddr_un*>(&a.storage_);
    if (path.empty() || path.size() >= sizeof(un->sun_path))
        throw std::invalid_argument("address: unix socket path must be 1.." +
                                    std::to_string(sizeof(un->sun_path) - 1) + " bytes: " + std::string(path));
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, path.data(), path.size());
    a.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
    return a;
}

address address::parse(std::string_view text) {
    if (text.starts_with("unix:")) return unix_path(text.substr(5));
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) throw std::invalid_argument("address: expected HOST:PORT: " + std::string(text));
    auto host = text.substr(0, colon);
    auto port_text = text.substr(colon + 1);
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535)
        throw std::invalid_argument("address: bad port in: " + std::string(text));
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        return ipv6(host.substr(1, host.size() - 2), static_cast<std::uint16_t>(port));
    return inet(host, static_cast<std::uint16_t>(port));
}

int address::family() const noexcept { return storage_.ss_family; }

std::uint16_t address::port() const noexcept {
    if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    return 0;
}

std::string address::host() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (family() == AF_INET) {
        ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf, sizeof buf);
        return buf;
    }
    if (family() == AF_INET6) {
        ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf, sizeof buf);
        return buf;
    }
    if (family() == AF_UNIX) {
        auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
        std::size_t max = len_ > offsetof(sockaddr_un, sun_path) ? len_ - offsetof(sockaddr_un, sun_path) : 0;
        return std::string(un->sun_path, ::strnlen(un->sun_path, max));
    }
    return {};
}

std::string address::to_string() const {
    std::string out;
    switch (family()) {
    case AF_INET: out.append(host()).append(":").append(std::to_string(port())); break;
    case AF_INET6: out.append("[").append(host()).append("]:").append(std::to_string(port())); break;
    case AF_UNIX: out.append("unix:").append(host()); break;
    default: out = "<unspecified>";
    }
    return out;
}

bool operator==(const address& a, const address& b) noexcept {
    return a.len_ == b.len_ && std::memcmp(&a.storage_, &b.storage_, a.len_) == 0;
}

std::ostream& operator<<(std::ostream& os, const address& a) { return os << a.to_string(); }

} // namespace asyncore
