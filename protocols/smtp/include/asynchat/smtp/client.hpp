#pragma once
// asynchat::smtp::smtp_client — a channel that sends one message (smtplib's sendmail in asynchat form): EHLO
// (HELO when the server refuses EHLO), MAIL FROM, one RCPT TO per recipient, DATA with the message dot-stuffed,
// QUIT. Each server reply is reported as it arrives; once the channel has closed, accepted() and failure() say
// how it went. A recipient the server refuses is reported and skipped (as smtplib does); the message goes to the
// others, and fails only if every recipient was refused.
//
// Replies are read as RFC 5321 4.2 says: "ddd-text" lines continue a reply, "ddd text" (or "ddd") ends it.
// A reply that is not such a line, or one longer than max_reply_lines lines, ends the conversation.
//
// With start_tls set the client upgrades before MAIL (RFC 3207): EHLO, STARTTLS (a failure, then QUIT, when the
// server does not offer it or refuses it), start_tls(*this) on the 220 — the application installs TLS there —
// then EHLO again, over TLS, and its extensions are the ones that count. A reply line framed before the handshake
// is done was sent in plaintext after the 220 (injected by whoever sits on the path) and is dropped.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asynchat/line/line_receiver.hpp>

namespace asynchat::smtp {

struct outgoing_message {
    std::string helo_name = "localhost";     // what EHLO/HELO say
    std::string mail_from;                   // without brackets; "" is the null sender
    std::vector<std::string> rcpt_tos;       // without brackets
    std::string data;                        // the message as read (LF or CRLF line endings, not dot-stuffed)
};

struct server_reply {
    int code = 0;
    std::string text;   // the reply's lines as received (each "ddd-..." / "ddd ..."), joined with "\n"
};

// The message as it goes on the wire after DATA: line endings normalised to CRLF (a bare LF becomes CRLF), a
// final CRLF added if missing, a '.' doubled at the start of every line, and the terminating ".\r\n".
std::string wire_data(std::string_view message);

class smtp_client : public line::line_receiver {
public:
    static constexpr std::size_t max_reply_lines = 100;

    explicit smtp_client(outgoing_message message, asyncore::socket_map* map = nullptr);

    // Called for every reply with the command it answers ("" for the greeting, "DATA" for the 354, "." for the
    // message's own reply).
    std::function<void(std::string_view command, const server_reply& reply)> on_reply;
    // STARTTLS before MAIL when set (see above): asynchat::tls::start_tls with the server's name, from the
    // application, which links the TLS layer (protocols do not).
    std::function<void(async_chat&)> start_tls;

    // The server accepted the message (250 after the data).
    bool accepted() const noexcept { return accepted_; }
    // The reply (or the local error, code 0) that stopped the transaction, if any.
    const std::optional<server_reply>& failure() const noexcept { return failure_; }
    // The replies to the refused recipients.
    const std::vector<server_reply>& refused() const noexcept { return refused_; }
    // QUIT answered or the connection gone: nothing more will happen.
    bool finished() const noexcept { return finished_; }

    void line_received(std::string_view line) override;
    void line_length_exceeded(std::size_t length) override;
    void handle_connect() override;
    void handle_close() override;
    void handle_error() override;
    void close() override;

private:
    enum class step { greeting, ehlo, helo, starttls, mail, rcpt, data, body, quit, done };
    void reply_complete(const server_reply& reply);
    void send_command(std::string command);
    void fail(server_reply reply);
    void send_mail_from();
    void quit();

    outgoing_message message_;
    step step_ = step::greeting;
    std::size_t next_rcpt_ = 0;
    std::size_t accepted_rcpts_ = 0;
    bool server_size_ = false;
    bool server_8bitmime_ = false;
    bool server_starttls_ = false;
    bool tls_started_ = false;     // start_tls was called
    bool tls_handshaking_ = false; // ...and the layer's handshake is not done yet: lines are dropped
    std::string command_;          // the command the awaited reply answers
    server_reply partial_;         // a multi-line reply being read
    std::size_t partial_lines_ = 0;
    bool accepted_ = false;
    bool finished_ = false;
    std::optional<server_reply> failure_;
    std::vector<server_reply> refused_;
};

} // namespace asynchat::smtp
