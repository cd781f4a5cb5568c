// Framing cost: N messages of a fixed size, terminated by "\r\n", fed to an async_chat-style sink through the
// framer in reads of SEGMENT bytes. Prints one CSV line: impl,segment,messages,message_bytes,seconds,ns_per_msg,
// mb_per_s. The sink appends each piece to a message buffer and counts found_terminator, as a line protocol does.
//
//   framing [--messages N] [--size BYTES] [--segment BYTES]...
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <asynchat/framer.hpp>

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

std::string make_stream(std::size_t messages, std::size_t size) {
    std::string stream;
    stream.reserve(messages * size);
    std::string body(size - 2, 'x');
    for (std::size_t i = 0; i < messages; ++i) {
        // Vary the bytes so that nothing can be skipped by a lucky search.
        body[i % body.size()] = static_cast<char>('a' + i % 26);
        stream += body;
        stream += "\r\n";
    }
    return stream;
}

} // namespace

int main(int argc, char** argv) {
    std::size_t messages = 1'000'000, size = 64;
    std::vector<std::size_t> segments;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string opt = argv[i];
        const std::size_t value = std::strtoull(argv[i + 1], nullptr, 10);
        if (opt == "--messages") messages = value;
        else if (opt == "--size") size = value;
        else if (opt == "--segment") segments.push_back(value);
        else {
            std::fprintf(stderr, "framing: unknown option %s\n", opt.c_str());
            return 2;
        }
    }
    if (segments.empty()) segments = {1, 64, 65536};
    if (size < 3) {
        std::fprintf(stderr, "framing: --size must be at least 3\n");
        return 2;
    }
    const std::string stream = make_stream(messages, size);
    for (std::size_t segment : segments) {
        asynchat::framer framer(asynchat::terminator("\r\n"));
        line_sink sink;
        const auto start = std::chrono::steady_clock::now();
        for (std::size_t at = 0; at < stream.size(); at += segment)
            framer.feed(std::string_view(stream).substr(at, segment), sink);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (sink.found != messages || sink.bytes != messages * (size - 2)) {
            std::fprintf(stderr, "framing: wrong result: %zu messages, %zu bytes\n", sink.found, sink.bytes);
            return 1;
        }
        std::printf("c++,%zu,%zu,%zu,%.6f,%.1f,%.1f\n", segment, messages, size, seconds, seconds * 1e9 / messages,
                    stream.size() / seconds / 1e6);
        std::fflush(stdout);
    }
}
