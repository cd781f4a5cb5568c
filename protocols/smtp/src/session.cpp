#include "asynchat/smtp/session.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <stdexcept>

namespace asynchat::smtp {

namespace {

// A DATA line may be this long whatever the budget left (RFC 5321's 998 + a margin): the "." that ends the
// message must always be framed, even once the message is over its size.
constexpr std::size_t min_data_line = 1000;

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

bool istarts_with(std::string_view text, std::string_view prefix) noexcept {
    return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// The words of the parameter list after an address ("SIZE=10 BODY=8BITMIME").
std::vector<std::string_view> split_params(std::string_view text) {
    std::vector<std::string_view> words;
    text = trim(text);
    while (!text.empty()) {
        const std::size_t end = text.find(' ');
        words.push_back(text.substr(0, end));
        if (end == std::string_view::npos) break;
        text = trim(text.substr(end));
    }
    return words;
}

} // namespace

bool parse_path(std::string_view text, std::string& address, std::size_t& rest) {
    if (text.empty() || text.front() != '<') return false;
    const std::size_t close = text.find('>');
    if (close == std::string_view::npos) return false;
    const std::string_view inside = text.substr(1, close - 1);
    for (const unsigned char c : inside)
        if (c <= ' ' || c == 0x7f || c == '<') return false;
    address.assign(inside);
    rest = close + 1;
    return true;
}

void smtp_session::start() { reply("220 " + options_.hostname + " ESMTP asynchat"); }

void smtp_session::reply(std::string text) {
    text.append("\r\n");
    events_.send_reply(std::move(text));
}

void smtp_session::error(std::string text) {
    ++errors_;
    reply(std::move(text));
}

void smtp_session::reset_transaction() {
    have_mail_ = false;
    too_big_ = false;
    envelope_ = envelope{};
}

std::size_t smtp_session::max_line_length() const noexcept {
    if (state_ != state::data) return options_.max_command_line > 2 ? options_.max_command_line - 2 : 1;
    if (too_big_) return min_data_line;
    // A line may take what is left of the budget; one byte more is its leading '.' that unstuffing removes.
    const std::size_t left = options_.max_size > envelope_.content.size() ? options_.max_size - envelope_.content.size() : 0;
    return std::max(left + 1, min_data_line);
}

void smtp_session::line_too_long() {
    if (state_ == state::closed || state_ == state::tls_starting) return;
    if (state_ == state::data) {
        // A DATA line over the budget: the message is over max_size; what is left of it is read and dropped.
        too_big_ = true;
        envelope_.content.clear();
        envelope_.content.shrink_to_fit();
        return;
    }
    error("500 Error: line too long");
}

void smtp_session::timeout() {
    if (state_ == state::closed) return;
    error("421 " + options_.hostname + " Error: timeout exceeded");
    state_ = state::closed;
    events_.close_after_replies();
}

void smtp_session::shutdown() {
    if (state_ == state::closed) return;
    if (state_ == state::data || state_ == state::delivering) {
        shutdown_pending_ = true;
        return;
    }
    reply("421 " + options_.hostname + " Service not available, closing transmission channel");
    state_ = state::closed;
    events_.close_after_replies();
}

void smtp_session::after_message_reply() {
    if (!shutdown_pending_) return;
    shutdown_pending_ = false;
    shutdown();
}

void smtp_session::delivered(std::string_view reply_text) {
    if (state_ != state::delivering) throw std::logic_error("smtp_session::delivered: no delivery in progress");
    state_ = state::command;
    reset_transaction();
    if (!reply_text.empty() && reply_text.front() != '2') ++errors_;
    reply(std::string(reply_text));
    after_message_reply();
}

void smtp_session::tls_started() {
    if (state_ != state::tls_starting) return;
    state_ = state::command;
}

bool smtp_session::tls_required() {
    if (!options_.require_tls || tls_) return false;
    error("530 5.7.0 Must issue a STARTTLS command first");
    return true;
}

void smtp_session::line_received(std::string_view line) {
    switch (state_) {
    case state::closed: return;
    // Received before the handshake, so in plaintext, after STARTTLS: never acted on (CVE-2011-0411).
    case state::tls_starting: return;
    case state::delivering:
        throw std::logic_error("smtp_session::line_received: a line fed while a delivery is in progress");
    case state::data: data_line(line); return;
    case state::command: break;
    }
    const std::size_t space = line.find(' ');
    const std::string_view verb = line.substr(0, space);
    const std::string_view arg = space == std::string_view::npos ? std::string_view{} : trim(line.substr(space + 1));
    struct command {
        std::string_view name;
        void (smtp_session::*handler)(std::string_view);
    };
    static constexpr command commands[] = {
        {"EHLO", &smtp_session::smtp_EHLO}, {"HELO", &smtp_session::smtp_HELO}, {"MAIL", &smtp_session::smtp_MAIL},
        {"RCPT", &smtp_session::smtp_RCPT}, {"DATA", &smtp_session::smtp_DATA}, {"RSET", &smtp_session::smtp_RSET},
        {"NOOP", &smtp_session::smtp_NOOP}, {"VRFY", &smtp_session::smtp_VRFY}, {"HELP", &smtp_session::smtp_HELP},
        {"QUIT", &smtp_session::smtp_QUIT}, {"STARTTLS", &smtp_session::smtp_STARTTLS},
    };
    if (verb.empty()) {
        error("500 Error: bad syntax");
        return;
    }
    for (const auto& c : commands) {
        if (iequals(verb, c.name)) {
            (this->*c.handler)(arg);
            return;
        }
    }
    // The verb is not echoed: it is the peer's bytes, and a reply is no place for them.
    error("500 Error: command not recognized");
}

void smtp_session::data_line(std::string_view line) {
    if (line == ".") {
        if (too_big_) {
            state_ = state::command;
            reset_transaction();
            error("552 Error: Too much mail data");
            after_message_reply();
            return;
        }
        state_ = state::delivering;
        events_.deliver(envelope_);
        return;
    }
    if (too_big_) return;
    if (!line.empty() && line.front() == '.') line.remove_prefix(1);
    if (envelope_.content.size() + line.size() + 2 > options_.max_size) {
        too_big_ = true;
        envelope_.content.clear();
        envelope_.content.shrink_to_fit();
        return;
    }
    envelope_.content.append(line).append("\r\n");
}

void smtp_session::smtp_HELO(std::string_view arg) {
    if (arg.empty()) {
        error("501 Syntax: HELO hostname");
        return;
    }
    // A second HELO/EHLO is allowed and resets the transaction (RFC 5321 4.1.4).
    reset_transaction();
    helo_.assign(arg);
    extended_ = false;
    reply("250 " + options_.hostname);
}

void smtp_session::smtp_EHLO(std::string_view arg) {
    if (arg.empty()) {
        error("501 Syntax: EHLO hostname");
        return;
    }
    reset_transaction();
    helo_.assign(arg);
    extended_ = true;
    reply("250-" + options_.hostname + "\r\n250-SIZE " + std::to_string(options_.max_size) +
          "\r\n250-8BITMIME\r\n250-PIPELINING" + (offers_starttls() ? "\r\n250-STARTTLS" : "") + "\r\n250 HELP");
}

void smtp_session::smtp_MAIL(std::string_view arg) {
    if (tls_required()) return;
    if (helo_.empty()) {
        error("503 Error: send HELO first");
        return;
    }
    if (have_mail_) {
        error("503 Error: nested MAIL command");
        return;
    }
    if (!istarts_with(arg, "FROM:")) {
        error("501 Syntax: MAIL FROM:<address>");
        return;
    }
    const std::string_view path = trim(arg.substr(5));
    std::string address;
    std::size_t rest = 0;
    if (!parse_path(path, address, rest)) {
        error("501 Syntax: MAIL FROM:<address>");
        return;
    }
    const auto params = split_params(path.substr(rest));
    if (!params.empty() && !extended_) {
        // Parameters are ESMTP: a HELO client has no business sending them.
        error("501 Syntax: MAIL FROM:<address>");
        return;
    }
    std::vector<std::string> options;
    for (const std::string_view p : params) {
        if (istarts_with(p, "SIZE=")) {
            const std::string_view digits = p.substr(5);
            std::size_t size = 0;
            const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), size);
            const bool all_digits = !digits.empty() && end == digits.data() + digits.size();
            // A number too large for size_t is certainly over the limit; anything not a number is a syntax error.
            if (all_digits && ec == std::errc::result_out_of_range) {
                error("552 Error: message size exceeds fixed maximum message size");
                return;
            }
            if (!all_digits || ec != std::errc()) {
                error("501 Syntax: SIZE=<number>");
                return;
            }
            if (size > options_.max_size) {
                error("552 Error: message size exceeds fixed maximum message size");
                return;
            }
        } else if (istarts_with(p, "BODY=")) {
            const std::string_view body = p.substr(5);
            if (!iequals(body, "7BIT") && !iequals(body, "8BITMIME")) {
                error("501 Error: BODY can only be one of 7BIT, 8BITMIME");
                return;
            }
        } else {
            error("555 MAIL FROM parameters not recognized or not implemented");
            return;
        }
        options.emplace_back(p);
    }
    envelope_.mail_from = std::move(address);
    envelope_.mail_options = std::move(options);
    have_mail_ = true;
    reply("250 OK");
}

void smtp_session::smtp_RCPT(std::string_view arg) {
    if (tls_required()) return;
    if (helo_.empty()) {
        error("503 Error: send HELO first");
        return;
    }
    if (!have_mail_) {
        error("503 Error: need MAIL command");
        return;
    }
    if (!istarts_with(arg, "TO:")) {
        error("501 Syntax: RCPT TO:<address>");
        return;
    }
    const std::string_view path = trim(arg.substr(3));
    std::string address;
    std::size_t rest = 0;
    if (!parse_path(path, address, rest) || address.empty()) {
        error("501 Syntax: RCPT TO:<address>");
        return;
    }
    if (!split_params(path.substr(rest)).empty()) {
        error("555 RCPT TO parameters not recognized or not implemented");
        return;
    }
    if (envelope_.rcpt_tos.size() >= options_.max_recipients) {
        error("452 Error: too many recipients");
        return;
    }
    envelope_.rcpt_tos.push_back(std::move(address));
    reply("250 OK");
}

void smtp_session::smtp_DATA(std::string_view arg) {
    if (tls_required()) return;
    if (helo_.empty()) {
        error("503 Error: send HELO first");
        return;
    }
    if (!arg.empty()) {
        error("501 Syntax: DATA");
        return;
    }
    if (envelope_.rcpt_tos.empty()) {
        error("503 Error: need RCPT command");
        return;
    }
    state_ = state::data;
    reply("354 End data with <CR><LF>.<CR><LF>");
}

void smtp_session::smtp_RSET(std::string_view arg) {
    if (!arg.empty()) {
        error("501 Syntax: RSET");
        return;
    }
    reset_transaction();
    reply("250 OK");
}

// NOOP may carry a string, which is ignored (RFC 5321 4.1.1.9).
void smtp_session::smtp_NOOP(std::string_view) { reply("250 OK"); }

void smtp_session::smtp_VRFY(std::string_view arg) {
    if (arg.empty()) {
        error("501 Syntax: VRFY <address>");
        return;
    }
    reply("252 Cannot VRFY user, but will accept message and attempt delivery");
}

void smtp_session::smtp_HELP(std::string_view) {
    reply(std::string("214 Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP") +
          (offers_starttls() ? " STARTTLS" : ""));
}

void smtp_session::smtp_QUIT(std::string_view arg) {
    if (!arg.empty()) {
        error("501 Syntax: QUIT");
        return;
    }
    reply("221 Bye");
    state_ = state::closed;
    events_.close_after_replies();
}

void smtp_session::smtp_STARTTLS(std::string_view arg) {
    if (!options_.start_tls) {
        error("500 Error: command not recognized");
        return;
    }
    if (tls_) {
        error("503 5.5.1 Error: TLS already active");
        return;
    }
    if (!arg.empty()) {
        error("501 5.5.4 Syntax: STARTTLS");
        return;
    }
    reply("220 2.0.0 Ready to start TLS");
    // RFC 3207 4.2: everything learned from the client before TLS is forgotten, the EHLO name with the rest.
    reset_transaction();
    helo_.clear();
    extended_ = false;
    tls_ = true;
    state_ = state::tls_starting;
    events_.start_tls();
}

} // namespace asynchat::smtp
