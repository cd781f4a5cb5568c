#pragma once
// asynchat::http::client — the HTTP client of Python's asyncore documentation grown up: an async_chat channel that
// sends one GET (or HEAD) for an http:// URL and parses the response with response_parser (the same header-field
// code as the server). The body is framed by Content-Length, or read to the close when there is none; redirects
// are not followed (a 301 is a result like any other).
//
//   auto c = asyncore::make<asynchat::http::client>(asynchat::http::parse_url("http://[::1]:8080/x?y"));
//   c->on_done = [](const asynchat::http::response_result& r) { ... r.status, r.body, r.complete ... };
//   c->on_body = [](std::string_view bytes) { ... };   // optional: the body as it arrives, not in r.body
//   asyncore::loop();
//
// The request says "Connection: close": one request per connection, so read-to-close bodies are well defined.
//
// https:// URLs: protocols do not depend on the TLS layer, so the application passes client_options::use_tls,
// which installs TLS on the channel before it connects (`asynchat get` calls asynchat::tls::use_tls with the
// URL's host, which the server's certificate must name). A failed verification or handshake ends the exchange
// like a failed connection (status 0, error saying why).
#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <asyncore/idle_timer.hpp>
#include <asynchat/async_chat.hpp>
#include <asynchat/http/parser.hpp>

namespace asynchat::http {

// A URL parse_url refuses, with the reason in what().
class url_error : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

struct url {
    std::string host;        // without brackets: "::1", "example.org"
    std::uint16_t port = 80;
    std::string target = "/"; // path and query, as sent on the request line
    std::string authority;    // the Host header: "[::1]:8080", "example.org" (no port when it is the default)
    bool tls = false;         // https:// (port 443 by default)
};

// http://host[:port][/path][?query][#fragment] or https://...; host a name, an IPv4 address or a bracketed IPv6
// address. The fragment is dropped (it is never sent). Throws url_error for anything else (another scheme, user
// info, a bad port, spaces or control characters).
url parse_url(std::string_view text);

struct client_options {
    std::string method = "GET";                   // GET or HEAD (a HEAD response has no body)
    int version_minor = 0;                        // HTTP/1.0 (default) or HTTP/1.1, with Connection: close either way
    parser_limits limits;                         // status line and header bounds (max_body is not used)
    std::chrono::duration<double> timeout{30};    // seconds without traffic before giving up; 0: never
    // Required for an https:// URL (std::invalid_argument without it): installs TLS on the channel, called
    // before it connects.
    std::function<void(async_chat&)> use_tls{};
};

class client : public async_chat {
public:
    // Resolves and connects at once (std::runtime_error if the host does not resolve).
    explicit client(const url& where, client_options options = {}, asyncore::socket_map* map = nullptr);

    // The callbacks are public members, as everywhere in the library (response_parser::on_body,
    // smtp::client::on_reply): set them after making the client, before the loop runs.
    //
    // Called once when the exchange ends: the response complete, cut short (complete false, error set), or the
    // connection failed (status 0, error set). The channel is closed before it is called.
    std::function<void(const response_result&)> on_done;
    // When set, body bytes go here as they arrive instead of into result().body. Taken when the connection is
    // made (handle_connect), before any byte of the response can arrive; setting it later changes nothing.
    std::function<void(std::string_view)> on_body;

    const response_result& result() const noexcept { return parser_.result(); }
    bool finished() const noexcept { return finished_; }

    void handle_connect() override;
    void collect_incoming_data(std::string_view data) override;
    void found_terminator() override;
    void handle_incoming(std::string_view bytes) override;
    void handle_close() override;
    void handle_error() override;

private:
    void sync();
    void finish();

    url url_;
    client_options options_;
    response_parser parser_;
    std::uint64_t seen_ = 0;
    bool finished_ = false;
    asyncore::idle_timer idle_;
};

} // namespace asynchat::http
