#pragma once
// Helpers shared by the framer suites: a sink that records a normalised event sequence, a scripted reaction to
// found_terminator, and the seeded generators of random streams.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include <asynchat/framer.hpp>

namespace chat_test {

using namespace std::string_literals;
using namespace std::string_view_literals;

// Printable form of arbitrary bytes, for failure messages.
inline std::string escape(std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        if (c == '\r') out += "\\r";
        else if (c == '\n') out += "\\n";
        else if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
        else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

inline std::string to_hex(std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) out += hex[c >> 4], out += hex[c & 15];
    return out;
}

inline std::string from_hex(std::string_view h) {
    auto nib = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    std::string out;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2) out += static_cast<char>(nib(h[i]) * 16 + nib(h[i + 1]));
    return out;
}

inline std::string show(const asynchat::terminator& t) {
    std::ostringstream os;
    os << t;
    return os.str();
}

// What a sink saw, with consecutive collect calls merged: how the bytes were cut into calls is not part of the
// contract, the message contents and the places of found_terminator are.
struct event {
    bool found = false;
    std::string data;   // when !found: everything collected since the previous event
    friend bool operator==(const event&, const event&) = default;
};
using events = std::vector<event>;

inline std::string render(const events& ev) {
    std::string out;
    for (const auto& e : ev) out += e.found ? "F " : "D\"" + escape(e.data) + "\" ";
    return out;
}

// What to do on the i-th found_terminator: nothing, set a terminator, or discard_buffers (framer::reset).
struct action {
    enum kind_t { keep, set, reset } kind = keep;
    asynchat::terminator term{};
};

struct recorder : asynchat::framer_sink {
    asynchat::framer* framer = nullptr;
    events ev;
    std::vector<action> plan;   // cycled over the found_terminator calls
    std::size_t found_count = 0;
    std::size_t collect_calls = 0;
    std::size_t empty_collects = 0;
    std::function<void(std::string_view)> on_collect;

    void collect_incoming_data(std::string_view d) override {
        ++collect_calls;
        if (d.empty()) ++empty_collects;
        if (on_collect) on_collect(d);
        if (!ev.empty() && !ev.back().found) ev.back().data += d;
        else ev.push_back({false, std::string(d)});
    }
    void found_terminator() override {
        ev.push_back({true, {}});
        if (!plan.empty()) {
            const action& a = plan[found_count % plan.size()];
            if (a.kind == action::set) framer->set_terminator(a.term);
            else if (a.kind == action::reset) framer->reset();
        }
        ++found_count;
    }
};

// One stream with everything needed to replay it, through our framer or Python's.
struct stream_case {
    asynchat::terminator initial;
    std::vector<action> plan;
    std::vector<std::string> chunks;
    // (i, t): set_terminator(t) just before chunk i is fed, from outside any callback.
    std::vector<std::pair<std::size_t, asynchat::terminator>> between;

    std::string describe() const {
        std::ostringstream os;
        os << "initial=" << initial << " plan=[";
        for (const auto& a : plan)
            os << (a.kind == action::keep ? "keep" : a.kind == action::reset ? "reset" : show(a.term)) << ' ';
        os << "] between=[";
        for (const auto& [i, t] : between) os << i << ':' << t << ' ';
        os << "] chunks=[";
        for (const auto& c : chunks) os << '"' << escape(c) << "\" ";
        return os.str() + "]";
    }
};

struct outcome {
    events ev;
    std::string pending;
    asynchat::terminator final_term;
    std::size_t empty_collects = 0;
};

inline outcome run(const stream_case& c, std::size_t max_message = 0) {
    asynchat::framer f(c.initial, max_message);
    recorder r;
    r.framer = &f;
    r.plan = c.plan;
    std::size_t next_between = 0;
    for (std::size_t i = 0; i < c.chunks.size(); ++i) {
        while (next_between < c.between.size() && c.between[next_between].first == i)
            f.set_terminator(c.between[next_between++].second);
        f.feed(c.chunks[i], r);
    }
    return {std::move(r.ev), std::string(f.pending()), f.get_terminator(), r.empty_collects};
}

// Splits s into pieces of exactly n bytes (the last one shorter).
inline std::vector<std::string> packets(std::string_view s, std::size_t n) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < s.size(); i += n) out.emplace_back(s.substr(i, n));
    return out;
}

// ---- seeded random material

using rng_t = std::mt19937_64;

inline std::size_t pick(rng_t& rng, std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); }

// Delimiters chosen to overlap themselves and each other, so that partial matches are everywhere.
inline const std::vector<std::string>& delimiters() {
    static const std::vector<std::string> d{
        "\r\n", "\n", "\r\n.\r\n", "qqq", "aab", "aaa", "abab", "\0"s, "\0\r"s, "\r\n\r\n", "--b--", "a\0a"s,
    };
    return d;
}

inline asynchat::terminator random_terminator(rng_t& rng, bool allow_inactive = true) {
    const std::size_t r = pick(rng, 20);
    if (r < 12) return asynchat::terminator(delimiters()[pick(rng, delimiters().size())]);
    if (r < 17) return asynchat::terminator::count(1 + pick(rng, 12));
    if (!allow_inactive) return asynchat::terminator("\r\n");
    if (r == 17) return asynchat::terminator::none();
    if (r == 18) return asynchat::terminator(""sv);
    return asynchat::terminator::count(0);
}

// Bytes from a small alphabet (plus any byte now and then), interleaved with whole and partial delimiters.
inline std::string random_stream(rng_t& rng, std::size_t pieces) {
    static constexpr std::string_view alphabet("ab\r\n.q-\0"sv);
    std::string s;
    for (std::size_t i = 0; i < pieces; ++i) {
        const std::string& d = delimiters()[pick(rng, delimiters().size())];
        switch (pick(rng, 6)) {
        case 0: s += d; break;
        case 1: s += d.substr(0, 1 + pick(rng, d.size())); break;
        case 2: s += d + d; break;
        case 3: s += static_cast<char>(pick(rng, 256)); break;
        default:
            for (std::size_t n = pick(rng, 6); n-- > 0;) s += alphabet[pick(rng, alphabet.size())];
        }
    }
    return s;
}

// Random segmentation, including empty pieces (a read that returned nothing new).
inline std::vector<std::string> random_split(rng_t& rng, std::string_view s) {
    static constexpr std::size_t scales[] = {1, 2, 3, 5, 8, 64, 1u << 20};
    const std::size_t scale = scales[pick(rng, std::size(scales))];
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < s.size()) {
        const std::size_t n = pick(rng, 10) == 0 ? 0 : 1 + pick(rng, scale);
        out.emplace_back(s.substr(i, n));
        i += std::min(n, s.size() - i);
    }
    if (pick(rng, 4) == 0) out.emplace_back();
    return out;
}

inline std::vector<action> random_plan(rng_t& rng, bool allow_reset) {
    std::vector<action> plan;
    for (std::size_t n = pick(rng, 5); n-- > 0;) {
        const std::size_t r = pick(rng, 10);
        if (r < 3) plan.push_back({action::keep, {}});
        else if (r == 3 && allow_reset) plan.push_back({action::reset, {}});
        else plan.push_back({action::set, random_terminator(rng)});
    }
    return plan;
}

// ---- differential tests against Python implementations (CPython's asynchat, Twisted)

// s as one word for /bin/sh (std::system), whatever it contains.
inline std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// True when `python -c code` exits 0 (the interpreter and the modules the code imports are there).
inline bool python_can(const std::string& python, const std::string& code) {
    const std::string cmd = shell_quote(python) + " -c " + shell_quote(code) + " >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0;
}

// Runs `python script < input` and returns its output cut into cases, each ending with an "end" line. Throws
// std::runtime_error when the script fails.
// The interpreter that runs the Twisted oracles: $ASYNCHAT_TWISTED_PYTHON, else Debian's /usr/bin/python3 (where
// python3-twisted installs; the default python3 may be another build).
inline std::string twisted_python() {
    const char* p = std::getenv("ASYNCHAT_TWISTED_PYTHON");
    return p && *p ? p : "/usr/bin/python3";
}

inline std::vector<std::string> run_oracle(const std::string& python, const std::string& script,
                                           const std::string& input) {
    const auto dir = std::filesystem::temp_directory_path();
    const std::string stem = "asynchat-oracle-" + std::to_string(::getpid());
    const auto in = dir / (stem + ".in"), out = dir / (stem + ".out");
    std::ofstream(in, std::ios::binary) << input;
    const std::string cmd = shell_quote(python) + " " + shell_quote(script) + " < " + shell_quote(in.string()) +
                            " > " + shell_quote(out.string());
    const int rc = std::system(cmd.c_str());
    std::vector<std::string> results;
    std::ifstream is(out, std::ios::binary);
    std::string line, current;
    while (std::getline(is, line)) {
        current += line + "\n";
        if (line == "end") results.push_back(std::exchange(current, {}));
    }
    is.close();
    std::filesystem::remove(in);
    std::filesystem::remove(out);
    if (rc != 0) throw std::runtime_error("oracle failed: " + cmd);
    return results;
}

} // namespace chat_test
