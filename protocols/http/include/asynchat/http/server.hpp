#pragma once
// asynchat::http server — an HTTP/1.0 server on async_chat: a router of handlers, a channel per connection that
// frames requests with request_parser, and a static-file handler.
//
//   asynchat::http::router routes;
//   routes.add("POST", "/echo", [](const asynchat::http::request& r) {
//       return asynchat::http::response::text(200, r.body, "application/octet-stream");
//   });
//   routes.add_prefix("GET", "/", asynchat::http::static_files("/srv/www"));
//   // for each accepted socket:
//   asyncore::make<asynchat::http::server_channel>(std::move(sock), routes, options, &stats);
//
// The status line is always "HTTP/1.0". A connection persists when an HTTP/1.1 request does not say
// "Connection: close", or an HTTP/1.0 one says "Connection: keep-alive"; the reply then says "Connection:
// keep-alive" (which 1.1 clients need to see on a 1.0 status line), otherwise "Connection: close" and the
// connection closes once the reply is sent. Pipelined requests are answered in order. docs/http.md has the rest.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>


#include <asynchat/access_log.hpp>
#include <asynchat/async_chat.hpp>
#include <asynchat/http/message.hpp>
#include <asynchat/http/parser.hpp>
#include <asynchat/service_connection.hpp>
#include <asynchat/service_stats.hpp>

namespace asynchat::http {

using handler = std::function<response(const request&)>;

// Handlers by method and path. route() picks, in order: an exact path registered for the method, then the longest
// registered prefix for the method. A HEAD request with no HEAD route uses the GET route (the server drops the
// body). When nothing matches: 501 if no route knows the method at all, 405 (with Allow) if the path has routes
// for other methods only, else 404.
class router {
public:
    void add(std::string method, std::string path, handler h);          // exact path
    void add_prefix(std::string method, std::string prefix, handler h); // longest prefix wins
    response route(const request& req) const;

    // The handler route() would call, or null (then route() answers 404/405/501 itself).
    const handler* find(std::string_view method, std::string_view path) const;

private:
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    struct method_handler {
        std::string method;
        handler h;
    };
    struct prefix_route {
        std::string prefix;
        std::string method;
        handler h;
    };
    const handler* find_exact(std::string_view method, std::string_view path) const;
    const handler* find_prefix(std::string_view method, std::string_view path) const;
    bool knows_method(std::string_view method) const;
    std::string allowed_methods(std::string_view path) const;

    std::unordered_map<std::string, std::vector<method_handler>, string_hash, std::equal_to<>> exact_;
    std::vector<prefix_route> prefixes_; // longest prefix first
    std::vector<std::string> methods_;   // every method some route has
};

struct server_options {
    // What one request may hold (the request parser's bounds, parser.hpp): a longer request line gets 414, more
    // header fields 431, a larger Content-Length 413.
    parser_limits limits;
    std::chrono::duration<double> idle_timeout{30}; // seconds without traffic before the connection closes; 0: never
    // From the first byte of a request (blank lines before it included) until its header fields are complete: a
    // client slower than this gets 408 and the connection closes. The idle timeout cannot catch a client that
    // dribbles a byte now and then (slowloris), since every byte is traffic. 0: no deadline.
    std::chrono::duration<double> header_timeout{10};
    // Queued response bytes past which the channel answers no further pipelined request (and reads no more)
    // until the peer has read them, so that a client pipelining requests without reading the answers cannot make
    // the server buffer without bound. A body streamed from a producer (a file) holds the next request back the
    // same way until it is sent, so a pipelining client cannot make the server hold one open file per request.
    std::size_t max_pending_output = 4u << 20;
    // One line per response, in the combined log format (combined_log_line), when not null. Not owned; outlives
    // the channels.
    asynchat::access_log* access_log = nullptr;
};

// A response in the combined log format (Apache's and nginx's default):
//   203.0.113.7 - - [08/Dec/2026:01:02:03 +0000] "GET /a.txt HTTP/1.1" 200 1024 "http://ref/" "curl/7.88.1"
// `client` is the peer's host ("-" when unknown); `req` null for a request that never parsed (its request line
// is then "-"); `bytes` the body's size ("-" for none). The request line, Referer and User-Agent are the client's
// bytes: '"', '\' and bytes outside printable ASCII are written as \xHH, so a line can neither be split nor
// faked. The date is formatted once per second per thread.
std::string combined_log_line(std::string_view client, const request* req, int status, std::uint64_t bytes,
                              std::chrono::system_clock::time_point when = std::chrono::system_clock::now());

// One connection. Counts into stats when not null: connections, messages (requests), errors (requests refused by
// the parser), traffic.
//
// Requests are answered as soon as they are parsed, in order, unless the connection is busy (see
// max_pending_output): then the parsed requests of the current read wait in a queue (at most one read's worth),
// the channel stops reading, and they are answered as the output drains.
class server_channel : public service_connection<async_chat> {
public:
    server_channel(asyncore::socket sock, const router& routes, const server_options& options,
                   service_stats* stats = nullptr);
    // Socket-less, for string_transport tests.
    explicit server_channel(const router& routes, const server_options& options, service_stats* stats = nullptr);
    ~server_channel() override;

    void collect_incoming_data(std::string_view data) override;
    void found_terminator() override;
    void handle_incoming(std::string_view bytes) override;
    void handle_write() override;
    bool readable() override;
    void handle_close() override;
    void close() override;
    // The server is stopping: a connection between requests closes once its output is sent; one with a request
    // in hand (arriving, parsed and waiting, or being answered) answers it with "Connection: close" and closes.
    void handle_shutdown() override;

private:
    class tracked_producer;
    void setup();
    void after_parser();
    bool busy() noexcept;
    // Answers the waiting requests while the connection is not busy (all of them when `all`).
    void resume(bool all = false);
    void stop_reading_requests();
    void answer(request& req);
    void answer_error(int status, std::string_view reason);
    void send_response(response& resp, const request* req, bool keep_alive);
    // The header deadline: started by the first byte of a request, stopped when its header fields are complete.
    void start_header_clock();
    void header_clock_due();
    void refuse(int status, std::string_view reason);

    const router& routes_;
    server_options options_; // a copy: small, and the channel may outlive the caller's
    request_parser parser_;
    std::uint64_t term_seen_ = 0;
    bool done_ = false;        // the last response is queued (close after it)
    bool input_done_ = false;  // no more requests will be parsed: what the peer sends now is read and dropped
    std::vector<request> deferred_;      // parsed, waiting for the output to drain (a FIFO from deferred_head_)
    std::size_t deferred_head_ = 0;
    int deferred_error_ = 0;             // a parse error found behind deferred requests: its status, and why
    std::string deferred_error_reason_;
    std::size_t live_producers_ = 0;     // body producers of this channel still in the output queue
    bool shutting_down_ = false;         // handle_shutdown was called: the next response is the last
    bool in_headers_ = false;            // a request has begun and its header fields are not complete
    asyncore::clock::time_point headers_began_{};
    asyncore::timer_handle header_timer_; // armed at most once per header_timeout, not per request
};

// Serializes a response's status line and header fields (with Date, Server, Content-Length and Connection) into
// one string; the body is not included. Exposed for tests and for servers that write their own channels.
std::string serialize_head(const response& resp, std::uint64_t content_length, bool keep_alive);

// The whole reply to a connection a server will not serve because it has too many (a listener's
// --max-connections): "503 Service Unavailable" with Retry-After and Connection: close.
std::string over_capacity_response();

// "Sun, 06 Nov 1994 08:49:37 GMT" for now, formatted at most once per second per thread.
std::string_view http_date_now();

// The Content-Type for a file name's extension ("text/html; charset=utf-8"); application/octet-stream when it
// does not know the extension.
std::string_view content_type_for(std::string_view filename) noexcept;

// GET (and, through the router's fallback, HEAD) of the files under root: 200 with Content-Length, Content-Type by
// extension, Last-Modified; a directory serves its index.html, a directory path without a trailing slash is
// redirected (301) to path + "/"; If-Modified-Since not older than the file gives 304; a missing file 404.
// Paths cannot leave root: ".." segments get 403, and the file is opened with openat2(RESOLVE_BENEATH) relative to
// root, so a symlink pointing outside gets 403 too, without a race against renames. Throws std::system_error if
// root cannot be opened as a directory.
handler static_files(std::filesystem::path root);

// The health checks of a server behind a balancer or an orchestrator (HAProxy's `option httpchk`, Kubernetes'
// probes): GET /healthz is 200 "ok" while the process answers at all (liveness); GET /readyz is 200 "ready" while
// ready() is true and 503 "draining" once it is not (readiness: asynchat::serve's on_stop makes it false at the
// signal, and serve_options::drain_delay keeps the server answering while the balancer notices). Both with
// Cache-Control: no-store, HEAD too.
void add_health_routes(router& routes, std::function<bool()> ready);

namespace detail {
// static_files with the openat2 path switched off (use_openat2 false): the realpath fallback of kernels before 5.6,
// so that the tests run the traversal cases through it too.
handler static_files(std::filesystem::path root, bool use_openat2);
} // namespace detail

} // namespace asynchat::http
