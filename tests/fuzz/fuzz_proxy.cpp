// asynchat::proxy::header_parser on any bytes: the input's first byte chooses the size of the pieces the stream
// is fed in (1..32), its second the v2 bound (max_header 232, 512 or 4096), the rest is the connection's stream.
// Checked: fed whole and fed in pieces, the parser ends in the same state with the same header (or error) and,
// unless invalid, takes the same bytes; it never takes more than it was given, nor more than the header's own (a v1 header's
// 107, a v2 one's max_header); once done, the bytes it took parse alone to the same header (it looked at
// nothing past the header); a header names a source exactly when it is not LOCAL; an invalid one says why.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <asynchat/proxy_protocol.hpp>

namespace {

using asynchat::proxy::header_parser;

void fail(int line) {
    std::fprintf(stderr, "fuzz_proxy.cpp:%d: check failed\n", line);
    std::abort();
}
#define check(ok) ((ok) ? void() : fail(__LINE__))

std::string text(const asynchat::proxy::header& h) {
    std::string out = std::to_string(h.version) + (h.local ? " local" : " proxied");
    if (h.source) out += " " + h.source->to_string();
    if (h.destination) out += " " + h.destination->to_string();
    return out;
}

// Feeds `stream` in pieces of `piece` bytes; returns the bytes taken.
std::size_t feed(header_parser& p, std::string_view stream, std::size_t piece) {
    std::size_t taken = 0;
    for (std::size_t at = 0; at < stream.size(); at += piece) {
        const std::string_view chunk = stream.substr(at, piece);
        const std::size_t used = p.feed(chunk);
        check(used <= chunk.size());
        taken += used;
        if (p.state() != header_parser::status::need_more) {
            check(p.feed("more") == 0); // nothing is taken once it is over
            break;
        }
        check(used == chunk.size()); // an incomplete header takes everything it is given
    }
    return taken;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::size_t piece = data[0] % 32 + 1;
    static constexpr std::size_t bounds[] = {232, 512, 4096};
    const std::size_t max_header = bounds[data[1] % 3];
    const std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);

    header_parser whole(max_header);
    const std::size_t taken_whole = feed(whole, stream, stream.size() + 1);
    header_parser pieces(max_header);
    const std::size_t taken_pieces = feed(pieces, stream, piece);

    check(whole.state() == pieces.state());
    // (An invalid header's count does not matter: the connection is closed. A piece that makes it invalid
    // returns 0, so the counts differ there by the pieces before it.)
    if (whole.state() != header_parser::status::invalid) check(taken_whole == taken_pieces);
    check(taken_whole <= stream.size());
    switch (whole.state()) {
    case header_parser::status::need_more:
        check(taken_whole == stream.size());
        check(stream.size() < max_header); // a prefix of a header is shorter than the longest header
        break;
    case header_parser::status::invalid:
        check(!whole.error().empty());
        check(whole.error() == pieces.error());
        break;
    case header_parser::status::done: {
        const auto& h = whole.result();
        check(text(h) == text(pieces.result()));
        check(h.version == 1 || h.version == 2);
        check(h.version == 1 ? taken_whole <= asynchat::proxy::max_v1_header : taken_whole <= max_header);
        check(h.local != h.source.has_value());
        header_parser alone(max_header);
        check(alone.feed(stream.substr(0, taken_whole)) == taken_whole);
        check(alone.state() == header_parser::status::done);
        check(text(alone.result()) == text(h));
        break;
    }
    }
    return 0;
}
