#pragma once
// asynchat::framer — the input half of Python's asynchat.async_chat (the loop in handle_read) as a sans-I/O
// engine: bytes go in through feed(), messages come out through a framer_sink. No socket is touched, so the same
// engine serves every transport and can be tested on byte strings alone.
//
// Semantics are Python's, event for event (tests/chat/test_framer_python_oracle.cpp runs both side by side):
//   * none, an empty delimiter and a count of 0 are "no terminator": every byte is collected, nothing is found;
//   * a count terminator counts down across feeds, calls found_terminator when it reaches 0 and stays at 0
//     (so the bytes after it are collected as with none) until the user sets another terminator;
//   * a delimiter is found even when split across feeds; two adjacent delimiters give found_terminator with
//     nothing collected in between;
//   * the terminator is re-read after every callback, so one set inside found_terminator applies to the rest of
//     the bytes already fed (the HTTP header -> Content-Length body switch).
// As in Python, collect_incoming_data is never called with zero bytes. Unlike Python, the cost is linear in the
// input however it is segmented (Python re-concatenates and re-searches its whole buffer on every recv): each
// byte is searched O(1) times with memchr-based routines; the only extra work is O(delimiter length) on a feed
// that follows a kept partial delimiter and does not simply continue it.
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace asynchat {

// ---- Pluggable framing: a rule decides where each message ends, for framings Python's three kinds cannot say
// (length prefixes, netstrings, any of several delimiters; framing_rules.hpp has ready-made ones).
//
// The framer asks the rule, over and over, what to do with the input it has not consumed yet, and the rule answers
// with one step at a time:
//   deliver(n)  the next n bytes (1 <= n <= input.size()) are payload: the framer hands them to
//               collect_incoming_data as a view, never copied;
//   skip(n)     the next n bytes are framing (a header, a trailer): dropped;
//   end()       the current message is complete: found_terminator (after which the terminator is read again, so a
//               new one set there applies to the rest of the input, as for the built-in kinds);
//   hold()      the rule cannot decide with this input: the framer keeps these bytes (fewer than max_hold() of
//               them) and asks again when more have arrived. hold() must not change the rule's state; a rule given
//               max_hold() bytes or more must not hold (std::logic_error), one given none always may;
//   fail(why)   the input is not this framing: the framer resets and throws framing_error (the channel's
//               handle_error then closes it, since the stream is out of step);
//   too_long(n) the message announced is n bytes, over the framer's max_message (passed to next()): the framer
//               resets and throws message_too_long before any of its payload is read (on_overflow::close), or
//               tells the sink and asks again with max_message 0, dropping what the rule then delivers up to its
//               end() (on_overflow::discard). So too_long, like hold, must not change the rule's state.
// The input may be empty (after the last byte was consumed): that is how a rule says end() for a message whose
// last byte just arrived, or hold() for "nothing more yet". A rule has state (where it is inside a message); the
// framer calls start() when the rule becomes the terminator (and on reset()), and the rule resets itself after
// end(). Contract violations are std::logic_error, never a hang: deliver/skip of 0 bytes or more than given, end()
// with nothing consumed since the last end(), hold() of max_hold() bytes or more.
struct rule_step {
    enum class kind : unsigned char { deliver, skip, end, hold, fail, too_long };
    kind what;
    // Two words, so that a step comes back in registers: the framer asks for several per message.
    union {
        std::size_t bytes = 0; // deliver, skip: how many; too_long: the length announced
        const char* why;       // fail
    };
    // fail: a static string saying what was wrong; "" for the other kinds.
    const char* reason() const noexcept { return what == kind::fail ? why : ""; }

    static rule_step deliver(std::size_t n) noexcept { return with(kind::deliver, n); }
    static rule_step skip(std::size_t n) noexcept { return with(kind::skip, n); }
    static rule_step end() noexcept { return with(kind::end, 0); }
    static rule_step hold() noexcept { return with(kind::hold, 0); }
    static rule_step fail(const char* reason) noexcept {
        rule_step s;
        s.what = kind::fail;
        s.why = reason;
        return s;
    }
    static rule_step too_long(std::size_t announced) noexcept { return with(kind::too_long, announced); }

private:
    static rule_step with(kind k, std::size_t n) noexcept {
        rule_step s;
        s.what = k;
        s.bytes = n;
        return s;
    }
};

class framing_rule {
public:
    virtual ~framing_rule() = default;
    // The next step over input (the bytes not yet consumed). max_message is the framer's bound (0: none).
    virtual rule_step next(std::string_view input, std::size_t max_message) = 0;
    // The most bytes the rule may hold between feeds (see hold above).
    virtual std::size_t max_hold() const noexcept = 0;
    // The rule became the terminator: forget any message in progress.
    virtual void start() noexcept = 0;
    // For terminator's operator<<: "netstring", "length_prefixed(4, big)".
    virtual std::string describe() const = 0;
};

// Python's repr of a delimiter: b'\r\n'.
std::string terminator_repr(std::string_view delimiter);

// Thrown by framer::feed when a framing rule rejects its input (rule_step::fail). The framer has been reset().
class framing_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// What ends a message: nothing, a byte string of any length, or a number of bytes — the values Python's
// set_terminator accepts (None, bytes, int); get_terminator() of a count gives the bytes still to come — or a
// framing rule (above).
class terminator {
public:
    enum class kind : unsigned char { none, delimiter, count, rule };

    terminator() noexcept = default;                         // None
    terminator(std::nullptr_t) noexcept {}                   // set_terminator(nullptr) reads as Python's None
    terminator(std::string bytes) : kind_(kind::delimiter), bytes_(std::move(bytes)) {}
    terminator(std::string_view bytes) : kind_(kind::delimiter), bytes_(bytes) {}
    // A null pointer is None; anything else is a NUL-terminated delimiter (use string_view for embedded NULs).
    terminator(const char* bytes) : kind_(bytes ? kind::delimiter : kind::none), bytes_(bytes ? bytes : "") {}

    // A framing rule; the terminator shares it, so the rule's state lives as long as any copy.
    template <std::derived_from<framing_rule> R>
    terminator(std::shared_ptr<R> r) : kind_(r ? kind::rule : kind::none), rule_(std::move(r)) {}

    static terminator none() noexcept { return {}; }
    static terminator rule(std::shared_ptr<framing_rule> r) { return terminator(std::move(r)); }
    static terminator delimiter(std::string bytes) { return terminator(std::move(bytes)); }
    // Any integer type, so that a negative int is rejected (Python's ValueError) instead of silently becoming
    // a huge std::size_t.
    template <std::integral I>
        requires(!std::same_as<std::remove_cv_t<I>, bool>)
    static terminator count(I n) {
        if constexpr (std::is_signed_v<I>) {
            if (n < 0)
                throw std::invalid_argument("asynchat::terminator: the number of received bytes must be positive");
        }
        terminator t;
        t.kind_ = kind::count;
        t.count_ = static_cast<std::size_t>(n);
        return t;
    }

    kind type() const noexcept { return kind_; }
    bool is_none() const noexcept { return kind_ == kind::none; }
    bool is_delimiter() const noexcept { return kind_ == kind::delimiter; }
    bool is_count() const noexcept { return kind_ == kind::count; }
    bool is_rule() const noexcept { return kind_ == kind::rule; }
    // The rule; null unless is_rule().
    framing_rule* get_rule() const noexcept { return rule_.get(); }
    // The delimiter bytes; empty unless is_delimiter().
    std::string_view bytes() const noexcept { return bytes_; }
    // The bytes still to collect before found_terminator; 0 unless is_count().
    std::size_t remaining() const noexcept { return count_; }

    // Python's truthiness, which is what handle_read tests: false for None, b'' and 0. A rule is true.
    explicit operator bool() const noexcept {
        return kind_ == kind::delimiter ? !bytes_.empty() : kind_ == kind::count ? count_ != 0 : kind_ == kind::rule;
    }

    // Exact value equality, as Python's ==: None, b'' and 0 all mean "no terminator" but are different values.
    // Two rule terminators are equal when they share the same rule object.
    friend bool operator==(const terminator&, const terminator&) = default;
    // Python's repr: None, b'\r\n', 42.
    friend std::ostream& operator<<(std::ostream& os, const terminator& t);

private:
    friend class framer;
    kind kind_ = kind::none;
    std::string bytes_;
    std::size_t count_ = 0;
    std::shared_ptr<framing_rule> rule_;
};

// What the framer does with a message longer than max_message (set_max_message's second argument).
//   close    throw message_too_long (the framer resets; the channel's handle_error closes it). The default.
//   discard  tell the sink once (framer_sink::message_length_exceeded), drop the rest of that message — up to the
//            next delimiter, the rest of a count, the rest of a rule's message (a length-prefixed or netstring
//            payload is stepped over as it arrives, never collected) — and deliver the next message as usual.
//            Netty's failFast=false, Twisted's lineLengthExceeded. found_terminator is not called for the dropped
//            message, so a count terminator is set again to the count the dropped message had. With no
//            terminator the stream is one message, so everything after the overflow is dropped until
//            set_terminator.
enum class on_overflow : unsigned char { close, discard };

// Thrown by framer::feed when a message would exceed max_message bytes. The framer has then been reset(); the
// stream is out of step with its framing, so the channel should be closed.
class message_too_long : public std::length_error {
public:
    message_too_long(std::size_t limit, std::size_t attempted);
    std::size_t limit() const noexcept { return limit_; }
    // The message length the rejected bytes would have made.
    std::size_t attempted() const noexcept { return attempted_; }

private:
    std::size_t limit_;
    std::size_t attempted_;
};

// Receives the framer's output. async_chat is one: its subclasses override collect_incoming_data and
// found_terminator (and message_length_exceeded, for on_overflow::discard).
struct framer_sink {
    virtual ~framer_sink() = default;
    // A piece of the current message, never empty. The view is valid only during the call: it points into the
    // buffer given to feed() (or, for the few carried bytes of a split delimiter, into the framer).
    virtual void collect_incoming_data(std::string_view data) = 0;
    virtual void found_terminator() = 0;
    // on_overflow::discard only: the current message is over max_message. length is how long it would have been
    // with the bytes that crossed the bound (at least max_message + 1; for a length-prefixed or netstring rule,
    // the length announced). Called once per over-long message, as soon as the bound is crossed and before any
    // of the offending bytes are handed out; the pieces already collected belong to that message and should be
    // dropped here. Nothing more of that message reaches the sink: neither collect_incoming_data nor
    // found_terminator. The default does nothing. May call set_terminator (which ends the discard) or reset.
    virtual void message_length_exceeded(std::size_t length) { (void)length; }
};

// Given haystack, the length of the longest proper prefix of needle that haystack ends with (Python's
// find_prefix_at_end): ("qwerty\r", "\r\n") -> 1, ("qwertydkjf", "\r\n") -> 0. Never needle.size() or more, so
// a needle of fewer than 2 bytes always gives 0.
std::size_t find_prefix_at_end(std::string_view haystack, std::string_view needle) noexcept;

// The framing engine. State kept between feeds:
//
//     fed buffer (caller's, borrowed for one feed() call)
//     +--------------------------------------------+-----------+
//     | message bytes ... delimiter ... message ... | "\r\n." ? |   <- ends with a possible partial delimiter
//     +--------------------------------------------+-----------+
//       handed to the sink as views, never copied         |
//                                                         v  copied
//     carry_ (owned)   +--------+
//                      | "\r\n."|   < delimiter length bytes; logically precedes the next fed buffer
//                      +--------+
//
// So memory is O(delimiter length) whatever the message sizes: the message itself is the sink's business,
// bounded by max_message.
class framer {
public:
    framer() = default;
    explicit framer(terminator t, std::size_t max_message = 0) : max_message_(max_message) { set_terminator(std::move(t)); }

    // Safe to call from inside the sink's callbacks: takes effect for the bytes not yet processed, including
    // the rest of the buffer being fed. Bytes carried from an earlier feed are framed by the new terminator,
    // as in Python, where they are still in ac_in_buffer. (From inside collect_incoming_data it applies to the
    // bytes not yet handed out; Python's loop can differ there, handing out carried and new bytes in one call,
    // and after a count overwriting the change with 0. found_terminator is the place to change it.)
    void set_terminator(terminator t) {
        term_ = std::move(t);
        discarding_ = false;   // the protocol has taken the framing in hand: what follows is a new message
        carry_is_prefix_ = false;
        rule_progress_ = false;
        if (term_.rule_) term_.rule_->start();
    }
    const terminator& get_terminator() const noexcept { return term_; }

    // Most bytes collected between two found_terminator calls; 0 means unlimited. Exceeding it throws
    // message_too_long (on_overflow::close, the default) or starts a discard (on_overflow::discard, see there),
    // either way before any of the offending bytes reach the sink: the bound holds while bytes arrive, not only
    // when a terminator does. With no terminator the whole stream is one message, so the limit then bounds the
    // stream.
    void set_max_message(std::size_t n, on_overflow mode = on_overflow::close) noexcept {
        max_message_ = n;
        overflow_ = mode;
    }
    std::size_t max_message() const noexcept { return max_message_; }
    on_overflow overflow_mode() const noexcept { return overflow_; }

    // Frames bytes, calling the sink zero or more times. A callback may call set_terminator, set_max_message or
    // reset (after reset the rest of this buffer is dropped, as discard_buffers does in Python); it must not
    // call feed on the same framer (std::logic_error) or destroy it. If a callback throws, the exception
    // propagates and the bytes of this call not yet delivered are lost.
    void feed(std::string_view bytes, framer_sink& sink);

    // Puts bytes back in front of the input: they are framed next, before every byte not yet handed out (the
    // carried bytes and the rest of the buffer being fed). This is how a protocol leaves a raw mode with bytes it
    // did not consume (Twisted's setLineMode(extra)): from collect_incoming_data it calls set_terminator and
    // unread(rest). Inside a callback it takes effect when the framer next consults its terminator: after the
    // callback returns, or after found_terminator when the current piece already ended at a terminator. Outside
    // a callback the bytes wait for the next feed(). The re-framed bytes are copied once; nothing else is. The
    // usual case, the tail of the piece just handed to collect_incoming_data given back as it is, costs no copy
    // at all: the framer steps back over those bytes of the buffer being fed, so a protocol that switches mode
    // on every line of a large read stays linear instead of copying the rest of the read at each switch.
    void unread(std::string_view bytes);

    // Python's discard_buffers, input side: drops the carried bytes and any unread() bytes, and restarts the
    // message-length count. The terminator is kept.
    void reset() noexcept;

    // The carried bytes: a possible start of the delimiter, not yet delivered (Python's ac_in_buffer between
    // two reads).
    std::string_view pending() const noexcept { return carry_; }
    // Bytes collected since the last found_terminator (what max_message bounds); 0 while discarding.
    std::size_t collected() const noexcept { return collected_; }
    // Dropping the rest of an over-long message (on_overflow::discard). Ended by its terminator, set_terminator
    // or reset.
    bool discarding() const noexcept { return discarding_; }

private:
    static constexpr std::size_t stop = static_cast<std::size_t>(-1);

    static constexpr std::size_t restart = static_cast<std::size_t>(-2);
    static constexpr std::size_t more = static_cast<std::size_t>(-3);

    std::size_t drain_carry(std::string& head, bool is_prefix, std::string_view data, framer_sink& sink,
                            std::uint64_t epoch, std::string& head_left);
    void feed_in_order(std::string_view input, std::size_t pos, framer_sink& sink, std::uint64_t epoch);
    std::size_t scan(std::string_view data, std::size_t pos, framer_sink& sink, std::uint64_t epoch);
    [[gnu::noinline]] std::size_t scan_rule(std::string_view data, std::size_t pos, framer_sink& sink,
                                            std::uint64_t epoch);
    struct rule_result {
        enum class state : unsigned char { ended, switched, held, stopped } how;
        std::size_t pos;
    };
    rule_result run_rule(std::string_view input, std::size_t pos, framer_sink& sink, std::uint64_t epoch);
    std::size_t drain_rule_carry(std::string_view h, std::string_view data, framer_sink& sink, std::uint64_t epoch,
                                 std::size_t& consumed);
    // Inline, with the throw out of line: it runs once per piece delivered. Only the close mode throws here
    // (before a count is counted down); deliver() starts a discard.
    void check_limit(std::size_t n) {
        if (max_message_ != 0 && collected_ + n > max_message_ && overflow_ == on_overflow::close) [[unlikely]]
            throw_too_long(collected_ + n);
    }
    [[noreturn, gnu::cold]] void throw_too_long(std::size_t attempted);
    // A message over max_message: throws (close) or starts a discard and tells the sink (discard). Returns false
    // when the sink's callback reset the framer.
    [[gnu::cold]] bool overflow(std::size_t attempted, framer_sink& sink, std::uint64_t epoch);
    bool deliver(std::string_view bytes, framer_sink& sink, std::uint64_t epoch);
    bool fire(framer_sink& sink, std::uint64_t epoch);

    terminator term_;
    std::string carry_;
    std::string unread_;   // bytes given back by unread(), framed before anything not yet handed out
    // During feed(): the bytes being framed, and an unread() of some of them not copied yet (rewind_len_ bytes
    // at rewind_at_): when framing stopped right after them, the framer steps back instead of copying.
    std::string_view input_;
    std::size_t rewind_at_ = 0;
    std::size_t rewind_len_ = 0;
    void materialize_rewind();
    std::size_t max_message_ = 0;
    std::size_t collected_ = 0;
    std::uint64_t epoch_ = 0;   // bumped by reset(), so a feed in progress can tell that it must stop
    bool carry_is_prefix_ = false;   // carry_ is a prefix of term_'s delimiter (no set_terminator since it was kept)
    bool rule_progress_ = false;     // the rule consumed input since its last end(): an end() now is a message
    bool feeding_ = false;
    bool discarding_ = false;        // on_overflow::discard: dropping the rest of an over-long message
    std::size_t discarded_count_ = 0; // the count terminator of the message being discarded, set again at its end
    on_overflow overflow_ = on_overflow::close;
};

} // namespace asynchat
