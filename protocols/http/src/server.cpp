#include "asynchat/http/server.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <unordered_map>

#include <asyncore/log.hpp>
#include <asyncore/loop.hpp>
#include <asyncore/socket_map.hpp>

namespace asynchat::http {

// ---------------------------------------------------------------- router

void router::add(std::string method, std::string path, handler h) {
    if (std::find(methods_.begin(), methods_.end(), method) == methods_.end()) methods_.push_back(method);
    exact_[std::move(path)].push_back({std::move(method), std::move(h)});
}

void router::add_prefix(std::string method, std::string prefix, handler h) {
    if (std::find(methods_.begin(), methods_.end(), method) == methods_.end()) methods_.push_back(method);
    // Kept longest first, so the first match is the longest; equal lengths keep their order of registration.
    const auto at = std::find_if(prefixes_.begin(), prefixes_.end(),
                                 [&](const prefix_route& r) { return r.prefix.size() < prefix.size(); });
    prefixes_.insert(at, {std::move(prefix), std::move(method), std::move(h)});
}

const handler* router::find_exact(std::string_view method, std::string_view path) const {
    const auto it = exact_.find(path);
    if (it == exact_.end()) return nullptr;
    for (const auto& m : it->second)
        if (m.method == method) return &m.h;
    return nullptr;
}

const handler* router::find_prefix(std::string_view method, std::string_view path) const {
    for (const auto& r : prefixes_)
        if (r.method == method && path.starts_with(r.prefix)) return &r.h;
    return nullptr;
}

const handler* router::find(std::string_view method, std::string_view path) const {
    if (const handler* h = find_exact(method, path)) return h;
    if (const handler* h = find_prefix(method, path)) return h;
    // RFC 9110 §9.3.2: HEAD is GET without the body; the channel drops the body.
    if (method == "HEAD") return find("GET", path);
    return nullptr;
}

bool router::knows_method(std::string_view method) const {
    if (std::find(methods_.begin(), methods_.end(), method) != methods_.end()) return true;
    return method == "HEAD" && knows_method("GET");
}

std::string router::allowed_methods(std::string_view path) const {
    std::string allow;
    for (const auto& m : methods_) {
        if (!find_exact(m, path) && !find_prefix(m, path)) continue;
        if (!allow.empty()) allow += ", ";
        allow += m;
        if (m == "GET" && !find_exact("HEAD", path) && !find_prefix("HEAD", path)) allow += ", HEAD";
    }
    return allow;
}

response router::route(const request& req) const {
    if (const handler* h = find(req.method, req.path)) return (*h)(req);
    if (!knows_method(req.method)) return response::text(501, "501 Not Implemented: " + req.method + "\n");
    std::string allow = allowed_methods(req.path);
    if (!allow.empty()) {
        response r = response::text(405, "405 Method Not Allowed\n");
        r.headers.emplace_back("Allow", std::move(allow));
        return r;
    }
    return response::text(404, "404 Not Found\n");
}

// ---------------------------------------------------------------- response head

std::string_view http_date_now() {
    // Formatted once per second per thread, not per request: a busy server answers thousands of requests within
    // the same second, and time(2) is a vDSO read.
    thread_local std::time_t cached_second = -1;
    thread_local std::string cached;
    const std::time_t now = std::time(nullptr);
    if (now != cached_second) {
        cached = format_http_date(now);
        cached_second = now;
    }
    return cached;
}

std::string serialize_head(const response& resp, std::uint64_t content_length, bool keep_alive) {
    const std::string_view reason = reason_phrase(resp.status);
    const std::string_view date = http_date_now();
    std::size_t size = 128 + reason.size();
    for (const auto& [name, value] : resp.headers) size += name.size() + value.size() + 4;
    std::string head;
    head.reserve(size);
    char number[24];
    head.append("HTTP/1.0 ");
    const int status = resp.status >= 100 && resp.status <= 999 ? resp.status : 500;
    head.append(number, std::to_chars(number, number + sizeof number, status).ptr);
    head.append(" ").append(reason).append("\r\nDate: ").append(date).append("\r\nServer: asynchat\r\n");
    for (const auto& [name, value] : resp.headers) head.append(name).append(": ").append(value).append("\r\n");
    // 304 and 204 have no body and so no length to announce (RFC 9110 §8.6); every other response says how long
    // it is, which is what lets the connection persist after it.
    if (status != 304 && status != 204 && status >= 200) {
        head.append("Content-Length: ");
        head.append(number, std::to_chars(number, number + sizeof number, content_length).ptr);
        head.append("\r\n");
    }
    head.append(keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
    return head;
}

std::string over_capacity_response() {
    response resp = response::text(503, "503 Service Unavailable: too many connections, try again later\n");
    resp.headers.emplace_back("Retry-After", "1");
    return serialize_head(resp, resp.body.size(), false) + resp.body;
}

std::string_view content_type_for(std::string_view filename) noexcept {
    static const std::unordered_map<std::string_view, std::string_view> types{
        {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
        {"txt", "text/plain; charset=utf-8"}, {"css", "text/css; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"}, {"mjs", "text/javascript; charset=utf-8"},
        {"json", "application/json"}, {"xml", "application/xml"}, {"svg", "image/svg+xml"},
        {"png", "image/png"}, {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"}, {"gif", "image/gif"},
        {"webp", "image/webp"}, {"ico", "image/x-icon"}, {"pdf", "application/pdf"},
        {"wasm", "application/wasm"}, {"woff2", "font/woff2"}, {"woff", "font/woff"},
        {"mp4", "video/mp4"}, {"webm", "video/webm"}, {"mp3", "audio/mpeg"}, {"zip", "application/zip"},
        {"gz", "application/gzip"}, {"tar", "application/x-tar"}, {"md", "text/markdown; charset=utf-8"},
    };
    constexpr std::string_view fallback = "application/octet-stream";
    const auto slash = filename.rfind('/');
    if (slash != std::string_view::npos) filename.remove_prefix(slash + 1);
    const auto dot = filename.rfind('.');
    if (dot == std::string_view::npos || filename.size() - dot - 1 > 8) return fallback;
    char ext[8];
    const std::string_view e = filename.substr(dot + 1);
    for (std::size_t i = 0; i < e.size(); ++i) ext[i] = e[i] >= 'A' && e[i] <= 'Z' ? static_cast<char>(e[i] + 32) : e[i];
    const auto it = types.find(std::string_view(ext, e.size()));
    return it == types.end() ? fallback : it->second;
}

// ---------------------------------------------------------------- server_channel

server_channel::server_channel(asyncore::socket sock, const router& routes, const server_options& options,
                               service_stats* stats)
    : service_connection("http", stats, std::move(sock)), routes_(routes), options_(options),
      parser_(options.limits) {
    setup();
}

server_channel::server_channel(const router& routes, const server_options& options, service_stats* stats)
    : service_connection("http", stats), routes_(routes), options_(options), parser_(options.limits) {
    setup();
}

// The queue's producers count themselves in live_producers_, a member of this class: they must go before it does
// (async_chat, the base holding the queue, is destroyed after this class's members).
server_channel::~server_channel() {
    header_timer_.cancel();
    output().clear();
}

// A body producer that keeps live_producers_ up to date: made when the response is queued, destroyed when the
// queue is done with it (or cleared).
class server_channel::tracked_producer final : public asynchat::producer {
public:
    tracked_producer(std::unique_ptr<producer> inner, std::size_t& live) : inner_(std::move(inner)), live_(live) {
        ++live_;
    }
    ~tracked_producer() override { --live_; }
    std::string more() override { return inner_->more(); }
    std::optional<file_range> as_file_range() const override { return inner_->as_file_range(); }
    void advance(std::uint64_t n) override { inner_->advance(n); }

private:
    std::unique_ptr<producer> inner_;
    std::size_t& live_;
};

void server_channel::setup() {
    term_seen_ = parser_.terminator_version();
    set_terminator(parser_.next_terminator());
    start_idle_timeout(options_.idle_timeout, idle_watch::reads_and_writes); // a slow download is traffic too
}

void server_channel::handle_incoming(std::string_view bytes) {
    service_connection::handle_incoming(bytes);
    resume(); // the send at the end of the read may have finished a producer
}

void server_channel::handle_write() {
    service_connection::handle_write();
    resume();
}

bool server_channel::busy() noexcept {
    // While a producer is queued every later push goes behind it, out of ready_bytes()' sight: so nothing more is
    // answered until it is sent, and ready_bytes() then measures all that is queued.
    return live_producers_ > 0 || output().ready_bytes() >= options_.max_pending_output;
}

bool server_channel::readable() {
    // Backpressure: requests waiting, or too much queued, and the client is not read until it has read.
    if (!async_chat::readable()) return false;
    return input_done_ || (deferred_head_ == deferred_.size() && !busy());
}

void server_channel::resume(bool all) {
    while (deferred_head_ < deferred_.size() && !done_ && (all || !busy())) {
        request req = std::move(deferred_[deferred_head_++]);
        answer(req);
    }
    if (deferred_head_ == deferred_.size()) {
        deferred_.clear();
        deferred_head_ = 0;
        if (deferred_error_ != 0 && !done_) {
            answer_error(deferred_error_, deferred_error_reason_);
            deferred_error_ = 0;
        }
    }
    if (done_) {
        deferred_.clear();
        deferred_head_ = 0;
    }
    // No refresh_interest(): every caller runs inside an event handler, after which the loop asks readable() again.
}

void server_channel::handle_close() {
    // The peer finished sending (or the queue reached its close): requests still waiting are answered now, all of
    // them — they are at most one read's worth, and no more input will come — and then async_chat drains the
    // queue and closes.
    resume(true);
    async_chat::handle_close();
}

void server_channel::collect_incoming_data(std::string_view data) {
    start_header_clock();
    parser_.collect_incoming_data(data);
    if (parser_.failed()) after_parser();
}

void server_channel::found_terminator() {
    start_header_clock();
    parser_.found_terminator();
    after_parser();
}

void server_channel::start_header_clock() {
    using st = request_parser::state;
    if (in_headers_ || input_done_) return;
    if (parser_.current() != st::request_line && parser_.current() != st::headers) return;
    if (options_.header_timeout <= std::chrono::duration<double>::zero()) return;
    in_headers_ = true;
    // One clock read per request. The timer is not re-armed per request: an armed one that falls due early (for
    // an earlier request) looks at headers_began_ and re-arms itself for the rest, as idle_timer does.
    headers_began_ = asyncore::clock::now();
    if (!header_timer_.pending())
        header_timer_ = map().call_later(options_.header_timeout, [this] { header_clock_due(); });
}

void server_channel::header_clock_due() {
    if (!in_headers_ || input_done_ || done_) return; // re-armed by the next request's first byte
    const auto deadline =
        headers_began_ + std::chrono::duration_cast<asyncore::clock::duration>(options_.header_timeout);
    const auto now = asyncore::clock::now();
    if (now < deadline) {
        header_timer_ = map().call_later(deadline - now, [this] { header_clock_due(); });
        return;
    }
    refuse(408, "request header fields not received in time");
}

void server_channel::refuse(int status, std::string_view reason) {
    in_headers_ = false;
    if (deferred_head_ < deferred_.size()) {
        // Answered in order, after the requests parsed before it.
        deferred_error_ = status;
        deferred_error_reason_ = std::string(reason);
    } else {
        answer_error(status, reason);
    }
    stop_reading_requests();
}

void server_channel::handle_shutdown() {
    shutting_down_ = true;
    if (done_) return; // the last response is queued with the close behind it
    // A request in hand is answered (with Connection: close, see answer()); the deadlines still bound it.
    if (in_headers_ || parser_.current() == request_parser::state::body || deferred_head_ < deferred_.size()) return;
    done_ = true;
    stop_reading_requests();
    close_when_done();
}

void server_channel::stop_reading_requests() {
    // The last request is in; what the peer sends after it is read and dropped until the close.
    input_done_ = true;
    set_terminator(nullptr);
}

void server_channel::after_parser() {
    if (input_done_) return;
    resume(); // string_transport drains the queue without a write event: the next bytes are the next chance
    if (parser_.current() != request_parser::state::request_line && parser_.current() != request_parser::state::headers)
        in_headers_ = false; // complete, in the body, or failed: the header deadline is met (or moot)
    if (parser_.complete()) {
        request& req = parser_.current_request();
        const bool last = !req.keep_alive;
        if (busy() || deferred_head_ < deferred_.size())
            deferred_.push_back(std::move(req));
        else
            answer(req);
        if (last || done_) {
            stop_reading_requests();
            return;
        }
        parser_.next();
    } else if (parser_.failed()) {
        refuse(parser_.error_status(), parser_.error_reason());
        return;
    }
    if (parser_.terminator_version() != term_seen_) {
        term_seen_ = parser_.terminator_version();
        set_terminator(parser_.next_terminator());
    }
}

void server_channel::answer(request& req) {
    account().count_message();
    response resp;
    try {
        resp = routes_.route(req);
    } catch (const std::exception& e) {
        asyncore::log(asyncore::log_level::error,
                      "asynchat: http: handler for " + req.method + ' ' + req.path + " failed: " + e.what());
        resp = response::text(500, "500 Internal Server Error\n");
    }
    const bool keep_alive = req.keep_alive && !shutting_down_;
    send_response(resp, &req, keep_alive);
    if (!keep_alive) {
        done_ = true;
        close_when_done();
    }
}

void server_channel::answer_error(int status, std::string_view reason) {
    account().count_error();
    std::string body;
    body.reserve(64);
    body.append(std::to_string(status)).append(" ").append(reason_phrase(status)).append(": ").append(reason);
    body.append("\n");
    response resp = response::text(status, std::move(body));
    // After a framing error the stream cannot be trusted to be in step: always close (RFC 9112 §9.6).
    send_response(resp, nullptr, false);
    done_ = true;
    close_when_done();
}

void server_channel::send_response(response& resp, const request* req, bool keep_alive) {
    const bool head = req && req->method == "HEAD";
    const bool has_body = !head && resp.status != 304 && resp.status != 204 && resp.status >= 200;
    const std::uint64_t length = resp.body_producer ? resp.content_length : resp.body.size();
    if (options_.access_log)
        options_.access_log->write(
            combined_log_line(addr() ? addr()->host() : std::string("-"), req, resp.status, has_body ? length : 0));
    // The head in one string and the body as its own queue entry: inside a read handler async_chat only queues,
    // and sends everything the read produced in one writev(2) (or writev then sendfile for a file), so the body
    // is never copied to sit next to its head.
    push(serialize_head(resp, length, keep_alive));
    if (!has_body) return;
    if (resp.body_producer)
        push_with_producer(std::make_unique<tracked_producer>(std::move(resp.body_producer), live_producers_));
    else if (!resp.body.empty())
        push(std::move(resp.body));
}

void server_channel::close() {
    header_timer_.cancel();
    in_headers_ = false;
    service_connection::close();
}

void add_health_routes(router& routes, std::function<bool()> ready) {
    const auto uncached = [](response r) {
        r.headers.emplace_back("Cache-Control", "no-store");
        return r;
    };
    routes.add("GET", "/healthz", [uncached](const request&) { return uncached(response::text(200, "ok\n")); });
    routes.add("GET", "/readyz", [uncached, ready = std::move(ready)](const request&) {
        return uncached(ready() ? response::text(200, "ready\n") : response::text(503, "draining\n"));
    });
}

namespace {

// The client's bytes in a log field: '"', '\' and anything outside printable ASCII as \xHH (nginx's rule).
void append_escaped(std::string& out, std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    for (const char c : text) {
        const auto b = static_cast<unsigned char>(c);
        if (b < 0x20 || b > 0x7e || c == '"' || c == '\\') {
            out += "\\x";
            out += hex[b >> 4];
            out += hex[b & 0xF];
        } else {
            out += c;
        }
    }
}

} // namespace

std::string combined_log_line(std::string_view client, const request* req, int status, std::uint64_t bytes,
                              std::chrono::system_clock::time_point when) {
    // "[08/Dec/2026:01:02:03 +0000]", made once per second on each thread that logs.
    // The fields are the Date header's, rearranged: "Tue, 08 Dec 2026 01:02:03 GMT" is fixed width.
    thread_local std::time_t cached_second = -1;
    thread_local std::string cached_date;
    const std::time_t second = std::chrono::system_clock::to_time_t(when);
    if (second != cached_second) {
        const std::string d = format_http_date(second);
        cached_date = "[" + d.substr(5, 2) + "/" + d.substr(8, 3) + "/" + d.substr(12, 4) + ":" + d.substr(17, 8) +
                      " +0000]";
        cached_second = second;
    }
    std::string line;
    line.reserve(160);
    append_escaped(line, client.empty() ? std::string_view("-") : client);
    line.append(" - - ").append(cached_date).append(" \"");
    if (req) {
        append_escaped(line, req->method);
        line += ' ';
        append_escaped(line, req->target);
        line.append(req->version_minor == 0 ? " HTTP/1.0" : " HTTP/1.1");
    } else {
        line += '-';
    }
    line.append("\" ").append(std::to_string(status)).append(" ");
    line.append(bytes ? std::to_string(bytes) : std::string("-"));
    const auto header = [&](std::string_view name) {
        line.append(" \"");
        const auto value = req ? req->headers.get(name) : std::nullopt;
        if (value)
            append_escaped(line, *value);
        else
            line += '-';
        line += '"';
    };
    header("referer");
    header("user-agent");
    return line;
}

} // namespace asynchat::http
