#pragma once
// asynchat::http parsers — sans-I/O, in the shape of Python's h11: bytes go in, events (a complete request, a
// response's parts, an error with its status) come out, and no socket is touched.
//
// They do not buffer the stream themselves: each is an asynchat::framer_sink, driven by a framer whose terminator
// they choose. Lines (the request or status line, each header line) are framed by "\n" — one trailing "\r" is
// removed, so CRLF and bare-LF clients both work — and a body by a count terminator of Content-Length bytes. After
// every found_terminator the driver sets next_terminator() on its framer: async_chat's found_terminator does so for
// the server channel and the client, request_reader / response_reader below do so for tests and fuzzers.
//
// Every piece is bounded while it arrives, not once it is complete: a request line passing max_request_line is
// refused (414) before its end is seen, header lines adding up past max_header_bytes get 431, and a Content-Length
// above max_body gets 413 before one byte of the body is read. Memory per parser is at most the limits.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <asynchat/framer.hpp>
#include <asynchat/http/message.hpp>

namespace asynchat::http {

struct parser_limits {
    std::size_t max_request_line = 8192;    // bytes of the request (or status) line, without its ending
    std::size_t max_header_bytes = 65536;   // bytes of all header lines of one message together
    // Header field lines of one message (nginx, and Python's http.client, bound the count too: a thousand tiny
    // fields fit in the byte bound and cost a parse and a vector slot each).
    std::size_t max_header_lines = 100;
    std::uint64_t max_body = 16u << 20;     // largest Content-Length accepted (server side)
};

namespace detail {
// The head of one message — its start line (request or status line) and its header lines — collected from the
// framer's pieces and bounded by parser_limits while it arrives. The request and the response parser share it, so
// each bound is defined and checked in one place; each parser turns an overflow into its own error (414/431 on the
// server, a refused response on the client).
class head_reader {
public:
    enum class overflow { none, start_line, header_bytes, header_lines };

    explicit head_reader(const parser_limits& limits) noexcept : limits_(limits) {}

    // A piece of the start line; its end (the line then holds all of it, without the CR of a CRLF).
    overflow start_line_piece(std::string_view piece) {
        // +1: the CR of a CRLF ending is still in the line here.
        return append(piece, limits_.max_request_line + 1) ? overflow::none : overflow::start_line;
    }
    overflow start_line_end() const noexcept {
        return line().size() > limits_.max_request_line ? overflow::start_line : overflow::none;
    }
    // A piece of a header line.
    overflow header_piece(std::string_view piece) {
        header_bytes_ += piece.size();
        if (header_bytes_ > limits_.max_header_bytes || !append(piece, limits_.max_header_bytes + 1))
            return overflow::header_bytes;
        return overflow::none;
    }
    // The end of a header line, the step both parsers take: bounded, then either the empty line that ends the
    // head or one field parsed into `into` and noted by `framing`. The line is cleared in every case.
    struct header_line_end {
        bool end_of_head = false;
        overflow too_large = overflow::none;      // a bound was passed
        field_error malformed = field_error::none; // the line is not a field
    };
    header_line_end end_header_line(header_fields& into, framing_fields& framing) {
        header_line_end r;
        r.too_large = count_header_line_end();
        if (r.too_large != overflow::none) return r;
        const std::string_view l = line();
        if (l.empty())
            r.end_of_head = true;
        else if ((r.malformed = parse_field_line(l, into)) == field_error::none)
            framing.note(into.back());
        clear_line();
        return r;
    }

    // The line collected so far without one trailing CR; valid until the next clear_line()/piece.
    std::string_view line() const noexcept {
        std::string_view l = line_;
        if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
        return l;
    }
    void clear_line() noexcept { line_.clear(); } // keeps the capacity: one allocation serves line after line
    // The next message's head starts (keep-alive, or a final response after a 1xx).
    void next_message() noexcept {
        header_bytes_ = 0;
        header_lines_ = 0;
    }
    // Gives the line's memory back (a failed parser keeps nothing).
    void release() noexcept { std::string().swap(line_); }

private:
    // The line ending counts as a byte, so that empty-name lines cannot go on for ever; the empty line that ends
    // the head is not a field.
    overflow count_header_line_end() noexcept {
        ++header_bytes_;
        if (header_bytes_ > limits_.max_header_bytes) return overflow::header_bytes;
        if (!line().empty() && ++header_lines_ > limits_.max_header_lines) return overflow::header_lines;
        return overflow::none;
    }
    // False (and nothing kept) when the line would pass limit bytes.
    bool append(std::string_view piece, std::size_t limit) {
        if (piece.size() > limit || line_.size() > limit - piece.size()) return false;
        line_.append(piece);
        return true;
    }

    parser_limits limits_;
    std::string line_;
    std::size_t header_bytes_ = 0;
    std::size_t header_lines_ = 0;
};
} // namespace detail

// The server side: requests, one after another on the same stream (keep-alive and pipelining).
//
//   state:  request_line -> headers -> [body] -> complete --next()--> request_line ...
//                     \________\__________\____> failed (stays: the stream is out of step, close it)
class request_parser final : public framer_sink {
public:
    enum class state { request_line, headers, body, complete, failed };

    explicit request_parser(parser_limits limits = {});

    void collect_incoming_data(std::string_view data) override;
    void found_terminator() override;

    // What the framer must frame the following bytes with: "\n" for lines, the body length, or none once the
    // parser has completed a request (until next()) or failed (the rest is ignored). terminator_version() changes
    // whenever it does: a driver sets it on its framer then, and only then (setting a count again would restart it).
    const terminator& next_terminator() const noexcept { return term_; }
    std::uint64_t terminator_version() const noexcept { return term_version_; }

    state current() const noexcept { return state_; }
    bool complete() const noexcept { return state_ == state::complete; }
    bool failed() const noexcept { return state_ == state::failed; }
    // The request, once complete(). Yours to read or move from until next().
    request& current_request() noexcept { return req_; }
    // Starts on the next request (after complete()).
    void next();

    // Once failed(): the status to answer with (400, 411, 413, 414, 431, 501, 505) and why, in a few words.
    int error_status() const noexcept { return error_status_; }
    const std::string& error_reason() const noexcept { return error_reason_; }

private:
    void fail(int status, std::string reason);
    void fail_head(detail::head_reader::overflow o);
    void request_line_done(std::string_view line);
    void headers_done();
    void set_state(state s);

    parser_limits limits_;
    state state_ = state::request_line;
    terminator term_;
    std::uint64_t term_version_ = 0;
    detail::head_reader head_;
    framing_fields framing_;
    request req_;
    int error_status_ = 0;
    std::string error_reason_;
};

// A request_parser with its own framer: feed bytes, get requests. What the unit tests and fuzzers drive.
class request_reader {
public:
    explicit request_reader(parser_limits limits = {}) : parser_(limits) { sync(); }
    // Frames bytes; complete requests are appended to requests(), an error stops everything after it.
    void feed(std::string_view bytes);
    std::vector<request>& requests() noexcept { return requests_; }
    const request_parser& parser() const noexcept { return parser_; }
    bool failed() const noexcept { return parser_.failed(); }
    int error_status() const noexcept { return parser_.error_status(); }

private:
    struct sink final : framer_sink {
        request_reader& r;
        explicit sink(request_reader& reader) : r(reader) {}
        void collect_incoming_data(std::string_view d) override { r.parser_.collect_incoming_data(d); r.after(); }
        void found_terminator() override { r.parser_.found_terminator(); r.after(); }
    };
    void after();
    void sync();

    request_parser parser_;
    framer framer_;
    std::vector<request> requests_;
    std::uint64_t seen_ = ~std::uint64_t{0}; // the terminator_version() last set on framer_
};

// What a client gets back. complete is false when the connection ended before the body did (Content-Length not
// reached) or the response was malformed (error says how).
struct response_result {
    int status = 0;
    int version_minor = 0;
    std::string reason;
    header_fields headers;
    std::string body;
    bool complete = false;
    std::string error;
};

// The client side: one response. The body is framed by Content-Length when there is one, else it runs to the end
// of the connection (finish()). A response to HEAD, and 1xx/204/304 responses, have no body whatever they say.
class response_parser final : public framer_sink {
public:
    enum class state { status_line, headers, body, body_to_close, complete, failed };

    explicit response_parser(bool head_request = false, parser_limits limits = {});

    void collect_incoming_data(std::string_view data) override;
    void found_terminator() override;
    const terminator& next_terminator() const noexcept { return term_; }
    std::uint64_t terminator_version() const noexcept { return term_version_; }

    // The connection ended: a body read to the close is complete, anything else in progress is cut short.
    void finish();

    state current() const noexcept { return state_; }
    bool done() const noexcept { return state_ == state::complete || state_ == state::failed; }
    bool headers_done() const noexcept { return state_ != state::status_line && state_ != state::headers; }
    response_result& result() noexcept { return result_; }
    const response_result& result() const noexcept { return result_; }
    // Body bytes expected and not yet received (Content-Length framing).
    std::uint64_t body_remaining() const noexcept { return remaining_; }

    // When set, body bytes go here as they arrive instead of into result().body (a download to stdout).
    std::function<void(std::string_view)> on_body;

private:
    void fail(std::string why);
    void fail_head(detail::head_reader::overflow o);
    void status_line_done(std::string_view line);
    void end_of_headers();
    void body_bytes(std::string_view data);
    void set_state(state s);

    bool head_request_;
    state state_ = state::status_line;
    terminator term_;
    std::uint64_t term_version_ = 0;
    detail::head_reader head_;
    framing_fields framing_;
    std::uint64_t remaining_ = 0;
    response_result result_;
};

// A response_parser with its own framer, for tests: feed bytes, then finish() at the end of the stream.
class response_reader {
public:
    explicit response_reader(bool head_request = false, parser_limits limits = {})
        : parser_(head_request, limits), sink_(*this) {
        seen_ = parser_.terminator_version();
        framer_.set_terminator(parser_.next_terminator());
    }
    void feed(std::string_view bytes) { framer_.feed(bytes, sink_); }
    void finish() { parser_.finish(); }
    response_parser& parser() noexcept { return parser_; }
    response_result& result() noexcept { return parser_.result(); }

private:
    struct sink final : framer_sink {
        response_reader& r;
        explicit sink(response_reader& reader) : r(reader) {}
        void collect_incoming_data(std::string_view d) override { r.parser_.collect_incoming_data(d); r.sync(); }
        void found_terminator() override { r.parser_.found_terminator(); r.sync(); }
    };
    void sync() {
        if (parser_.terminator_version() == seen_) return;
        seen_ = parser_.terminator_version();
        framer_.set_terminator(parser_.next_terminator());
    }

    response_parser parser_;
    sink sink_;
    framer framer_;
    std::uint64_t seen_ = 0;
};

} // namespace asynchat::http
