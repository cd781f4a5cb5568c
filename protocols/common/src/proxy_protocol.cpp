#include "asynchat/proxy_protocol.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

namespace asynchat::proxy {

namespace {

constexpr std::string_view v1_prefix = "PROXY ";
constexpr std::string_view v2_signature{"\r\n\r\n\0\r\nQUIT\n", 12};
constexpr std::size_t v2_fixed = 16;                     // signature, version/command, family/transport, length
constexpr std::size_t v2_inet = 12, v2_inet6 = 36, v2_unix = 216; // address block of each family

std::vector<std::string_view> split_spaces(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (true) {
        const auto space = line.find(' ', start);
        out.push_back(line.substr(start, space - start));
        if (space == std::string_view::npos) return out;
        start = space + 1;
    }
}

// A decimal port as the spec writes it: 1 to 5 digits, no leading zero, at most 65535.
std::optional<std::uint16_t> parse_port(std::string_view text) {
    if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
    unsigned value = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(value);
}

// A numeric address of exactly this family (inet_pton: no names, no zone ids, no IPv4 in a TCP6 line).
std::optional<asyncore::address> parse_host(std::string_view text, int family, std::uint16_t port) {
    const std::string host(text);
    if (family == AF_INET) {
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) return std::nullopt;
        return asyncore::address(reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
    }
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(port);
    if (inet_pton(AF_INET6, host.c_str(), &sa.sin6_addr) != 1) return std::nullopt;
    return asyncore::address(reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
}

std::uint16_t be16(const char* p) {
    return static_cast<std::uint16_t>((static_cast<unsigned char>(p[0]) << 8) | static_cast<unsigned char>(p[1]));
}

asyncore::address v2_inet_address(const char* addr, const char* port) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    std::memcpy(&sa.sin_addr, addr, 4); // network order on the wire and in sin_addr
    std::memcpy(&sa.sin_port, port, 2);
    return asyncore::address(reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
}

asyncore::address v2_inet6_address(const char* addr, const char* port) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    std::memcpy(&sa.sin6_addr, addr, 16);
    std::memcpy(&sa.sin6_port, port, 2);
    return asyncore::address(reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
}

// 108 bytes, NUL-padded (a path of exactly 108 bytes has no NUL).
asyncore::address v2_unix_address(const char* path) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    const std::size_t n = strnlen(path, sizeof sa.sun_path);
    std::memcpy(sa.sun_path, path, n);
    return asyncore::address(reinterpret_cast<const sockaddr*>(&sa),
                             static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n));
}

} // namespace

header_parser::header_parser(std::size_t max_header) : max_header_(max_header) {
    if (max_header < v2_fixed + v2_unix)
        throw std::invalid_argument("proxy::header_parser: max_header under " + std::to_string(v2_fixed + v2_unix));
}

std::size_t header_parser::fail(std::string why) {
    state_ = status::invalid;
    error_ = std::move(why);
    buf_.clear();
    buf_.shrink_to_fit();
    return 0;
}

std::size_t header_parser::feed(std::string_view bytes) {
    if (state_ != status::need_more || bytes.empty()) return 0;
    const char first = buf_.empty() ? bytes[0] : buf_[0];
    std::size_t used = 0;
    if (first == 'P') {
        // v1, a byte at a time (at most 107): the end is the first CRLF, and nothing after it is taken.
        while (used < bytes.size()) {
            const char c = bytes[used++];
            const std::size_t at = buf_.size();
            const char prev = at ? buf_.back() : '\0';
            buf_ += c;
            if (at < v1_prefix.size()) {
                if (c != v1_prefix[at]) return fail("not a PROXY protocol header");
            } else if (c == '\n') {
                if (prev != '\r') return fail("v1 header line ends in a bare LF");
                finish_v1();
                return state_ == status::done ? used : 0;
            } else if (prev == '\r') {
                return fail("v1 header holds a CR not followed by LF");
            } else if (c != '\r' && (c < 0x20 || c > 0x7e)) {
                return fail("v1 header holds a control or non-ASCII byte");
            }
            if (buf_.size() >= max_v1_header) return fail("v1 header over 107 bytes without its CRLF");
        }
        return used;
    }
    if (first != '\r') return fail("not a PROXY protocol header");
    // v2: the fixed part, checked as it comes, then exactly the length it names.
    while (used < bytes.size() && buf_.size() < v2_fixed) {
        const char c = bytes[used++];
        const std::size_t at = buf_.size();
        buf_ += c;
        if (at < v2_signature.size()) {
            if (c != v2_signature[at]) return fail("not a PROXY protocol header");
        } else if (at == 12) {
            const auto b = static_cast<unsigned char>(c);
            if ((b >> 4) != 2) return fail("v2 header of version " + std::to_string(b >> 4));
            if ((b & 0xF) > 1) return fail("v2 header with command " + std::to_string(b & 0xF));
        } else if (at == 13) {
            const auto b = static_cast<unsigned char>(c);
            if ((b >> 4) > 3) return fail("v2 header with address family " + std::to_string(b >> 4));
            if ((b & 0xF) > 2) return fail("v2 header with transport " + std::to_string(b & 0xF));
        }
    }
    if (buf_.size() < v2_fixed) return used;
    if (v2_total_ == 0) {
        v2_total_ = v2_fixed + be16(buf_.data() + 14);
        if (v2_total_ > max_header_)
            return fail("v2 header of " + std::to_string(v2_total_) + " bytes over the bound of " +
                        std::to_string(max_header_));
    }
    const std::size_t take = std::min(bytes.size() - used, v2_total_ - buf_.size());
    buf_.append(bytes.substr(used, take));
    used += take;
    if (buf_.size() == v2_total_) {
        finish_v2();
        if (state_ == status::invalid) return 0;
    }
    return used;
}

void header_parser::finish_v1() {
    const std::string_view line = std::string_view(buf_).substr(v1_prefix.size(), buf_.size() - v1_prefix.size() - 2);
    const auto fields = split_spaces(line);
    header_ = {};
    header_.version = 1;
    if (fields[0] == "UNKNOWN") {
        // The balancer could not say (another protocol family): the rest of the line is to be ignored.
        header_.local = true;
        state_ = status::done;
        return;
    }
    if (fields[0] != "TCP4" && fields[0] != "TCP6") {
        fail("v1 header with protocol '" + std::string(fields[0]) + "' (TCP4, TCP6 or UNKNOWN)");
        return;
    }
    if (fields.size() != 5) {
        fail("v1 header with " + std::to_string(fields.size() - 1) + " fields after the protocol, not 4");
        return;
    }
    const int family = fields[0] == "TCP4" ? AF_INET : AF_INET6;
    const auto sport = parse_port(fields[3]);
    const auto dport = parse_port(fields[4]);
    if (!sport || !dport) {
        fail("v1 header with a port that is not 0 to 65535");
        return;
    }
    header_.source = parse_host(fields[1], family, *sport);
    header_.destination = parse_host(fields[2], family, *dport);
    if (!header_.source || !header_.destination) {
        fail("v1 header with an address that is not " + std::string(fields[0] == "TCP4" ? "IPv4" : "IPv6"));
        return;
    }
    state_ = status::done;
}

void header_parser::finish_v2() {
    const auto command = static_cast<unsigned char>(buf_[12]) & 0xF;
    const auto family = static_cast<unsigned char>(buf_[13]) >> 4;
    const auto transport = static_cast<unsigned char>(buf_[13]) & 0xF;
    const std::size_t length = buf_.size() - v2_fixed;
    const char* a = buf_.data() + v2_fixed;
    header_ = {};
    header_.version = 2;
    if (command == 0 || family == 0) {
        // LOCAL: the balancer's own connection (a health check); UNSPEC: it could not say. The address block
        // (if any) is to be ignored.
        header_.local = true;
    } else if (transport != 1) {
        fail(transport == 2 ? "v2 header for a datagram on a stream connection" : "v2 header with no transport");
        return;
    } else if (family == 1) {
        if (length < v2_inet) {
            fail("v2 IPv4 header with " + std::to_string(length) + " address bytes, under 12");
            return;
        }
        header_.source = v2_inet_address(a, a + 8);
        header_.destination = v2_inet_address(a + 4, a + 10);
    } else if (family == 2) {
        if (length < v2_inet6) {
            fail("v2 IPv6 header with " + std::to_string(length) + " address bytes, under 36");
            return;
        }
        header_.source = v2_inet6_address(a, a + 32);
        header_.destination = v2_inet6_address(a + 16, a + 34);
    } else {
        if (length < v2_unix) {
            fail("v2 Unix header with " + std::to_string(length) + " address bytes, under 216");
            return;
        }
        header_.source = v2_unix_address(a);
        header_.destination = v2_unix_address(a + 108);
    }
    // TLVs after the addresses (ALPN, authority, SSL, unique id...) are skipped: nothing here uses them.
    state_ = status::done;
    buf_.clear();
    buf_.shrink_to_fit();
}

} // namespace asynchat::proxy
