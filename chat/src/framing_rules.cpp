#include "asynchat/framing_rules.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <utility>

namespace asynchat {

// ---- any_delimiter

any_delimiter::any_delimiter(std::vector<std::string> delimiters) : delimiters_(std::move(delimiters)) {
    if (delimiters_.empty()) throw std::invalid_argument("asynchat::any_delimiter: no delimiters");
    for (const auto& d : delimiters_) {
        if (d.empty()) throw std::invalid_argument("asynchat::any_delimiter: an empty delimiter");
        longest_ = std::max(longest_, d.size());
    }
}

std::shared_ptr<any_delimiter> any_delimiter::make(std::initializer_list<std::string_view> delimiters) {
    return std::make_shared<any_delimiter>(std::vector<std::string>(delimiters.begin(), delimiters.end()));
}

std::string any_delimiter::describe() const {
    std::string out = "any_delimiter(";
    for (std::size_t i = 0; i < delimiters_.size(); ++i) {
        if (i) out += ", ";
        out += terminator_repr(delimiters_[i]);
    }
    return out + ")";
}

namespace {

// Delimiters are a few bytes: comparing them in line is cheaper than a call to memcmp.
bool begins_with(std::string_view s, std::string_view prefix) noexcept {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i)
        if (s[i] != prefix[i]) return false;
    return true;
}

} // namespace

rule_step any_delimiter::next(std::string_view input, std::size_t) {
    if (at_delimiter_ != 0) {
        // The delimiter was skipped on the previous step: the message ends here.
        at_delimiter_ = 0;
        return rule_step::end();
    }
    if (ahead_ != no_delimiter) {
        // The last search delivered the payload up to a delimiter it found: unless a callback changed the input
        // (unread), it starts with that delimiter, and checking so is cheaper than searching again. Checked as
        // the search would decide: no longer delimiter matches here or may still, with more bytes.
        const std::string& d = delimiters_[std::exchange(ahead_, no_delimiter)];
        bool same = begins_with(input, d);
        for (std::size_t i = 0; same && i < delimiters_.size(); ++i) {
            const std::string& e = delimiters_[i];
            if (e.size() > d.size() && (begins_with(input, e) || begins_with(e, input))) same = false;
        }
        if (same) {
            at_delimiter_ = d.size();
            last_ = static_cast<std::size_t>(&d - delimiters_.data());
            return rule_step::skip(d.size());
        }
    }
    // The delimiters are searched in a window that doubles until it holds the answer, not in all of the input:
    // one that does not occur would otherwise be searched for over the whole rest of a large read once per
    // message, which is quadratic in the read size. This way each message costs O(its length) per delimiter.
    static constexpr std::size_t first_window = 256;
    std::size_t from = 0, w = std::min(input.size(), std::max(first_window, 2 * longest_));
    for (;;) {
        const std::string_view window = input.substr(0, w);
        // The earliest complete delimiter, the longest where several start at the same place...
        std::size_t best = std::string_view::npos, best_len = 0, best_index = 0;
        for (std::size_t i = 0; i < delimiters_.size(); ++i) {
            const std::string& d = delimiters_[i];
            const std::size_t p = d.size() == 1 ? window.find(d[0], from) : window.find(d, from); // memchr alone
            if (p < best || (p == best && p != std::string_view::npos && delimiters_[i].size() > best_len)) {
                best = p;
                best_len = delimiters_[i].size();
                best_index = i;
            }
        }
        bool found = false;
        if (w < input.size()) {
            // A delimiter that ends within the window leaves nothing undecided: any that starts at or before it
            // is at most longest_ bytes long, so it lies in the window too and was seen.
            if (best == std::string_view::npos || best + longest_ > w) {
                from = w >= longest_ ? w - longest_ + 1 : 0; // an occurrence before this ends in the window
                w = std::min(input.size(), 2 * w);
                continue;
            }
            found = true;
        } else {
            // The window is the whole input: the earliest delimiter is final only if no delimiter could still
            // start at or before it and run past the end of the input (more bytes will tell).
            std::size_t undecided = std::string_view::npos;
            if (best == std::string_view::npos || input.size() - best < longest_) {
                for (const auto& d : delimiters_) {
                    const std::size_t k = find_prefix_at_end(input, d);
                    if (k) undecided = std::min(undecided, input.size() - k);
                }
            }
            found = best != std::string_view::npos && (undecided == std::string_view::npos || best < undecided);
            if (!found) {
                const std::size_t payload = undecided == std::string_view::npos ? input.size() : undecided;
                return payload ? rule_step::deliver(payload) : rule_step::hold();
            }
        }
        if (best > 0) {
            ahead_ = best_index;
            return rule_step::deliver(best);
        }
        at_delimiter_ = best_len;
        last_ = best_index;
        return rule_step::skip(best_len);
    }
}

// ---- length_prefixed

length_prefixed::length_prefixed(format f) : format_(f) {
    const auto n = f.header_bytes;
    if (n != 1 && n != 2 && n != 4 && n != 8)
        throw std::invalid_argument("asynchat::length_prefixed: the header must be 1, 2, 4 or 8 bytes");
}

std::shared_ptr<length_prefixed> length_prefixed::make(std::size_t header_bytes, byte_order order,
                                                       std::int64_t length_adjustment) {
    return std::make_shared<length_prefixed>(format{header_bytes, order, length_adjustment});
}

std::string length_prefixed::describe() const {
    std::string out = "length_prefixed(" + std::to_string(format_.header_bytes) +
                      (format_.order == byte_order::big ? ", big" : ", little");
    if (format_.length_adjustment) out += ", " + std::to_string(format_.length_adjustment);
    return out + ")";
}

rule_step length_prefixed::next(std::string_view input, std::size_t max_message) {
    if (!in_payload_) {
        const std::size_t n = format_.header_bytes;
        if (input.size() < n) return rule_step::hold();
        std::uint64_t field = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const auto byte = static_cast<unsigned char>(input[format_.order == byte_order::big ? i : n - 1 - i]);
            field = field << 8 | byte;
        }
        // field + adjustment, without overflow in either direction.
        const std::int64_t adj = format_.length_adjustment;
        std::uint64_t length;
        if (adj < 0) {
            const auto down = static_cast<std::uint64_t>(-(adj + 1)) + 1;
            if (field < down) return rule_step::fail("length field smaller than the header it counts");
            length = field - down;
        } else {
            const auto up = static_cast<std::uint64_t>(adj);
            if (field > std::numeric_limits<std::uint64_t>::max() - up) return rule_step::fail("length field overflows");
            length = field + up;
        }
        if (max_message != 0 && length > max_message)
            return rule_step::too_long(static_cast<std::size_t>(std::min<std::uint64_t>(length, SIZE_MAX)));
        in_payload_ = true;
        remaining_ = length;
        return rule_step::skip(n);
    }
    if (remaining_ == 0) {
        start();
        return rule_step::end();
    }
    if (input.empty()) return rule_step::hold();
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, input.size()));
    remaining_ -= n;
    return rule_step::deliver(n);
}

std::string length_prefixed::header(std::size_t n, const format& f) {
    // A format is a plain struct, so it is checked here too: the shifts below are only defined for these sizes.
    if (f.header_bytes != 1 && f.header_bytes != 2 && f.header_bytes != 4 && f.header_bytes != 8)
        throw std::invalid_argument("asynchat::length_prefixed: the header must be 1, 2, 4 or 8 bytes");
    const std::int64_t adj = f.length_adjustment;
    const std::uint64_t down = adj < 0 ? static_cast<std::uint64_t>(-(adj + 1)) + 1 : 0; // -adj, without overflow
    const std::uint64_t field = adj < 0 ? n + down : n - static_cast<std::uint64_t>(adj);
    if ((adj > 0 && static_cast<std::uint64_t>(adj) > n) || (adj < 0 && n > UINT64_MAX - down) ||
        (f.header_bytes < 8 && field >> (8 * f.header_bytes) != 0))
        throw std::length_error("asynchat::length_prefixed: " + std::to_string(n) + " bytes do not fit a " +
                                std::to_string(f.header_bytes) + "-byte length");
    std::string out(f.header_bytes, '\0');
    for (std::size_t i = 0; i < f.header_bytes; ++i) {
        const auto byte = static_cast<char>(field >> (8 * i) & 0xff);
        out[f.order == byte_order::big ? f.header_bytes - 1 - i : i] = byte;
    }
    return out;
}

// ---- netstring

rule_step netstring::next(std::string_view input, std::size_t max_message) {
    switch (phase_) {
    case phase::length: {
        std::size_t i = 0;
        std::uint64_t length = 0;
        for (; i < input.size() && input[i] != ':'; ++i) {
            const char c = input[i];
            if (c < '0' || c > '9') return rule_step::fail("netstring length is not a decimal number");
            if (i == 1 && input[0] == '0') return rule_step::fail("netstring length has a leading zero");
            if (i == max_length_digits) return rule_step::fail("netstring length too long");
            const auto digit = static_cast<std::uint64_t>(c - '0');
            if (length > (std::numeric_limits<std::uint64_t>::max() - digit) / 10)
                return rule_step::fail("netstring length too long");
            length = length * 10 + digit;
            // Checked at every digit: more digits only make the length larger (there is no leading zero), so a
            // peer sending "99999..." is refused as soon as it is over the bound, not when its ':' arrives.
            if (max_message != 0 && length > max_message)
                return rule_step::too_long(static_cast<std::size_t>(std::min<std::uint64_t>(length, SIZE_MAX)));
        }
        if (i == input.size()) return rule_step::hold(); // no ':' yet; at most max_length_digits digits held
        if (i == 0) return rule_step::fail("netstring without a length");
        phase_ = phase::payload;
        remaining_ = length;
        return rule_step::skip(i + 1);
    }
    case phase::payload:
        if (remaining_ != 0) {
            if (input.empty()) return rule_step::hold();
            const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, input.size()));
            remaining_ -= n;
            return rule_step::deliver(n);
        }
        phase_ = phase::comma;
        [[fallthrough]];
    case phase::comma:
        if (input.empty()) return rule_step::hold();
        if (input[0] != ',') return rule_step::fail("netstring payload not followed by ','");
        phase_ = phase::done;
        return rule_step::skip(1);
    case phase::done: start(); return rule_step::end();
    }
    return rule_step::fail("netstring: bad state");
}

std::string netstring::encode(std::string_view payload) {
    std::string out = std::to_string(payload.size());
    out.reserve(out.size() + payload.size() + 2);
    out.append(":").append(payload).append(",");
    return out;
}

} // namespace asynchat
