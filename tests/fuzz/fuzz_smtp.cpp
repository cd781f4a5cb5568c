// The SMTP server's command and DATA parser: asynchat::smtp::smtp_channel (line_receiver framing + the
// smtp_session engine) through string_transport, with small limits from the input, deliveries accepted, refused or
// completed later (the bytes pipelined behind the "." then held), and a random segmentation. Checked:
//   * the conversation does not depend on the segmentation (replies and messages, one read vs. the fuzzer's cuts);
//   * every reply is well-formed: lines of a 3-digit code, '-' or ' ', text, CRLF, at most 512 bytes, the last
//     line of each reply with ' ';
//   * every message stored is within max_size, ends with CRLF, and ended at the first <CRLF>.<CRLF> after the
//     DATA: dot-stuffed again it is in the stream followed by ".\r\n", and holds no earlier end of data (SMTP
//     smuggling, CVE-2023-51764/-51765/-51766: <LF>.<LF> and the like must never end a message);
//   * at most max_recipients recipients per message, the addresses free of brackets, spaces and controls.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include <asynchat/smtp/server.hpp>
#include <asynchat/string_transport.hpp>

#include "chat_test_util.hpp"

using namespace asynchat::smtp;
using chat_test::escape;

namespace {

[[noreturn]] void fail(const char* what, std::string_view input, std::string_view detail = {}) {
    std::fprintf(stderr, "fuzz_smtp: %s\n  stream: \"%s\"\n  %s\n", what, escape(input).c_str(),
                 escape(detail.substr(0, 4000)).c_str());
    std::abort();
}

// 0: accept at once; 1: refuse at once; 2: complete after the read that finished the message.
struct recording_server final : smtp_server {
    int reply_mode;
    std::vector<envelope> messages;
    std::vector<delivery_completion> held;
    recording_server(smtp_options o, int mode) : smtp_server(std::move(o)), reply_mode(mode) {}
    void handle_DATA(smtp_channel&, envelope& message, delivery_completion done) override {
        messages.push_back(message);
        if (reply_mode == 0) done("250 OK");
        else if (reply_mode == 1) done("554 no thanks");
        else held.push_back(done);
    }
};

struct outcome {
    std::string written;
    std::vector<envelope> messages;
};

outcome converse(const smtp_options& options, int mode, std::string_view stream, const std::vector<std::size_t>& sizes) {
    recording_server server(options, mode);
    outcome out;
    {
        smtp_channel channel(server);
        asynchat::string_transport wire(channel);
        channel.start();
        out.written += wire.written();
        for (std::size_t at = 0, k = 0; at < stream.size() && !wire.closed_when_done(); ++k) {
            const std::size_t n = sizes.empty() ? stream.size() : sizes[std::min(k, sizes.size() - 1)];
            wire.receive(stream.substr(at, n));
            out.written += wire.written();
            at += n;
            // Deliveries completed later: after the read, as a worker thread's completion would be.
            while (!server.held.empty()) {
                auto done = server.held.front();
                server.held.erase(server.held.begin());
                done("250 OK later");
                out.written += wire.written();
            }
        }
        server.held.clear(); // the completions refer to the channel: they go first
    }
    out.messages = std::move(server.messages);
    return out;
}

bool same(const std::vector<envelope>& a, const std::vector<envelope>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].mail_from != b[i].mail_from || a[i].mail_options != b[i].mail_options ||
            a[i].rcpt_tos != b[i].rcpt_tos || a[i].content != b[i].content)
            return false;
    return true;
}

void check_replies(std::string_view out, std::string_view stream) {
    bool continued = false;
    while (!out.empty()) {
        const auto end = out.find("\r\n");
        if (end == std::string_view::npos) fail("a reply not ended by CRLF", stream, out);
        const std::string_view line = out.substr(0, end);
        if (line.size() + 2 > 512) fail("a reply line over 512 bytes", stream, line);
        if (line.size() < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' || line[2] < '0' ||
            line[2] > '9' || (line.size() > 3 && line[3] != ' ' && line[3] != '-'))
            fail("a malformed reply line", stream, line);
        if (line.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
            fail("a control character in a reply", stream, line);
        continued = line.size() > 3 && line[3] == '-';
        out.remove_prefix(end + 2);
    }
    if (continued) fail("a multi-line reply without its last line", stream);
}

bool clean_address(std::string_view a) {
    for (unsigned char c : a)
        if (c <= ' ' || c == 0x7f || c == '<' || c == '>') return false;
    return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    smtp_options options;
    options.max_size = in.ConsumeIntegralInRange<std::size_t>(0, 400);
    options.max_command_line = in.ConsumeIntegralInRange<std::size_t>(8, 600);
    options.max_recipients = in.ConsumeIntegralInRange<std::size_t>(1, 8);
    options.idle_timeout = std::chrono::duration<double>(0);
    const int mode = in.ConsumeIntegralInRange(0, 2);
    std::vector<std::size_t> sizes;
    for (int n = in.ConsumeIntegralInRange(1, 8); n-- > 0;) sizes.push_back(in.ConsumeIntegralInRange<std::size_t>(1, 40));
    const std::string stream = in.ConsumeRemainingBytesAsString();

    const outcome whole = converse(options, mode, stream, {});
    const outcome pieces = converse(options, mode, stream, sizes);
    if (whole.written != pieces.written) fail("the replies depend on the segmentation", stream, whole.written + "\n vs \n" + pieces.written);
    if (!same(whole.messages, pieces.messages)) fail("the messages depend on the segmentation", stream);
    check_replies(whole.written, stream);
    for (const envelope& m : whole.messages) {
        if (m.content.size() > options.max_size) fail("a message over max_size", stream, m.content);
        if (!m.content.empty() && !m.content.ends_with("\r\n")) fail("a message not ending with CRLF", stream, m.content);
        if (m.rcpt_tos.empty() || m.rcpt_tos.size() > options.max_recipients) fail("recipients out of bounds", stream);
        if (!clean_address(m.mail_from)) fail("a bad sender address", stream, m.mail_from);
        for (const auto& r : m.rcpt_tos)
            if (!clean_address(r)) fail("a bad recipient address", stream, r);
    }
    // Each message must be the lines of the stream (CRLF-split: every line of the conversation ends there) that
    // follow some earlier point, each with one leading '.' removed, none of them exactly ".", and followed by the
    // line "." (RFC 5321 4.5.2). A message ended by a bare-LF dot, or running past the first ".", is not.
    std::vector<std::string_view> lines;
    for (std::size_t at = 0;;) {
        const auto e = stream.find("\r\n", at);
        if (e == std::string::npos) break;
        lines.push_back(std::string_view(stream).substr(at, e - at));
        at = e + 2;
    }
    std::size_t from = 0;
    for (const envelope& m : whole.messages) {
        std::vector<std::string_view> content;
        for (std::size_t at = 0; at < m.content.size();) {
            const auto e = m.content.find("\r\n", at);
            content.push_back(std::string_view(m.content).substr(at, e - at));
            at = e + 2;
        }
        const std::size_t k = content.size();
        bool found = false;
        for (std::size_t j = from; !found && j + k < lines.size(); ++j) {
            if (lines[j + k] != ".") continue;
            found = true;
            for (std::size_t i = 0; found && i < k; ++i) {
                std::string_view raw = lines[j + i];
                if (raw == ".") found = false;
                if (raw.starts_with('.')) raw.remove_prefix(1);
                if (raw != content[i]) found = false;
            }
            if (found) from = j + k + 1;
        }
        if (!found) fail("a message that is not the stream's lines up to the first \".\"", stream, m.content);
    }
    return 0;
}
