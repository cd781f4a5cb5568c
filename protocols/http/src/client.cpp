#include "asynchat/http/client.hpp"

#include <charconv>

#include <asyncore/loop.hpp>
#include <asyncore/socket_map.hpp>

namespace asynchat::http {

url parse_url(std::string_view text) {
    constexpr std::string_view http = "http://";
    constexpr std::string_view https = "https://";
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f) throw url_error("bad URL: it contains a space or a control character");
    }
    url u;
    if (text.size() >= https.size() && iequals(text.substr(0, https.size()), https)) {
        u.tls = true;
        u.port = 443;
        text.remove_prefix(https.size());
    } else if (text.size() >= http.size() && iequals(text.substr(0, http.size()), http)) {
        text.remove_prefix(http.size());
    } else {
        if (text.find("://") != std::string_view::npos)
            throw url_error("bad URL: only http:// and https:// URLs are supported");
        throw url_error("bad URL: expected http://host[:port]/path or https://...");
    }
    const std::uint16_t default_port = u.port;
    if (const auto hash = text.find('#'); hash != std::string_view::npos) text = text.substr(0, hash);
    const auto authority_end = text.find_first_of("/?");
    std::string_view authority = text.substr(0, authority_end);
    std::string_view rest = authority_end == std::string_view::npos ? std::string_view() : text.substr(authority_end);
    if (authority.find('@') != std::string_view::npos) throw url_error("bad URL: user information is not supported");

    std::string_view port_text;
    bool has_port = false;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) throw url_error("bad URL: '[' without ']' around an IPv6 address");
        u.host.assign(authority.substr(1, close - 1));
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') throw url_error("bad URL: unexpected characters after ']'");
            port_text = after.substr(1);
            has_port = true;
        }
        if (u.host.empty() || u.host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos)
            throw url_error("bad URL: bad IPv6 address");
    } else {
        const auto colon = authority.find(':');
        u.host.assign(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            port_text = authority.substr(colon + 1);
            has_port = true;
        }
        if (u.host.find_first_of("[]") != std::string::npos) throw url_error("bad URL: bad host");
    }
    if (u.host.empty()) throw url_error("bad URL: no host");
    if (has_port) {
        unsigned value = 0;
        const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
        if (port_text.empty() || ec != std::errc{} || end != port_text.data() + port_text.size() || value == 0 ||
            value > 65535)
            throw url_error("bad URL: bad port '" + std::string(port_text) + "'");
        u.port = static_cast<std::uint16_t>(value);
    }
    u.target = rest.empty() || rest.front() == '?' ? "/" + std::string(rest) : std::string(rest);
    const bool ipv6 = u.host.find(':') != std::string::npos;
    u.authority = ipv6 ? "[" + u.host + "]" : u.host;
    if (u.port != default_port) u.authority += ":" + std::to_string(u.port);
    return u;
}

client::client(const url& where, client_options options, asyncore::socket_map* map)
    : async_chat(map), url_(where), options_(std::move(options)),
      parser_(options_.method == "HEAD", options_.limits) {
    if (url_.tls && !options_.use_tls) throw std::invalid_argument("an https:// URL needs client_options::use_tls");
    const auto addr = asyncore::address::inet(url_.host, url_.port);
    create_socket(addr.family());
    // Before any byte is read or sent: TLS from the first one.
    if (url_.tls) options_.use_tls(*this);
    seen_ = parser_.terminator_version();
    set_terminator(parser_.next_terminator());
    idle_.start(this->map(), options_.timeout, [this] {
        parser_.result().error = "timed out: no traffic for " + std::to_string(options_.timeout.count()) + " s";
        parser_.result().complete = false;
        finish();
    });
    connect(addr);
}

void client::handle_connect() {
    idle_.touch();
    if (on_body) parser_.on_body = on_body; // no response byte can have arrived yet
    std::string req;
    req.reserve(96 + url_.target.size() + url_.authority.size());
    req.append(options_.method).append(" ").append(url_.target);
    req.append(options_.version_minor == 1 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
    req.append("Host: ").append(url_.authority).append("\r\n");
    req.append("User-Agent: asynchat\r\nAccept: */*\r\nConnection: close\r\n\r\n");
    push(std::move(req));
}

void client::handle_incoming(std::string_view bytes) {
    idle_.touch();
    async_chat::handle_incoming(bytes);
}

void client::sync() {
    if (parser_.terminator_version() == seen_) return;
    seen_ = parser_.terminator_version();
    set_terminator(parser_.next_terminator());
}

void client::collect_incoming_data(std::string_view data) {
    if (finished_) return;
    parser_.collect_incoming_data(data);
    if (parser_.done()) finish();
}

void client::found_terminator() {
    if (finished_) return;
    parser_.found_terminator();
    sync();
    if (parser_.done()) finish();
}

void client::handle_close() {
    parser_.finish();
    finish();
}

void client::handle_error() {
    if (!finished_) {
        auto& r = parser_.result();
        r.error = asyncore::compact_exception();
        r.complete = false;
    }
    finish();
}

void client::finish() {
    if (finished_) return;
    finished_ = true;
    idle_.stop();
    close();
    if (on_done) on_done(parser_.result());
}

} // namespace asynchat::http
