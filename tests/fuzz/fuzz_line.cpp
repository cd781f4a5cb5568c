// asynchat::line::line_receiver through asynchat::string_transport, with a script from the fuzzer's input run on
// each line received: nothing, raw mode for N bytes (then set_line_mode(rest), the rest of the raw read given
// back), close, another delimiter, strip_cr switched, send_line. The bound (max_line_length, strip_cr's CR
// allowance) and what an over-long line does (close, or dropped by an override) come from the input too. The
// receiver gets the stream in one read and in the fuzzer's pieces; a whole-stream model (below) says what it must
// see. Checked: the three agree; no line delivered is over the bound or holds the delimiter; nothing is delivered
// once closed.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include <asynchat/line/line_receiver.hpp>
#include <asynchat/string_transport.hpp>

#include "chat_test_util.hpp"

using chat_test::escape;
using namespace std::string_literals;

namespace {

struct action {
    enum kind_t { none, raw, close, delimiter, strip_cr, send } kind = none;
    std::size_t n = 0;        // raw: bytes; delimiter: which one
};

const std::vector<std::string>& delimiters() {
    static const std::vector<std::string> d{"\r\n", "\n", "\0"s, "ab", "\r\n\r\n", "\r"};
    return d;
}

struct setup {
    std::string delimiter;
    bool strip_cr = false;
    std::size_t max = 0;       // max_line_length; 0: none
    bool drop_long = false;    // line_length_exceeded overridden to return (drop the line) instead of closing
    std::vector<action> script; // cycled over the lines received
};

// 'L' line, 'R' raw bytes (consecutive ones merged), 'X' line_length_exceeded, 'C' closed.
struct event {
    char kind;
    std::string data;
    friend bool operator==(const event&, const event&) = default;
};
using events = std::vector<event>;

void add_raw(events& ev, std::string_view d) {
    if (d.empty()) return;
    if (!ev.empty() && ev.back().kind == 'R') ev.back().data += d;
    else ev.push_back({'R', std::string(d)});
}

struct scripted final : asynchat::line::line_receiver {
    const setup& s;
    events ev;
    std::size_t lines = 0, raw_left = 0;
    bool closed = false, bad = false;
    std::string why;

    explicit scripted(const setup& su) : s(su) {
        set_delimiter(s.delimiter);
        set_strip_cr(s.strip_cr);
        set_max_line_length(s.max);
    }
    void line_received(std::string_view line) override {
        if (closed) bad = true, why = "a line after close";
        if (max_line_length() != 0 && line.size() > max_line_length()) bad = true, why = "a line over the bound";
        if (line.find(delimiter()) != std::string_view::npos) bad = true, why = "a line holding the delimiter";
        ev.push_back({'L', std::string(line)});
        if (s.script.empty()) return;
        const action& a = s.script[lines++ % s.script.size()];
        switch (a.kind) {
        case action::none: break;
        case action::raw:
            raw_left = a.n;
            set_raw_mode();
            break;
        case action::close: close(); break;
        case action::delimiter: set_delimiter(delimiters()[a.n]); break;
        case action::strip_cr: set_strip_cr(!strip_cr_on()); break;
        case action::send: send_line(line); break;
        }
    }
    void raw_data_received(std::string_view data) override {
        if (closed) bad = true, why = "raw bytes after close";
        const std::size_t take = std::min(raw_left, data.size());
        add_raw(ev, data.substr(0, take));
        raw_left -= take;
        if (raw_left == 0) set_line_mode(data.substr(take));
    }
    void line_length_exceeded(std::size_t length) override {
        if (max_line_length() == 0 || length <= max_line_length()) bad = true, why = "exceeded within the bound";
        ev.push_back({'X', {}});
        if (!s.drop_long) close();
    }
    void close() override {
        if (!closed) ev.push_back({'C', {}});
        closed = true;
        line_receiver::close();
    }
    bool strip_cr_on() const { return strip; }
    void set_strip_cr(bool on) {
        strip = on;
        line_receiver::set_strip_cr(on);
    }
    bool strip = false;
};

// Python-style find_prefix_at_end: how many bytes at the end of h may begin d (fewer than d's size).
std::size_t prefix_at_end(std::string_view h, std::string_view d) {
    for (std::size_t l = std::min(h.size(), d.size() - 1); l > 0; --l)
        if (h.ends_with(d.substr(0, l))) return l;
    return 0;
}

// What the scripted receiver must see, from the whole stream at once.
events model(const setup& su, std::string_view s) {
    events ev;
    std::string delim = su.delimiter;
    bool strip = su.strip_cr;
    std::size_t pos = 0, lines = 0;
    // Over the bound while arriving: the documented rule, with one CR allowed past it when strip_cr is on.
    auto over = [&](std::string_view content) {
        const std::size_t n = content.size(), max = su.max;
        return max != 0 && (n > max + 1 || (n == max + 1 && !(strip && content.back() == '\r')));
    };
    while (pos < s.size()) {
        const std::string_view rest = s.substr(pos);
        const std::size_t i = rest.find(delim);
        if (i == std::string_view::npos) {
            // A partial line: only its bytes that cannot begin the delimiter have been handed out.
            if (over(rest.substr(0, rest.size() - prefix_at_end(rest, delim)))) {
                ev.push_back({'X', {}});
                if (!su.drop_long) ev.push_back({'C', {}});
            }
            return ev;
        }
        std::string_view line = rest.substr(0, i);
        pos += i + delim.size();
        if (over(line)) {
            ev.push_back({'X', {}});
            if (!su.drop_long) {
                ev.push_back({'C', {}});
                return ev;
            }
            continue; // dropped up to its delimiter
        }
        if (strip && !line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (su.max != 0 && line.size() > su.max) {
            ev.push_back({'X', {}});
            if (!su.drop_long) {
                ev.push_back({'C', {}});
                return ev;
            }
            continue;
        }
        ev.push_back({'L', std::string(line)});
        if (su.script.empty()) continue;
        const action& a = su.script[lines++ % su.script.size()];
        switch (a.kind) {
        case action::none:
        case action::send: break;
        case action::raw: {
            const std::size_t take = std::min(a.n, s.size() - pos);
            add_raw(ev, s.substr(pos, take));
            pos += take;
            break;
        }
        case action::close: ev.push_back({'C', {}}); return ev;
        case action::delimiter: delim = delimiters()[a.n]; break;
        case action::strip_cr: strip = !strip; break;
        }
    }
    return ev;
}

std::string render(const events& ev) {
    std::string out;
    for (const auto& e : ev) out += std::string(1, e.kind) + (e.data.empty() ? "" : "\"" + escape(e.data) + "\"") + " ";
    return out;
}

struct outcome {
    events ev;
    std::string written;
};

outcome run(const setup& su, std::string_view stream, const std::vector<std::size_t>& sizes, std::string_view input) {
    scripted r(su);
    asynchat::string_transport t(r);
    outcome out;
    for (std::size_t at = 0, k = 0; at < stream.size() && !r.closed; ++k) {
        const std::size_t n = sizes.empty() ? stream.size() : sizes[std::min(k, sizes.size() - 1)];
        t.receive(stream.substr(at, n));
        out.written += t.written();
        at += n;
    }
    if (r.bad) {
        std::fprintf(stderr, "fuzz_line: %s\n  input: \"%s\"\n  events: %s\n", r.why.c_str(), escape(input).c_str(),
                     render(r.ev).c_str());
        std::abort();
    }
    out.ev = std::move(r.ev);
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    setup su;
    su.delimiter = delimiters()[in.ConsumeIntegralInRange<std::size_t>(0, delimiters().size() - 1)];
    su.strip_cr = in.ConsumeBool();
    su.max = in.ConsumeBool() ? 0 : in.ConsumeIntegralInRange<std::size_t>(1, 40);
    su.drop_long = in.ConsumeBool();
    for (int n = in.ConsumeIntegralInRange(0, 6); n-- > 0;) {
        action a;
        a.kind = static_cast<action::kind_t>(in.ConsumeIntegralInRange(0, 5));
        if (a.kind == action::raw) a.n = in.ConsumeIntegralInRange<std::size_t>(0, 24);
        if (a.kind == action::delimiter) a.n = in.ConsumeIntegralInRange<std::size_t>(0, delimiters().size() - 1);
        su.script.push_back(a);
    }
    std::vector<std::size_t> sizes;
    for (int n = in.ConsumeIntegralInRange(1, 8); n-- > 0;) sizes.push_back(in.ConsumeIntegralInRange<std::size_t>(1, 24));
    const std::string stream = in.ConsumeRemainingBytesAsString();
    const std::string_view input(reinterpret_cast<const char*>(data), size);

    const events want = model(su, stream);
    const outcome whole = run(su, stream, {}, input);
    const outcome pieces = run(su, stream, sizes, input);
    if (whole.ev != want || pieces.ev != want || whole.written != pieces.written) {
        std::fprintf(stderr, "fuzz_line: the receiver and the model disagree\n  input: \"%s\"\n  stream: \"%s\"\n"
                             "  whole:  %s\n  pieces: %s\n  model:  %s\n",
                     escape(input).c_str(), escape(stream).c_str(), render(whole.ev).c_str(), render(pieces.ev).c_str(),
                     render(want).c_str());
        std::abort();
    }
    return 0;
}
