// The HTTP client's response parser (asynchat::http::response_reader, what asynchat::http::client runs) on the
// fuzzer's bytes as a server's reply, with small limits and a HEAD/GET request chosen by the input. Checked: the
// result does not depend on the segmentation (one read vs. the fuzzer's cuts, and with the body handed to on_body
// as it arrives); a complete response framed by Content-Length has exactly that many body bytes; the status line
// and header bounds hold; an incomplete one says why.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include <asynchat/http/parser.hpp>

#include "chat_test_util.hpp"

using namespace asynchat::http;
using chat_test::escape;

namespace {

[[noreturn]] void fail(const char* what, std::string_view input) {
    std::fprintf(stderr, "fuzz_http_response: %s\n  input: \"%s\"\n", what, escape(input).c_str());
    std::abort();
}

bool same(const response_result& a, const response_result& b) {
    if (a.status != b.status || a.version_minor != b.version_minor || a.reason != b.reason || a.body != b.body ||
        a.complete != b.complete || a.error != b.error || a.headers.size() != b.headers.size())
        return false;
    for (auto i = a.headers.begin(), j = b.headers.begin(); i != a.headers.end(); ++i, ++j)
        if (i->name != j->name || i->value != j->value) return false;
    return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    parser_limits limits;
    limits.max_request_line = in.ConsumeIntegralInRange<std::size_t>(12, 200);
    limits.max_header_bytes = in.ConsumeIntegralInRange<std::size_t>(0, 400);
    const bool head = in.ConsumeIntegralInRange(0, 3) == 0;
    std::vector<std::size_t> sizes;
    for (int n = in.ConsumeIntegralInRange(1, 8); n-- > 0;) sizes.push_back(in.ConsumeIntegralInRange<std::size_t>(1, 40));
    const bool ends = in.ConsumeBool(); // the connection closes after the bytes (finish()), or stays open
    const std::string stream = in.ConsumeRemainingBytesAsString();

    response_reader whole(head, limits), pieces(head, limits);
    std::string streamed;
    pieces.parser().on_body = [&](std::string_view d) { streamed.append(d); };
    whole.feed(stream);
    for (std::size_t at = 0, k = 0; at < stream.size(); ++k) {
        const std::size_t n = sizes[std::min(k, sizes.size() - 1)];
        pieces.feed(std::string_view(stream).substr(at, n));
        at += n;
    }
    if (ends) {
        whole.finish();
        pieces.finish();
    }
    response_result& w = whole.result();
    response_result p = pieces.result();
    if (!p.body.empty()) fail("on_body set, yet the body was kept", stream);
    p.body = streamed;
    if (!same(w, p)) fail("the response depends on the segmentation", stream);
    if (ends && !whole.parser().done()) fail("not done after finish()", stream);
    if (whole.parser().current() == response_parser::state::failed && w.error.empty()) fail("failed without a reason", stream);
    if (w.complete) {
        if (w.status < 200 || w.status > 999) fail("complete with an interim or impossible status", stream);
        const auto cl = w.headers.get("Content-Length");
        const bool bodiless = head || w.status == 204 || w.status == 304;
        if (bodiless && !w.body.empty()) fail("a body where there is none", stream);
        if (cl && !bodiless) {
            const content_length_result n = content_length_of(w.headers);
            if (!n.valid || n.value != w.body.size()) fail("body length differs from Content-Length", stream);
        }
        if (w.reason.size() + 13 > limits.max_request_line + 1) fail("status line over the bound", stream);
        for (const auto& f : w.headers) {
            if (!is_token(f.name)) fail("a field name that is not a token", stream);
            if (f.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
                fail("CR, LF or NUL in a field value", stream);
        }
        if (w.headers.count("Transfer-Encoding") != 0 && !bodiless) fail("a Transfer-Encoding body accepted", stream);
    }
    return 0;
}
