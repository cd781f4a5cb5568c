#pragma once
// asyncore::address — an IPv4, IPv6 or Unix-domain socket address, the C++ form of Python's address
// tuples ("127.0.0.1", 80) / ("::1", 80, 0, 0) / "/tmp/sock".
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

#include <sys/socket.h>

namespace asyncore {

class address {
public:
    address() noexcept;                                      // unspecified (AF_UNSPEC)
    address(const sockaddr* sa, socklen_t len);              // copies what the kernel returned

    // Numeric host only ("127.0.0.1", "::1"); throws std::invalid_argument on anything else.
    static address ipv4(std::string_view host, std::uint16_t port);
    static address ipv6(std::string_view host, std::uint16_t port);
    // Host for either family: numeric "::1" / "127.0.0.1", or a name looked up with getaddrinfo (blocking, as
    // Python's connect((host, port)) is). Throws std::runtime_error when the name does not resolve.
    static address inet(std::string_view host, std::uint16_t port);
    // A filesystem path; throws std::invalid_argument past sun_path's length (108 bytes on Linux) rather than
    // truncate it.
    static address unix_path(std::string_view path);
    // "HOST:PORT", "[V6]:PORT" or "unix:PATH" — the form to_string() prints.
    static address parse(std::string_view text);

    int family() const noexcept;
    std::uint16_t port() const noexcept;     // 0 for Unix addresses
    std::string host() const;                // numeric host, or the path for Unix addresses
    std::string to_string() const;           // 127.0.0.1:80, [::1]:80, unix:/tmp/sock

    const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
    sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
    socklen_t size() const noexcept { return len_; }
    void set_size(socklen_t len) noexcept { len_ = len; }

    friend bool operator==(const address& a, const address& b) noexcept;

private:
    sockaddr_storage storage_{};
    socklen_t len_ = 0;
};

std::ostream& operator<<(std::ostream& os, const address& a);

} // namespace asyncore
