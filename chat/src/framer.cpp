#include "asynchat/framer.hpp"

#include <algorithm>
#include <cstring>
#include <functional>
#include <ostream>
#include <utility>

namespace asynchat {

std::string terminator_repr(std::string_view delimiter) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "b'";
    for (unsigned char c : delimiter) {
        switch (c) {
        case '\r': out += "\\r"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\\': out += "\\\\"; break;
        case '\'': out += "\\'"; break;
        default:
            if (c >= 0x20 && c < 0x7f) {
                out += static_cast<char>(c);
            } else {
                out += "\\x";
                out += hex[c >> 4];
                out += hex[c & 15];
            }
        }
    }
    return out + "'";
}

std::ostream& operator<<(std::ostream& os, const terminator& t) {
    switch (t.type()) {
    case terminator::kind::none: return os << "None";
    case terminator::kind::count: return os << t.remaining();
    case terminator::kind::rule: return os << t.get_rule()->describe();
    case terminator::kind::delimiter: break;
    }
    return os << terminator_repr(t.bytes());
}

message_too_long::message_too_long(std::size_t limit, std::size_t attempted)
    : std::length_error("asynchat: message exceeds max_message (" + std::to_string(limit) + " bytes): at least " +
                        std::to_string(attempted) + " bytes"),
      limit_(limit), attempted_(attempted) {}

std::size_t find_prefix_at_end(std::string_view haystack, std::string_view needle) noexcept {
    if (needle.size() < 2) return 0;
    // Only the last needle.size() - 1 bytes can hold a proper prefix. Each place there that holds needle[0]
    // is a candidate; the leftmost one that matches is the longest prefix.
    const std::string_view tail = haystack.substr(haystack.size() - std::min(haystack.size(), needle.size() - 1));
    for (std::size_t p = tail.find(needle[0]); p != std::string_view::npos; p = tail.find(needle[0], p + 1)) {
        const std::size_t len = tail.size() - p;
        if (std::memcmp(tail.data() + p, needle.data(), len) == 0) return len;
    }
    return 0;
}

void framer::unread(std::string_view bytes) {
    if (bytes.empty()) return;
    const std::less_equal<const char*> le;
    if (feeding_ && unread_.empty() && rewind_len_ == 0 && !input_.empty() && le(input_.data(), bytes.data()) &&
        le(bytes.data() + bytes.size(), input_.data() + input_.size())) {
        rewind_at_ = static_cast<std::size_t>(bytes.data() - input_.data());
        rewind_len_ = bytes.size();
        return;
    }
    materialize_rewind();
    unread_.append(bytes);
}

// The rewind cannot be a step back after all: its bytes become ordinary unread bytes (they came first).
void framer::materialize_rewind() {
    if (rewind_len_ == 0) return;
    std::string bytes(input_.substr(rewind_at_, rewind_len_));
    unread_.insert(0, bytes);
    rewind_len_ = 0;
}

void framer::reset() noexcept {
    carry_.clear();
    unread_.clear();
    rewind_len_ = 0;
    carry_is_prefix_ = false;
    rule_progress_ = false;
    discarding_ = false;
    if (term_.rule_) term_.rule_->start();
    collected_ = 0;
    ++epoch_;
}

void framer::throw_too_long(std::size_t attempted) {
    const std::size_t limit = max_message_;
    reset();
    throw message_too_long(limit, attempted);
}

bool framer::overflow(std::size_t attempted, framer_sink& sink, std::uint64_t epoch) {
    if (overflow_ == on_overflow::close) throw_too_long(attempted);
    discarding_ = true;
    collected_ = 0;
    // A count has been counted down past these bytes already: what is left plus them is the message's size.
    if (term_.is_count()) discarded_count_ = attempted + term_.count_;
    sink.message_length_exceeded(attempted);
    return epoch == epoch_;
}

// Both return false when the callback reset the framer: the caller must then stop touching the buffer. While
// discarding, the pieces of the over-long message are dropped here and its end only ends the discard, so every
// terminator kind discards through the same paths it delivers through.
bool framer::deliver(std::string_view bytes, framer_sink& sink, std::uint64_t epoch) {
    if (discarding_) [[unlikely]] return true;
    if (max_message_ != 0 && collected_ + bytes.size() > max_message_) [[unlikely]]
        return overflow(collected_ + bytes.size(), sink, epoch);
    collected_ += bytes.size();
    sink.collect_incoming_data(bytes);
    return epoch == epoch_;
}

bool framer::fire(framer_sink& sink, std::uint64_t epoch) {
    collected_ = 0;
    if (discarding_) [[unlikely]] {
        discarding_ = false;   // the over-long message ended here: the next one is delivered
        // found_terminator, where a protocol sets the next count, is not called for a dropped message: the
        // next message is framed by the same count.
        if (term_.is_count()) term_.count_ = discarded_count_;
        return true;
    }
    sink.found_terminator();
    return epoch == epoch_;
}

void framer::feed(std::string_view data, framer_sink& sink) {
    if (feeding_) throw std::logic_error("asynchat::framer::feed called from inside one of its own callbacks");
    feeding_ = true;
    struct unset {
        framer& f;
        ~unset() {
            f.feeding_ = false;
            f.input_ = {};
            f.rewind_len_ = 0;   // only after an exception: the bytes of this call not delivered are lost
        }
    } guard{*this};

    const std::uint64_t epoch = epoch_;
    input_ = data; // what unread() compares against, to step back instead of copying
    if (carry_.empty() && unread_.empty()) {
        // The usual read: nothing carried from the last one, nothing given back. Kept free of the bookkeeping
        // feed_in_order needs, which costs a delimiter stream of small reads several percent.
        const std::size_t pos = scan(data, 0, sink, epoch);
        if (epoch != epoch_ || (unread_.empty() && rewind_len_ == 0)) return;
        feed_in_order(data, pos, sink, epoch); // a callback gave bytes back: they go before data[pos..]
        return;
    }
    feed_in_order(data, 0, sink, epoch);
}

// The general feed: carried bytes first, and the unread() bytes before everything not yet handed out. Starts
// with input[pos..] still to frame (pos is 0 but after the fast path of feed).
void framer::feed_in_order(std::string_view input, std::size_t pos, framer_sink& sink, std::uint64_t epoch) {
    std::string replay;            // the input rebuilt after an unread(); empty (and never allocated) otherwise
    input_ = input;
    std::string head_left;         // carried bytes not yet handed out when an unread() stopped drain_carry
    for (;;) {
        bool resume = false;       // go on in input from pos: the unread bytes were input's own, just before pos
        if (rewind_len_ != 0) {
            if (rewind_at_ + rewind_len_ == pos && head_left.empty() && carry_.empty()) {
                pos = rewind_at_;
                rewind_len_ = 0;
                resume = true;
            } else {
                materialize_rewind();
            }
        }
        if (!unread_.empty()) {
            // Rebuild the input in stream order: the unread bytes, then everything not yet handed out. Only one
            // of head_left, carry_ and input.substr(pos) can be non-empty, except head_left with the whole input.
            std::string next = std::move(unread_);
            unread_.clear();
            next.append(head_left).append(carry_).append(input.substr(pos));
            carry_.clear();
            carry_is_prefix_ = false;
            head_left.clear();
            replay = std::move(next);
            input = replay;
            input_ = input;
        }
        if (!resume) {
            pos = 0;
            if (!carry_.empty()) {
                // Moved out so that a reset() inside a callback cannot free bytes we are still reading.
                std::string head = std::move(carry_);
                carry_.clear();
                pos = drain_carry(head, std::exchange(carry_is_prefix_, false), input, sink, epoch, head_left);
                if (pos == stop) pos = input.size();   // everything was consumed, or a callback reset the framer
            }
        }
        if (pos != restart) pos = scan(input, pos, sink, epoch);
        else pos = 0;
        if (epoch != epoch_ || (unread_.empty() && rewind_len_ == 0)) return;
    }
}

// Python's loop over (carried bytes + data), for as long as the current position is inside the carried bytes.
// Returns where in data to go on, or stop. The carried bytes are few (fewer than the delimiter they were kept
// for), so the small copies made here are O(delimiter length) per feed, independent of the data size.
std::size_t framer::drain_carry(std::string& head, bool is_prefix, std::string_view data, framer_sink& sink,
                                std::uint64_t epoch, std::string& head_left) {
    if (is_prefix) {
        // The usual case: data goes on with the delimiter the carried bytes began. Checking just the new bytes
        // keeps a long delimiter arriving in small pieces linear (the general path below re-reads the carry).
        const std::string_view d = term_.bytes_;
        const std::size_t need = d.size() - head.size();
        const std::size_t m = std::min(need, data.size());
        if (data.substr(0, m) == d.substr(head.size(), m)) {
            if (m == need) return fire(sink, epoch) ? need : stop;
            head.append(data);
            carry_ = std::move(head);
            carry_is_prefix_ = true;
            return stop;
        }
    }
    std::size_t hpos = 0;
    while (hpos < head.size()) {
        if (!unread_.empty() || rewind_len_ != 0) {
            // A callback gave bytes back: they go before what is left of the carried bytes (and all of data).
            head_left.assign(head, hpos);
            return restart;
        }
        const std::string_view h = std::string_view(head).substr(hpos);
        if (!term_) {
            return deliver(h, sink, epoch) ? 0 : stop;
        }
        if (term_.is_rule()) {
            std::size_t consumed = 0;
            const std::size_t r = drain_rule_carry(h, data, sink, epoch, consumed);
            if (r != more) return r;
            hpos += consumed; // the message ended inside the carried bytes: the rest go to the terminator now set
            continue;
        }
        if (term_.is_count()) {
            const std::size_t n = term_.count_;
            if (h.size() < n) {
                check_limit(h.size());
                term_.count_ -= h.size();
                return deliver(h, sink, epoch) ? 0 : stop;
            }
            check_limit(n);
            term_.count_ = 0;
            if (!deliver(h.substr(0, n), sink, epoch)) return stop;
            hpos += n;
            if (!fire(sink, epoch)) return stop;
            continue;
        }

        // Delimiter. An occurrence starting inside the carried bytes ends within the next dl - 1 bytes of data,
        // so that much of data is all we need next to them.
        const std::size_t dl = term_.bytes_.size();
        std::string window;
        window.reserve(h.size() + std::min(data.size(), dl - 1));
        window.append(h).append(data.substr(0, dl - 1));
        const std::size_t idx = window.find(term_.bytes_);
        if (idx != std::string::npos) {
            // idx < h.size(): fewer than dl bytes of data are in the window.
            if (idx > 0 && !deliver(h.substr(0, idx), sink, epoch)) return stop;
            const std::size_t end = hpos + idx + dl;   // in head + data coordinates
            if (!fire(sink, epoch)) return stop;
            if (end >= head.size()) return end - head.size();
            hpos = end;
            continue;
        }
        if (data.size() >= dl - 1) {
            // No delimiter starts in the carried bytes, and none can be cut off at the end of data: they are
            // plain message bytes, delivered before the data that follows them.
            return deliver(h, sink, epoch) ? 0 : stop;
        }
        // The window is all that is left (short data): keep its longest possible delimiter start, as scan does.
        const std::size_t keep = find_prefix_at_end(window, term_.bytes_);
        carry_is_prefix_ = true;   // before the callback, so that a set_terminator inside it clears it
        if (keep < window.size() && !deliver(std::string_view(window).substr(0, window.size() - keep), sink, epoch))
            return stop;
        carry_.assign(window, window.size() - keep, keep);
        return stop;
    }
    return 0;
}

std::size_t framer::scan(std::string_view data, std::size_t pos, framer_sink& sink, std::uint64_t epoch) {
    while (pos < data.size()) {
        // A callback gave bytes back: feed() frames them before data[pos..].
        if (!unread_.empty() || rewind_len_ != 0) return pos;
        const std::string_view rest = data.substr(pos);
        if (term_.kind_ == terminator::kind::delimiter && !term_.bytes_.empty()) {
            // Tested first: the line protocols' path, and the one bench/run_framing measures.
            // Searched from the current position only, so every byte is searched O(1) times.
            const std::size_t dl = term_.bytes_.size();
            // A one-byte delimiter ('\n') is a memchr; find(string_view) would add a memcmp per match.
            const std::size_t idx = dl == 1 ? rest.find(term_.bytes_[0]) : rest.find(term_.bytes_);
            if (idx != std::string_view::npos) {
                if (idx > 0 && !deliver(rest.substr(0, idx), sink, epoch)) return stop;
                pos += idx + dl;
                if (!fire(sink, epoch)) return stop;
                continue;
            }
            const std::size_t keep = find_prefix_at_end(rest, term_.bytes_);
            carry_is_prefix_ = true;   // before the callback, so that a set_terminator inside it clears it
            if (keep < rest.size() && !deliver(rest.substr(0, rest.size() - keep), sink, epoch)) return stop;
            carry_.assign(rest.substr(rest.size() - keep));
            return data.size();
        }
        if (term_.is_rule()) {
            pos = scan_rule(data, pos, sink, epoch);
            if (pos == stop) return stop;
            continue; // the message ended or the terminator changed: read it again
        }
        if (!term_) {
            deliver(rest, sink, epoch);
            return data.size();
        }
        // A count.
        const std::size_t n = term_.count_;
        if (rest.size() < n) {
            // Counted down before the callback, so a set_terminator inside it is not overwritten.
            check_limit(rest.size());
            term_.count_ -= rest.size();
            deliver(rest, sink, epoch);
            return data.size();
        }
        check_limit(n);
        term_.count_ = 0;
        if (!deliver(rest.substr(0, n), sink, epoch)) return stop;
        pos += n;
        if (!fire(sink, epoch)) return stop;
    }
    return pos;
}

// scan's rule case, out of line so that it does not weigh on the delimiter loop: where in data to go on (data's
// end when the rule held the rest), or stop.
std::size_t framer::scan_rule(std::string_view data, std::size_t pos, framer_sink& sink, std::uint64_t epoch) {
    const rule_result r = run_rule(data, pos, sink, epoch);
    if (r.how == rule_result::state::stopped) return stop;
    if (r.how == rule_result::state::held) {
        carry_.assign(data.substr(r.pos));
        return data.size();
    }
    return r.pos;
}

// A rule's steps over input from pos, until the message ends, the rule holds, or a callback changes the
// terminator or resets the framer.
framer::rule_result framer::run_rule(std::string_view input, std::size_t pos, framer_sink& sink,
                                     std::uint64_t epoch) {
    framing_rule* const rule = term_.rule_.get();
    for (;;) {
        const std::string_view rest = input.substr(pos);
        // While discarding, the rule is told of no bound, so that it steps over the payload it just announced
        // as too long (delivering it to deliver(), which drops it) instead of refusing it again.
        const rule_step step = rule->next(rest, discarding_ ? 0 : max_message_);
        switch (step.what) {
        case rule_step::kind::deliver:
        case rule_step::kind::skip:
            if (step.bytes == 0 || step.bytes > rest.size())
                throw std::logic_error("asynchat::framer: a framing rule stepped over bytes it was not given");
            rule_progress_ = true;
            if (step.what == rule_step::kind::deliver) {
                if (!deliver(rest.substr(0, step.bytes), sink, epoch)) return {rule_result::state::stopped, pos};
                pos += step.bytes;
                // A new terminator, or bytes given back by unread(): the caller reads the terminator again (and
                // feed() puts the unread bytes in front of input[pos..]).
                if (term_.rule_.get() != rule || !unread_.empty()) return {rule_result::state::switched, pos};
            } else {
                pos += step.bytes;
            }
            break;
        case rule_step::kind::end:
            if (!rule_progress_)
                throw std::logic_error("asynchat::framer: a framing rule ended a message without consuming input");
            rule_progress_ = false;
            if (!fire(sink, epoch)) return {rule_result::state::stopped, pos};
            return {rule_result::state::ended, pos};
        case rule_step::kind::hold:
            // Holding nothing is always allowed: it is how a rule waits for the rest of a payload.
            if (!rest.empty() && rest.size() >= rule->max_hold())
                throw std::logic_error("asynchat::framer: a framing rule held max_hold() bytes or more");
            return {rule_result::state::held, pos};
        case rule_step::kind::fail:
            reset();
            throw framing_error(std::string("asynchat: framing error: ") + step.reason());
        case rule_step::kind::too_long: {
            if (overflow_ == on_overflow::discard) {
                // Nothing consumed yet: the rule is asked again, with no bound, and its payload is dropped.
                if (!overflow(step.bytes, sink, epoch)) return {rule_result::state::stopped, pos};
                if (term_.rule_.get() != rule || !unread_.empty()) return {rule_result::state::switched, pos};
                break;
            }
            const std::size_t limit = max_message_;
            reset();
            throw message_too_long(limit, step.bytes);
        }
        }
    }
}

// The carried bytes of a rule that held, followed by just enough of data for the rule to decide (max_hold bytes):
// only that small window is copied. Returns where in data to go on, stop (everything consumed, or the framer was
// reset), or `more` with `consumed` set when the message ended inside the carried bytes.
std::size_t framer::drain_rule_carry(std::string_view h, std::string_view data, framer_sink& sink,
                                     std::uint64_t epoch, std::size_t& consumed) {
    const std::size_t take = std::min(data.size(), term_.rule_->max_hold());
    std::string window;
    window.reserve(h.size() + take);
    window.append(h).append(data.substr(0, take));
    const rule_result r = run_rule(window, 0, sink, epoch);
    if (r.how == rule_result::state::stopped) return stop;
    // Past the carried bytes: data itself goes on from there (the rule is asked again at that point if it held).
    if (r.pos >= h.size()) return r.pos - h.size();
    if (r.how == rule_result::state::held) {
        // Holding inside the carried bytes means fewer than max_hold bytes follow: all of data is in the window.
        carry_.assign(window, r.pos, std::string::npos);
        return stop;
    }
    consumed = r.pos;
    return more;
}

} // namespace asynchat
