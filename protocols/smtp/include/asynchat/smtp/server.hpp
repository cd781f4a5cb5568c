#pragma once
// asynchat::smtp::smtp_server and smtp_channel — Python's smtpd.SMTPServer / SMTPChannel on line_receiver, with
// the sans-I/O smtp_session (session.hpp) as the protocol engine.
//
// smtp_server is the service (not a listener): accept() makes the channel of a connection, as chat_room::join
// does. A porter overrides process_message, as in smtpd:
//
//   struct printer : asynchat::smtp::smtp_server {
//       std::string process_message(const std::string& peer, const std::string& mail_from,
//                                   const std::vector<std::string>& rcpt_tos, const std::string& data) override {
//           std::cout << data;
//           return {};   // "" -> "250 OK"; or a whole reply line, "550 No such user"
//       }
//   };
//
// or, for a delivery that takes time (aiosmtpd's handle_DATA), handle_DATA, which gets a completion to call
// later, on the loop thread. maildir_server (below) is the one `asynchat serve smtp` runs.
//
// While a delivery is in flight the channel takes no further command: the bytes the client pipelined after the
// "." are held (and the channel stops reading) until the completion has sent the reply; then they are processed
// in order. A channel closed meanwhile (the client gone) is kept alive by its completion, which then does nothing.
//
// STARTTLS (options().start_tls set): the channel hands itself to that callback after queueing the 220, and
// takes commands again only once its stream layer reports the handshake done; a line framed before that (sent in
// plaintext after STARTTLS) is dropped (session.hpp).
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asyncore/address.hpp>
#include <asyncore/ref.hpp>
#include <asynchat/access_log.hpp>
#include <asynchat/line/line_receiver.hpp>
#include <asynchat/service_connection.hpp>

#include "maildir.hpp"
#include "session.hpp"

namespace asynchat::smtp {

class smtp_channel;

// The reply to one message, to be called once, on the loop thread. Copyable; calling it after the channel has
// closed does nothing.
class delivery_completion {
public:
    delivery_completion() = default;
    // reply: "250 ..." when the message is stored, "451 ..." (try again) or "554 ..." when not.
    void operator()(std::string_view reply) const;

private:
    friend class smtp_channel;
    explicit delivery_completion(smtp_channel& channel);
    asyncore::ref<smtp_channel> channel_;
    std::uint64_t transaction_ = 0;
};

class smtp_server {
public:
    explicit smtp_server(smtp_options options = {}, service_stats* stats = nullptr)
        : options_(std::move(options)), stats_(stats) {}
    virtual ~smtp_server() = default;
    smtp_server(const smtp_server&) = delete;
    smtp_server& operator=(const smtp_server&) = delete;

    // Makes the channel of an accepted connection and sends the greeting.
    asyncore::ref<smtp_channel> accept(asyncore::socket sock, asyncore::socket_map* map = nullptr);

    // smtpd's process_message: "" accepts ("250 OK"), anything else is the reply line sent instead.
    virtual std::string process_message(const std::string& peer, const std::string& mail_from,
                                        const std::vector<std::string>& rcpt_tos, const std::string& data);
    // The asynchronous form: store the message, then call done(reply) on the loop thread (now or later). The
    // default calls process_message and completes at once.
    virtual void handle_DATA(smtp_channel& channel, envelope& message, delivery_completion done);

    const smtp_options& options() const noexcept { return options_; }
    service_stats* stats() const noexcept { return stats_; }

private:
    smtp_options options_;
    service_stats* stats_;
};

class smtp_channel : public service_connection<line::line_receiver>, private session_events {
public:
    // Without a socket: a test drives it through string_transport. Call start() for the greeting.
    explicit smtp_channel(smtp_server& server, asyncore::socket_map* map = nullptr);
    smtp_channel(smtp_server& server, asyncore::socket sock, asyncore::socket_map* map = nullptr);

    // Sends the greeting and starts the idle timer.
    void start();

    // The peer's address as text ("127.0.0.1:40000"; "" without a socket).
    const std::string& peer() const noexcept { return peer_; }
    smtp_session& session() noexcept { return session_; }
    // A delivery is in flight: the channel is waiting for its completion.
    bool delivering() const noexcept { return delivering_; }

    // line_receiver
    void line_received(std::string_view line) override;
    void line_length_exceeded(std::size_t length) override;
    void raw_data_received(std::string_view data) override;
    // dispatcher
    bool readable() override;
    // The client stopped sending: with a delivery in flight, its reply and the held commands are answered
    // first, then the channel closes. (The channel does not read while delivering, so this is for a transport
    // that reports the end of input regardless.)
    void handle_close() override;
    void close() override;
    // The server is stopping: smtp_session::shutdown (421 now, or after the reply to the message in hand).
    void handle_shutdown() override;

private:
    friend class delivery_completion;
    void setup();
    void start_idle_timer();
    // session_events
    void send_reply(std::string reply) override;
    void deliver(envelope& message) override;
    void close_after_replies() override;
    void start_tls() override;

    void finish_delivery(std::uint64_t transaction, std::string_view reply);

    smtp_server& server_;
    smtp_session session_;
    std::string peer_;
    std::string held_;            // bytes pipelined after the "." while its delivery is in flight
    bool delivering_ = false;
    bool closed_ = false;
    bool peer_eof_ = false;       // read EOF while delivering: close once the held bytes are answered
    std::uint64_t transaction_ = 0;   // numbers the deliveries, so a completion applies to its own only
};

// The server of `asynchat serve smtp`: each accepted message becomes one file in a Maildir, with
//   Return-Path: <from>
//   X-Envelope-To: <r1>, <r2>
//   Received: from HELO ([client]) by HOST with ESMTP id NAME; DATE
// before the data; the 250 is sent once the file is durable (maildir.hpp), 451 if the delivery failed.
class maildir_server : public smtp_server {
public:
    maildir_server(std::filesystem::path dir, asyncore::socket_map& map, smtp_options options = {},
                   service_stats* stats = nullptr, maildir_options delivery = {})
        : smtp_server(std::move(options), stats), maildir_(std::move(dir), map, std::move(delivery)) {}
    // Another worker's server on the same Maildir, delivering with `shared`'s threads (which must outlive it).
    maildir_server(std::filesystem::path dir, asyncore::socket_map& map, smtp_options options, service_stats* stats,
                   maildir_server& shared)
        : smtp_server(std::move(options), stats), maildir_(std::move(dir), map, shared.maildir_) {}

    void handle_DATA(smtp_channel& channel, envelope& message, delivery_completion done) override;
    const maildir& store() const noexcept { return maildir_; }
    // One line per message once it is safely stored (delivery_log_line); null: none. Not owned.
    void log_deliveries_to(access_log* log) noexcept { access_log_ = log; }

private:
    maildir maildir_;
    access_log* access_log_ = nullptr;
};

// What a connection the server will not take (a listener's --max-connections) reads before the close (RFC 5321
// §3.8): "421 HOSTNAME Service not available, closing transmission channel".
std::string over_capacity_reply(std::string_view hostname);

// What a message's Received line records of its arrival (RFC 5321 §4.4).
struct arrival {
    std::string helo;                         // the name the client gave in HELO/EHLO
    std::optional<asyncore::address> client;  // its address: behind a PROXY protocol balancer, the one it named
    std::string by;                           // our hostname (smtp_options::hostname)
    std::string with;                         // "SMTP" (HELO), "ESMTP" (EHLO), "ESMTPS" (EHLO over STARTTLS)
    std::string id;                           // the queue id: the name of the stored file
    std::chrono::system_clock::time_point when = std::chrono::system_clock::now();
};
// The arrival of the message in `channel`'s session now, to be stored under `id`.
arrival arrival_of(smtp_channel& channel, std::string id);

// "Received: from HELO ([ADDRESS]) by HOST with ESMTP id ID[ for <RCPT>]; DATE\r\n" (RFC 5321 §4.4, the date as
// RFC 5322 writes it, in UTC). The recipient is named only when there is one (naming several would tell each
// of the others). The HELO name is the client's word: bytes outside a domain's or an address literal's are
// written as '_', so it can neither end the header nor fake another.
std::string received_header(const arrival& a, const envelope& message);

// The access log's line for a stored message:
//   2026-12-08T01:02:03Z smtp delivered id=NAME client=203.0.113.7 from=<a@x> to=<b@y>,<c@z> size=1234
// (the client "-" when unknown; size: the message's bytes as received, without the lines the server adds).
// Addresses hold no space or control byte (the session refuses them), so the fields split on spaces.
std::string delivery_log_line(const arrival& a, const envelope& message, std::size_t size);

// The header lines maildir_server puts before a message's data: Return-Path, X-Envelope-To, then the Received
// line of `a`.
std::string delivery_headers(const envelope& message, const arrival& a);

} // namespace asynchat::smtp
