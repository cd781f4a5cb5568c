// Framing cost: N messages of a fixed size on the wire, fed to an async_chat-style sink through the framer in reads
// of SEGMENT bytes. Prints one CSV line per segment: impl,segment,messages,message_bytes,seconds,ns_per_msg,
// mb_per_s. The sink appends each piece to a message buffer and counts found_terminator, as a line protocol does.
// --framing picks how messages are framed: "delimiter" ("\r\n", the built-in kind; impl "c++"), or a framing rule:
// "any" (any_delimiter {"\r\n", "\n"}), "length4" (length_prefixed, 4 bytes), "netstring" (impl "c++/NAME").
//
//   framing [--messages N] [--size BYTES] [--segment BYTES]... [--framing NAME]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <asynchat/framer.hpp>
#include <asynchat/framing_rules.hpp>

namespace {

struct line_sink final : asynchat::framer_sink {
    std::string message;
    std::size_t found = 0;
    std::size_t bytes = 0;
    void collect_incoming_data(std::string_view data) override { message.append(data); }
    void found_terminator() override {
        ++found;
        bytes += message.size();
        message.clear();
    }
};

// Messages of `size` bytes on the wire (framing included), with payloads that vary so nothing can be skipped.
std::string make_stream(std::size_t messages, std::size_t size, const std::string& framing, std::size_t& payload) {
    const std::size_t overhead = framing == "length4" ? 4 : framing == "netstring" ? std::to_string(size).size() + 2 : 2;
    payload = size - overhead;
    std::string stream;
    stream.reserve(messages * size);
    std::string body(payload, 'x');
    for (std::size_t i = 0; i < messages; ++i) {
        body[i % body.size()] = static_cast<char>('a' + i % 26);
        if (framing == "length4") stream += asynchat::length_prefixed::header(body.size(), {});
        if (framing == "netstring") stream += asynchat::netstring::encode(body);
        else stream += body;
        if (framing == "delimiter" || framing == "any") stream += "\r\n";
    }
    return stream;
}

asynchat::terminator make_terminator(const std::string& framing) {
    if (framing == "any") return asynchat::any_delimiter::make({"\r\n", "\n"});
    if (framing == "length4") return asynchat::length_prefixed::make(4);
    if (framing == "netstring") return asynchat::netstring::make();
    return asynchat::terminator("\r\n");
}

} // namespace

int main(int argc, char** argv) {
    std::size_t messages = 1'000'000, size = 64;
    std::vector<std::size_t> segments;
    std::string framing = "delimiter";
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string opt = argv[i];
        const std::size_t value = std::strtoull(argv[i + 1], nullptr, 10);
        if (opt == "--framing") framing = argv[i + 1];
        else if (opt == "--messages") messages = value;
        else if (opt == "--size") size = value;
        else if (opt == "--segment") segments.push_back(value);
        else {
            std::fprintf(stderr, "framing: unknown option %s\n", opt.c_str());
            return 2;
        }
    }
    if (segments.empty()) segments = {1, 64, 65536};
    if (framing != "delimiter" && framing != "any" && framing != "length4" && framing != "netstring") {
        std::fprintf(stderr, "framing: --framing is delimiter, any, length4 or netstring\n");
        return 2;
    }
    if (size < 8) {
        std::fprintf(stderr, "framing: --size must be at least 8\n");
        return 2;
    }
    std::size_t payload = 0;
    const std::string stream = make_stream(messages, size, framing, payload);
    const std::string impl = framing == "delimiter" ? "c++" : "c++/" + framing;
    for (std::size_t segment : segments) {
        asynchat::framer framer(make_terminator(framing));
        line_sink sink;
        const auto start = std::chrono::steady_clock::now();
        for (std::size_t at = 0; at < stream.size(); at += segment)
            framer.feed(std::string_view(stream).substr(at, segment), sink);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (sink.found != messages || sink.bytes != messages * payload) {
            std::fprintf(stderr, "framing: wrong result: %zu messages, %zu bytes\n", sink.found, sink.bytes);
            return 1;
        }
        std::printf("%s,%zu,%zu,%zu,%.6f,%.1f,%.1f\n", impl.c_str(), segment, messages, size, seconds, seconds * 1e9 / messages,
                    stream.size() / seconds / 1e6);
        std::fflush(stdout);
    }
}
