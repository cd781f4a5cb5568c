// The HTTP request side: asynchat::http::request_reader and the server_channel (through string_transport, with a
// router) on the fuzzer's bytes, with small limits chosen by the input and a random segmentation. Checked:
//   * the parser's result does not depend on the segmentation (one read of everything vs. the fuzzer's cuts);
//   * every request respects the limits (request line, header bytes, body), every error is one of the statuses the
//     parser documents;
//   * the server's output is a sequence of well-formed responses and nothing else: "HTTP/1.0 " status line, a
//     Content-Length (or a 304/204, or a HEAD answer without its body), the header block ended by CRLF CRLF;
//   * the server answers exactly the requests the parser found, in order, up to the first one that does not keep
//     the connection alive, then the parse error if there is one (HTTP request smuggling: the server must never
//     see a different request sequence than the parser alone).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include <asynchat/http/server.hpp>
#include <asynchat/producers.hpp>
#include <asynchat/service_stats.hpp>
#include <asynchat/string_transport.hpp>

#include "chat_test_util.hpp"

using namespace asynchat::http;
using chat_test::escape;

namespace {

[[noreturn]] void fail(const char* what, std::string_view input, std::string_view detail = {}) {
    std::fprintf(stderr, "fuzz_http_request: %s\n  input: \"%s\"\n  %s\n", what, escape(input).c_str(),
                 escape(detail.substr(0, 4000)).c_str());
    std::abort();
}

const router& routes() {
    static const router r = [] {
        router r;
        r.add("POST", "/echo", [](const request& q) { return response::text(200, q.body, "application/octet-stream"); });
        r.add("GET", "/throws", [](const request&) -> response { throw std::runtime_error("handler bug"); });
        r.add("GET", "/204", [](const request&) { return response::text(204, ""); });
        r.add("GET", "/304", [](const request&) { return response::text(304, ""); });
        r.add("GET", "/odd", [](const request&) { return response::text(1234, "out of range status\n"); });
        r.add_prefix("GET", "/stream", [](const request& q) {
            response resp;
            resp.body_producer = std::make_unique<asynchat::simple_producer>(q.target + "\n", 3);
            resp.content_length = q.target.size() + 1;
            return resp;
        });
        r.add_prefix("GET", "/", [](const request& q) { return response::text(200, "path " + q.path + "\n"); });
        return r;
    }();
    return r;
}

// No whitespace and no control characters: what a request target may hold.
bool clean(std::string_view s) {
    for (unsigned char c : s)
        if (c <= ' ' || c == 0x7f) return false;
    return true;
}

bool same(const request& a, const request& b) {
    if (a.method != b.method || a.target != b.target || a.path != b.path || a.query != b.query ||
        a.version_minor != b.version_minor || a.body != b.body || a.keep_alive != b.keep_alive ||
        a.headers.size() != b.headers.size())
        return false;
    for (auto i = a.headers.begin(), j = b.headers.begin(); i != a.headers.end(); ++i, ++j)
        if (i->name != j->name || i->value != j->value) return false;
    return true;
}

std::vector<std::string_view> cut(std::string_view s, const std::vector<std::size_t>& sizes) {
    std::vector<std::string_view> out;
    for (std::size_t at = 0, k = 0; at < s.size(); ++k) {
        const std::size_t n = std::max<std::size_t>(1, sizes[std::min(k, sizes.size() - 1)]);
        out.push_back(s.substr(at, n));
        at += n;
    }
    return out;
}

struct parsed {
    int status;
    bool has_length;
    std::uint64_t length;
};

// The server's output, read strictly: each response's head and its body; false at anything else.
bool read_responses(std::string_view out, const std::vector<bool>& head_only, std::vector<parsed>& got,
                    std::string& why) {
    while (!out.empty()) {
        if (!out.starts_with("HTTP/1.0 ")) return why = "no HTTP/1.0 status line", false;
        const auto end = out.find("\r\n\r\n");
        if (end == std::string_view::npos) return why = "head not ended by CRLF CRLF", false;
        const std::string_view head = out.substr(0, end + 2);
        if (head.size() < 13 || head[12] != ' ') return why = "bad status line", false;
        int status = 0;
        for (std::size_t i = 9; i < 12; ++i) {
            if (head[i] < '0' || head[i] > '9') return why = "bad status code", false;
            status = status * 10 + (head[i] - '0');
        }
        parsed p{status, false, 0};
        const auto cl = head.find("\r\nContent-Length: ");
        if (cl != std::string_view::npos) {
            p.has_length = true;
            for (std::size_t i = cl + 18; i < head.size() && head[i] != '\r'; ++i) {
                if (head[i] < '0' || head[i] > '9') return why = "bad Content-Length", false;
                p.length = p.length * 10 + static_cast<std::uint64_t>(head[i] - '0');
            }
        }
        if (!p.has_length && status != 304 && status != 204) return why = "no Content-Length", false;
        if (head.find("\r\nConnection: ") == std::string_view::npos) return why = "no Connection", false;
        out.remove_prefix(end + 4);
        const bool head_request = got.size() < head_only.size() && head_only[got.size()];
        if (p.has_length && !head_request && status != 304 && status != 204) {
            if (out.size() < p.length) return why = "body shorter than Content-Length", false;
            out.remove_prefix(static_cast<std::size_t>(p.length));
        }
        got.push_back(p);
    }
    return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    server_options options;
    options.limits.max_request_line = in.ConsumeIntegralInRange<std::size_t>(8, 200);
    options.limits.max_header_bytes = in.ConsumeIntegralInRange<std::size_t>(0, 400);
    options.limits.max_body = in.ConsumeIntegralInRange<std::size_t>(0, 300);
    options.max_pending_output = in.ConsumeIntegralInRange<std::size_t>(1, 600);
    options.idle_timeout = std::chrono::duration<double>(0);
    std::vector<std::size_t> sizes;
    for (int n = in.ConsumeIntegralInRange(1, 8); n-- > 0;) sizes.push_back(in.ConsumeIntegralInRange<std::size_t>(1, 40));
    const std::string stream = in.ConsumeRemainingBytesAsString();
    const parser_limits limits = options.limits;

    // The parser alone, in one read and in the fuzzer's pieces.
    request_reader whole(limits), pieces(limits);
    whole.feed(stream);
    for (const auto piece : cut(stream, sizes)) pieces.feed(piece);
    if (whole.requests().size() != pieces.requests().size() || whole.failed() != pieces.failed() ||
        whole.error_status() != pieces.error_status())
        fail("the request sequence depends on the segmentation", stream);
    for (std::size_t i = 0; i < whole.requests().size(); ++i)
        if (!same(whole.requests()[i], pieces.requests()[i])) fail("a request depends on the segmentation", stream);
    for (const request& r : whole.requests()) {
        if (r.target.size() + r.method.size() + 10 > limits.max_request_line + 1) fail("request line over the bound", stream);
        if (r.body.size() > limits.max_body) fail("body over max_body", stream);
        std::size_t header_bytes = 0;
        for (const auto& f : r.headers) header_bytes += f.name.size() + f.value.size();
        if (header_bytes > limits.max_header_bytes) fail("headers over max_header_bytes", stream);
        // What a request the server acts on must be (RFC 9110/9112), whatever the bytes were: anything looser
        // is room for a front end and this server to disagree about the request (smuggling).
        if (!is_token(r.method)) fail("a method that is not a token", stream, r.method);
        if (r.target.empty() || !clean(r.target)) fail("a request target with whitespace or controls", stream, r.target);
        if (r.version_minor != 0 && r.version_minor != 1) fail("a version other than 1.0 or 1.1", stream);
        for (const auto& f : r.headers) {
            if (!is_token(f.name)) fail("a field name that is not a token", stream, f.name);
            if (f.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
                fail("CR, LF or NUL in a field value", stream, f.value);
            // A date the server would act on (If-Modified-Since) must be an IMF-fixdate: its numbers all digits.
            if (parse_http_date(f.value)) {
                for (std::size_t at : {5, 6, 12, 13, 14, 15, 17, 18, 20, 21, 23, 24})
                    if (f.value[at] < '0' || f.value[at] > '9') fail("a date accepted with a non-digit", stream, f.value);
            }
            if (!f.value.empty() && (f.value.front() == ' ' || f.value.front() == '\t' || f.value.back() == ' ' ||
                                     f.value.back() == '\t'))
                fail("a field value with its optional whitespace", stream, f.value);
        }
        if (r.headers.count("Transfer-Encoding") != 0) fail("a Transfer-Encoding request accepted", stream);
        const content_length_result cl = content_length_of(r.headers);
        if (!cl.valid || (cl.present ? cl.value != r.body.size() : !r.body.empty()))
            fail("a body that is not its Content-Length", stream, r.body);
        if (r.version_minor == 1 && r.headers.count("Host") != 1) fail("an HTTP/1.1 request without one Host", stream);
    }
    if (whole.failed()) {
        switch (whole.error_status()) {
        case 400: case 411: case 413: case 414: case 431: case 501: case 505: break;
        default: fail("undocumented error status", stream, std::to_string(whole.error_status()));
        }
    }

    // The server: what it should answer, from the parser's view of the stream.
    std::vector<bool> head_only;
    std::vector<int> expected; // statuses, 0 for "a routed request" (any status)
    bool closes = false;
    for (const request& r : whole.requests()) {
        head_only.push_back(r.method == "HEAD");
        expected.push_back(0);
        if (!r.keep_alive) {
            closes = true;
            break;
        }
    }
    if (!closes && whole.failed()) expected.push_back(whole.error_status());

    asynchat::service_stats stats;
    std::string out;
    {
        server_channel channel(routes(), options, &stats);
        asynchat::string_transport transport(channel);
        for (const auto piece : cut(stream, sizes)) {
            transport.receive(piece);
            out += transport.written();
        }
        if (!transport.closed_when_done()) {
            channel.handle_close(); // the peer's EOF: whatever is waiting is answered
            out += transport.written();
        }
    }
    std::vector<parsed> got;
    std::string why;
    if (!read_responses(out, head_only, got, why)) fail(why.c_str(), stream, out);
    if (got.size() != expected.size())
        fail("the server answered another number of requests than the parser found", stream,
             std::to_string(got.size()) + " answers, " + std::to_string(expected.size()) + " expected: " + out);
    for (std::size_t i = 0; i < got.size(); ++i)
        if (expected[i] != 0 && got[i].status != expected[i]) fail("the error answered is not the parser's", stream, out);
    return 0;
}
