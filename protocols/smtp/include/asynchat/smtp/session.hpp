#pragma once
// asynchat::smtp::smtp_session — the server side of an SMTP conversation (an RFC 5321 subset) as a sans-I/O
// engine: command lines in, replies out, through a session_events sink. No socket and no framing: the channel
// (smtp_channel, server.hpp) frames the stream into CRLF lines and hands each one over, so unit tests and fuzzers
// drive the same engine byte by byte through string_transport.
//
// Commands (verbs case-insensitive): EHLO, HELO, MAIL FROM:<addr> [SIZE=n] [BODY=7BIT|8BITMIME] (the null
// sender <> too), RCPT TO:<addr>, DATA, RSET, NOOP, VRFY (252), HELP (214), QUIT (221), and STARTTLS when the
// application offers it. EHLO answers SIZE, 8BITMIME, PIPELINING, STARTTLS (offered and not yet in TLS) and HELP.
//
// STARTTLS (RFC 3207): protocols do not depend on the TLS layer, so the application hands a start_tls callback
// in smtp_options (`asynchat serve smtp --tls-cert` passes asynchat::tls::start_tls). The session answers
// "220 2.0.0 Ready to start TLS", asks its channel to start TLS (session_events::start_tls), and forgets
// everything the client told it (RFC 3207 4.2: a new EHLO is required). Until the channel says the handshake is
// done (tls_started), every line is dropped unanswered: a command pipelined after STARTTLS in plaintext was
// never protected, and acting on it after the switch is the STARTTLS command injection (CVE-2011-0411). The
// TLS layer discards those bytes itself; the session does not rely on it. STARTTLS with an argument is 501; a
// second one, once in TLS, is 503; when not offered it is an unknown command (500), as before.
//
// DATA is framed by CRLF lines only: the line that is exactly "." ends it, a leading "." is removed from any other
// line (dot-unstuffing), and every line keeps its CRLF in the message (the last one's included, RFC 5321
// 4.1.1.4). Bare LF and bare CR inside a line are data, so only <CRLF>.<CRLF> ends a message: <LF>.<LF>,
// <LF>.<CRLF>, <CRLF>.<LF> and <CR>.<CR> do not (the SMTP smuggling attacks, CVE-2023-51764/-51765/-51766).
//
// Limits: a command line is at most max_command_line bytes with its CRLF (500 otherwise, the line dropped); DATA
// lines are not commands and have no length bound of their own, only the message's: SIZE= over max_size is
// refused at MAIL (552), and a message that turns out longer is read to its end, stored nowhere, and refused
// (552). At most max_recipients RCPTs per transaction (452 after that).
//
// When the terminating "." arrives the session hands the envelope to events.deliver() and waits: no line may be
// fed until delivered(reply) is called with the reply for it (the channel holds the pipelined bytes meanwhile).
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace asynchat {
class async_chat;
}

namespace asynchat::smtp {

struct smtp_options {
    std::string hostname = "localhost";               // in the greeting and the EHLO reply
    std::size_t max_size = 33554432;                  // bytes of one message (after dot-unstuffing)
    std::size_t max_command_line = 512;               // bytes of a command line, CRLF included (RFC 5321 4.5.3.1.4)
    std::size_t max_recipients = 1000;                // RCPTs in one transaction
    std::chrono::duration<double> idle_timeout{300};  // 421 and close after this long without a byte; 0: never
    // STARTTLS offered when set: called with the channel once the "220 Ready to start TLS" is queued; it installs
    // TLS to start after that reply (asynchat::tls::start_tls). Unset: no STARTTLS (500, as an unknown command).
    std::function<void(async_chat&)> start_tls{};
    // MAIL, RCPT and DATA before STARTTLS get "530 5.7.0 Must issue a STARTTLS command first" (RFC 3207 4).
    bool require_tls = false;
};

// One message's envelope and content, as aiosmtpd's Envelope.
struct envelope {
    std::string mail_from;                  // without the angle brackets; "" is the null sender <>
    std::vector<std::string> mail_options;  // MAIL's parameters as given ("SIZE=123", "BODY=8BITMIME")
    std::vector<std::string> rcpt_tos;      // without the angle brackets, in order
    std::string content;                    // the message after dot-unstuffing, its last CRLF included
};

// What the session asks of its channel.
struct session_events {
    virtual ~session_events() = default;
    // One complete reply, its CRLFs included (several lines for EHLO).
    virtual void send_reply(std::string reply) = 0;
    // The message is complete: store it, then call smtp_session::delivered with the reply. The envelope is the
    // session's; move what you keep out of it.
    virtual void deliver(envelope& message) = 0;
    // Close once the replies sent so far have gone out (QUIT, idle timeout).
    virtual void close_after_replies() = 0;
    // STARTTLS accepted: its 220 has been handed to send_reply; TLS is to start once that reply is sent, and
    // nothing received before the switch is to be processed. Call tls_started() when the handshake is done.
    virtual void start_tls() = 0;
};

class smtp_session {
public:
    // tls_starting: STARTTLS answered, the handshake not yet done; lines are dropped unanswered.
    enum class state { command, data, delivering, tls_starting, closed };

    smtp_session(const smtp_options& options, session_events& events) : options_(options), events_(events) {}

    // The greeting (220).
    void start();
    // One line without its CRLF. Not in state delivering (std::logic_error) and ignored once closed.
    void line_received(std::string_view line);
    // The line being received is longer than max_line_length(); its bytes are dropped up to the next CRLF.
    void line_too_long();
    // The reply to the message handed to deliver() ("250 ..." accepted, "451 ..." failed): sent, and the
    // session takes commands again.
    void delivered(std::string_view reply);
    // The TLS handshake after STARTTLS is done: the session takes commands again, from a new EHLO.
    void tls_started();
    // The client was silent for idle_timeout: 421, then close.
    void timeout();
    // The server is stopping (RFC 5321 §3.8): "421 HOSTNAME Service not available, closing transmission
    // channel", then close. Between commands or in an envelope that is at once (the client still has the message
    // and retries it); while a message arrives (DATA) or is being delivered, once its own reply has gone — so a
    // message is acknowledged (250) only after it is stored, and none that was acknowledged is lost.
    void shutdown();

    // The bound for the next line's framing, without its CRLF: a command line's, or in DATA the bytes the
    // message may still take (never below a line's 998, so that "." is always seen).
    std::size_t max_line_length() const noexcept;

    state current_state() const noexcept { return state_; }
    // The name the client gave in HELO/EHLO ("" before), and whether it was EHLO.
    const std::string& helo_name() const noexcept { return helo_; }
    bool extended() const noexcept { return extended_; }
    // STARTTLS was accepted (the conversation is, or is about to be, over TLS).
    bool tls() const noexcept { return tls_; }
    // STARTTLS is in the EHLO reply: offered by the application and not yet done.
    bool offers_starttls() const noexcept { return options_.start_tls && !tls_; }
    const envelope& current_envelope() const noexcept { return envelope_; }
    const smtp_options& options() const noexcept { return options_; }

    // Replies sent for errors (5xx and 4xx), for a server's statistics.
    std::size_t errors() const noexcept { return errors_; }

private:
    // smtpd's names, one method per verb.
    void smtp_HELO(std::string_view arg);
    void smtp_EHLO(std::string_view arg);
    void smtp_MAIL(std::string_view arg);
    void smtp_RCPT(std::string_view arg);
    void smtp_DATA(std::string_view arg);
    void smtp_RSET(std::string_view arg);
    void smtp_NOOP(std::string_view arg);
    void smtp_VRFY(std::string_view arg);
    void smtp_HELP(std::string_view arg);
    void smtp_QUIT(std::string_view arg);
    void smtp_STARTTLS(std::string_view arg);

    void data_line(std::string_view line);
    void reply(std::string text);
    void error(std::string text);
    void reset_transaction();
    void after_message_reply(); // a pending shutdown() goes ahead
    bool tls_required();        // --require-tls and no STARTTLS yet: 530 sent

    const smtp_options& options_;
    session_events& events_;
    state state_ = state::command;
    std::string helo_;
    bool extended_ = false;
    bool tls_ = false;
    bool have_mail_ = false;
    bool too_big_ = false;      // in DATA: the message passed max_size; read on to ".", store nothing
    bool shutdown_pending_ = false; // shutdown() during DATA or a delivery: 421 after that message's reply
    envelope envelope_;
    std::size_t errors_ = 0;
};

// The address inside "<...>" at the start of text, and where the text after '>' begins; false when there are no
// brackets or the address holds a space, a control character or a bracket (nothing the header lines built from
// it could be split on).
bool parse_path(std::string_view text, std::string& address, std::size_t& rest);

} // namespace asynchat::smtp
