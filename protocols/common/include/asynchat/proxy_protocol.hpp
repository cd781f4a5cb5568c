#pragma once
// asynchat::proxy — the PROXY protocol header (HAProxy's spec, versions 1 and 2) by which a load balancer in front
// of a server tells it who the client is: the first bytes of a connection, before any byte of the protocol
// itself. Sans-I/O: bytes in, a header (or an error) out, no socket inside, so it runs in tests and fuzzers.
//
//   v1: "PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\n"   (text, at most 107 bytes; TCP6 and UNKNOWN too)
//   v2: the 12-byte signature \r\n\r\n\0\r\nQUIT\n, version/command, family/transport, a 2-byte length, then
//       the addresses (12 bytes for IPv4, 36 for IPv6, 216 for Unix paths) and optional TLVs (skipped here).
//
// What a header does not name — v1 UNKNOWN, v2 LOCAL (a balancer's own health check), v2 family UNSPEC — gives a
// header with no source: the connection's own addresses stand. asynchat::serve reads it before a service's
// channel is made (serve.hpp, proxy_protocol_options), so the channel's addr() is the client's from its first line.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <asyncore/address.hpp>

namespace asynchat::proxy {

// v1 headers are at most this long, CRLF included (the spec's bound).
inline constexpr std::size_t max_v1_header = 107;
// The default bound on a v2 header (16 bytes + addresses + TLVs). The format allows 16 + 65,535; HAProxy sends
// well under 300 even with its SSL and unique-id TLVs.
inline constexpr std::size_t default_max_header = 4096;

struct header {
    int version = 0;                          // 1 or 2
    bool local = false;                       // LOCAL / UNKNOWN / UNSPEC: no client named, keep the connection's
    std::optional<asyncore::address> source;  // the client, as the balancer saw it
    std::optional<asyncore::address> destination; // the address the client connected to, on the balancer
};

// Reads one header from the start of a connection, in pieces as they arrive.
class header_parser {
public:
    enum class status { need_more, done, invalid };

    // max_header bounds a v2 header (v1 is bounded by max_v1_header); at least 16 + 216 so that every address
    // family fits: std::invalid_argument below that.
    explicit header_parser(std::size_t max_header = default_max_header);

    // Takes the next bytes of the connection and returns how many of them are the header's: all of them while it
    // is incomplete, only its own once done (what follows belongs to the stream and is not looked at). Nothing
    // more is taken once done or invalid (returns 0). An invalid header is known as soon as a byte differs from
    // every valid form, so a client that speaks the protocol itself is refused at its first bytes.
    std::size_t feed(std::string_view bytes);

    status state() const noexcept { return state_; }
    // When done.
    const header& result() const noexcept { return header_; }
    // When invalid: what was wrong, for a log line ("not a PROXY protocol header", "v2 length 70000 over 4096").
    const std::string& error() const noexcept { return error_; }

private:
    std::size_t fail(std::string why);
    void finish_v1();
    void finish_v2();

    std::size_t max_header_;
    std::string buf_;       // the header's bytes so far (bounded: max_v1_header or max_header_)
    std::size_t v2_total_ = 0; // once the v2 fixed part is in: 16 + its length
    status state_ = status::need_more;
    header header_;
    std::string error_;
};

} // namespace asynchat::proxy
