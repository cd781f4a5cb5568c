#include "asynchat/http/parser.hpp"

#include <algorithm>

namespace asynchat::http {

namespace {

const terminator line_terminator("\n");

// "HTTP/" DIGIT "." DIGIT; major and minor out. RFC 9112 §2.3: the version is case-sensitive.
bool parse_version(std::string_view v, int& major, int& minor) noexcept {
    if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[6] != '.') return false;
    if (v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9') return false;
    major = v[5] - '0';
    minor = v[7] - '0';
    return true;
}

// The body a server may reserve up front: Content-Length is the peer's word, not yet backed by bytes, so a large
// one must not make every connection allocate it before sending anything.
constexpr std::size_t max_reserve = 64 * 1024;

using overflow = detail::head_reader::overflow;

} // namespace

// ---------------------------------------------------------------- request_parser

request_parser::request_parser(parser_limits limits) : limits_(limits), term_(line_terminator), head_(limits) {}

void request_parser::set_state(state s) {
    state_ = s;
    switch (s) {
    case state::request_line:
    case state::headers:
    case state::complete: // the next request starts with a line: a keep-alive GET leaves the framer as it is
        if (!term_.is_delimiter()) {
            term_ = line_terminator;
            ++term_version_;
        }
        break;
    case state::body: break; // set by headers_done, with the count
    case state::failed:
        term_ = terminator::none();
        ++term_version_;
        break;
    }
}

void request_parser::fail(int status, std::string reason) {
    error_status_ = status;
    error_reason_ = std::move(reason);
    head_.release();
    std::string().swap(req_.body);
    set_state(state::failed);
}

// A header bound crossed: 431 (RFC 6585 §5).
void request_parser::fail_head(detail::head_reader::overflow o) {
    fail(431, o == overflow::header_lines ? "too many header fields" : "header fields too large");
}

void request_parser::collect_incoming_data(std::string_view data) {
    switch (state_) {
    case state::request_line:
        if (head_.start_line_piece(data) != overflow::none) fail(414, "request line too long");
        return;
    case state::headers:
        if (const auto o = head_.header_piece(data); o != overflow::none) fail_head(o);
        return;
    case state::body: req_.body.append(data); return;
    case state::complete:
    case state::failed: return;
    }
}

void request_parser::found_terminator() {
    switch (state_) {
    case state::request_line: {
        const std::string_view line = head_.line();
        // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line (a CRLF some
        // clients send after a POST body).
        if (!line.empty()) {
            if (head_.start_line_end() != overflow::none) {
                fail(414, "request line too long");
                return;
            }
            request_line_done(line);
        }
        head_.clear_line();
        return;
    }
    case state::headers: {
        const auto end = head_.end_header_line(req_.headers, framing_);
        if (end.too_large != overflow::none)
            fail_head(end.too_large);
        else if (end.malformed != field_error::none)
            fail(400, std::string(describe(end.malformed)));
        else if (end.end_of_head)
            headers_done();
        return;
    }
    case state::body: set_state(state::complete); return;
    case state::complete:
    case state::failed: return;
    }
}

void request_parser::request_line_done(std::string_view line) {
    // request-line = method SP request-target SP HTTP-version, single spaces (RFC 9112 §3). Being strict here is
    // what keeps the server from reading a line differently than a proxy in front of it.
    const auto sp1 = line.find(' ');
    const auto sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp1 == sp2) {
        fail(400, "malformed request line");
        return;
    }
    const std::string_view method = line.substr(0, sp1);
    const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = line.substr(sp2 + 1);
    if (!is_token(method) || target.empty()) {
        fail(400, "malformed request line");
        return;
    }
    for (const char c : target) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f) {
            fail(400, "malformed request target");
            return;
        }
    }
    int major = 0, minor = 0;
    if (!parse_version(version, major, minor)) {
        fail(400, "bad HTTP version");
        return;
    }
    if (major != 1 || minor > 1) {
        fail(505, "HTTP version not supported");
        return;
    }
    req_.method.assign(method);
    req_.target.assign(target);
    req_.version_minor = minor;

    // The path: origin-form "/p?q", absolute-form "http://host/p?q" (RFC 9112 §3.2.2), or "*" (OPTIONS).
    std::string_view path = target;
    if (path.front() != '/' && path != "*") {
        const auto scheme_end = path.find("://");
        if (scheme_end == std::string_view::npos || !(iequals(path.substr(0, scheme_end), "http") ||
                                                      iequals(path.substr(0, scheme_end), "https"))) {
            fail(400, "malformed request target");
            return;
        }
        path.remove_prefix(scheme_end + 3);
        const auto slash = path.find_first_of("/?");
        path = slash == std::string_view::npos ? std::string_view("/") : path.substr(slash);
        if (path.front() == '?') {
            req_.query.assign(path.substr(1));
            req_.path = "/";
            set_state(state::headers);
            return;
        }
    }
    const auto q = path.find('?');
    if (q != std::string_view::npos) {
        req_.query.assign(path.substr(q + 1));
        path = path.substr(0, q);
    } else {
        req_.query.clear();
    }
    auto decoded = percent_decode(path);
    if (!decoded) {
        fail(400, "malformed percent escape in the path");
        return;
    }
    req_.path = std::move(*decoded);
    set_state(state::headers);
}

void request_parser::headers_done() {
    const content_length_result& cl = framing_.content_length;
    if (framing_.transfer_encoding) {
        // RFC 9112 §6.3 (3): both framings at once is the classic request smuggling set-up (CL.TE / TE.CL); the
        // server must not guess which one a proxy in front of it used. Refused, and the connection closed.
        if (cl.present) {
            fail(400, "both Transfer-Encoding and Content-Length");
            return;
        }
        fail(501, "Transfer-Encoding is not supported");
        return;
    }
    if (!cl.valid) {
        // RFC 9112 §6.3 (5): an invalid Content-Length ("+5", "5,6", two different values) is unrecoverable.
        fail(400, "bad Content-Length");
        return;
    }
    // RFC 9112 §3.2: a 1.1 request without Host, or with more than one, gets 400.
    if (req_.version_minor == 1 && framing_.hosts != 1) {
        fail(400, framing_.hosts == 0 ? "HTTP/1.1 request without Host" : "more than one Host");
        return;
    }
    if (cl.present && cl.value > limits_.max_body) {
        fail(413, "request body too large");
        return;
    }
    if (!cl.present && (req_.method == "POST" || req_.method == "PUT")) {
        fail(411, "Content-Length required");
        return;
    }
    req_.keep_alive = req_.version_minor == 1 ? !framing_.connection_close
                                              : framing_.connection_keep_alive && !framing_.connection_close;
    if (cl.value == 0) {
        set_state(state::complete);
        return;
    }
    req_.body.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(cl.value, max_reserve)));
    state_ = state::body;
    term_ = terminator::count(cl.value);
    ++term_version_;
}

void request_parser::next() {
    req_.method.clear();
    req_.target.clear();
    req_.path.clear();
    req_.query.clear();
    req_.headers.clear();
    if (req_.body.capacity() > max_reserve) std::string().swap(req_.body);
    req_.body.clear();
    req_.keep_alive = false;
    head_.next_message();
    framing_ = {};
    set_state(state::request_line);
}

// ---------------------------------------------------------------- request_reader

void request_reader::feed(std::string_view bytes) {
    sink s(*this);
    framer_.feed(bytes, s);
}

void request_reader::after() {
    if (parser_.complete()) {
        requests_.push_back(std::move(parser_.current_request()));
        parser_.next();
    }
    sync();
}

void request_reader::sync() {
    if (parser_.terminator_version() == seen_) return;
    seen_ = parser_.terminator_version();
    framer_.set_terminator(parser_.next_terminator());
}

// ---------------------------------------------------------------- response_parser

response_parser::response_parser(bool head_request, parser_limits limits)
    : head_request_(head_request), term_(line_terminator), head_(limits) {}

void response_parser::set_state(state s) {
    state_ = s;
    switch (s) {
    case state::status_line:
    case state::headers:
        if (!term_.is_delimiter()) {
            term_ = line_terminator;
            ++term_version_;
        }
        break;
    case state::body: break; // with its count, by end_of_headers
    case state::body_to_close:
    case state::complete:
    case state::failed:
        term_ = terminator::none();
        ++term_version_;
        break;
    }
    result_.complete = s == state::complete;
}

void response_parser::fail(std::string why) {
    result_.error = std::move(why);
    head_.release();
    set_state(state::failed);
}

void response_parser::fail_head(detail::head_reader::overflow o) {
    fail(o == overflow::header_lines ? "too many response header fields" : "response header fields too large");
}

void response_parser::body_bytes(std::string_view data) {
    if (on_body)
        on_body(data);
    else
        result_.body.append(data);
}

void response_parser::collect_incoming_data(std::string_view data) {
    switch (state_) {
    case state::status_line:
        if (head_.start_line_piece(data) != overflow::none) fail("status line too long");
        return;
    case state::headers:
        if (const auto o = head_.header_piece(data); o != overflow::none) fail_head(o);
        return;
    case state::body:
        remaining_ -= std::min<std::uint64_t>(remaining_, data.size());
        body_bytes(data);
        return;
    case state::body_to_close: body_bytes(data); return;
    case state::complete:
    case state::failed: return; // bytes after the response: not ours to interpret
    }
}

void response_parser::found_terminator() {
    switch (state_) {
    case state::status_line: {
        if (head_.start_line_end() != overflow::none) {
            fail("status line too long");
            return;
        }
        status_line_done(head_.line());
        head_.clear_line();
        return;
    }
    case state::headers: {
        const auto end = head_.end_header_line(result_.headers, framing_);
        if (end.too_large != overflow::none)
            fail_head(end.too_large);
        else if (end.malformed != field_error::none)
            fail("malformed response: " + std::string(describe(end.malformed)));
        else if (end.end_of_head)
            end_of_headers();
        return;
    }
    case state::body:
        remaining_ = 0;
        set_state(state::complete);
        return;
    case state::body_to_close:
    case state::complete:
    case state::failed: return;
    }
}

void response_parser::status_line_done(std::string_view line) {
    // status-line = HTTP-version SP status-code SP [ reason-phrase ]; a missing last SP is tolerated.
    int major = 0, minor = 0;
    if (line.size() < 12 || !parse_version(line.substr(0, 8), major, minor) || major != 1 || line[8] != ' ') {
        fail("malformed status line");
        return;
    }
    const std::string_view code = line.substr(9, 3);
    // RFC 9110 §15: codes run from 100 to 599, and a client treats 600..999 as 5xx (left to the caller, which
    // sees the number); 000..099 have no class to be treated as, so they are malformed.
    if (!std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; }) || code[0] == '0' ||
        (line.size() > 12 && line[12] != ' ')) {
        fail("malformed status line");
        return;
    }
    result_.version_minor = minor;
    result_.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
    result_.reason.assign(line.size() > 13 ? line.substr(13) : std::string_view());
    set_state(state::headers);
}

void response_parser::end_of_headers() {
    const int status = result_.status;
    if (status >= 100 && status < 200) {
        // An interim response (100 Continue): the real one follows.
        result_.headers.clear();
        head_.next_message();
        framing_ = {};
        set_state(state::status_line);
        return;
    }
    if (head_request_ || status == 204 || status == 304) {
        set_state(state::complete);
        return;
    }
    if (framing_.transfer_encoding) {
        fail("Transfer-Encoding responses are not supported");
        return;
    }
    const content_length_result& cl = framing_.content_length;
    if (!cl.valid) {
        fail("malformed response: bad Content-Length");
        return;
    }
    if (!cl.present) {
        set_state(state::body_to_close);
        return;
    }
    if (cl.value == 0) {
        set_state(state::complete);
        return;
    }
    remaining_ = cl.value;
    if (!on_body) result_.body.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(cl.value, max_reserve)));
    state_ = state::body;
    result_.complete = false;
    term_ = terminator::count(cl.value);
    ++term_version_;
}

void response_parser::finish() {
    switch (state_) {
    case state::body_to_close: set_state(state::complete); return;
    case state::body:
        fail("connection closed with " + std::to_string(remaining_) + " bytes of the body still to come");
        return;
    case state::status_line:
    case state::headers: fail("connection closed before the end of the response headers"); return;
    case state::complete:
    case state::failed: return;
    }
}

} // namespace asynchat::http
