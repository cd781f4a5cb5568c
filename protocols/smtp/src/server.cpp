#include "asynchat/smtp/server.hpp"

#include <cctype>
#include <cstdio>
#include <ctime>
#include <sstream>

#include <sys/socket.h>

#include <asyncore/log.hpp>
#include <asyncore/loop.hpp>
#include <asyncore/socket_map.hpp>
#include <asynchat/stream_layer.hpp>

namespace asynchat::smtp {

// ---- delivery_completion

delivery_completion::delivery_completion(smtp_channel& channel)
    : channel_(&channel), transaction_(channel.transaction_) {}

void delivery_completion::operator()(std::string_view reply) const {
    if (channel_) channel_->finish_delivery(transaction_, reply);
}

// ---- smtp_server

asyncore::ref<smtp_channel> smtp_server::accept(asyncore::socket sock, asyncore::socket_map* map) {
    auto channel = asyncore::make<smtp_channel>(*this, std::move(sock), map);
    channel->start();
    return channel;
}

std::string smtp_server::process_message(const std::string&, const std::string&, const std::vector<std::string>&,
                                         const std::string&) {
    // smtpd raises NotImplementedError here; a server with nowhere to put mail must not pretend it took it.
    return "554 Error: no delivery configured";
}

void smtp_server::handle_DATA(smtp_channel& channel, envelope& message, delivery_completion done) {
    const std::string reply = process_message(channel.peer(), message.mail_from, message.rcpt_tos, message.content);
    done(reply.empty() ? std::string_view("250 OK") : std::string_view(reply));
}

// ---- smtp_channel

smtp_channel::smtp_channel(smtp_server& server, asyncore::socket_map* map)
    : service_connection("smtp", server.stats(), map), server_(server), session_(server.options(), *this) {
    setup();
}

smtp_channel::smtp_channel(smtp_server& server, asyncore::socket sock, asyncore::socket_map* map)
    : service_connection("smtp", server.stats(), std::move(sock), map), server_(server),
      session_(server.options(), *this) {
    setup();
}

void smtp_channel::setup() {
    // Lines end with CRLF and nothing else: a bare LF or CR is a byte of the line (the smuggling defence).
    set_delimiter("\r\n");
    set_max_line_length(session_.max_line_length());
    if (addr()) {
        std::ostringstream text;
        text << *addr();
        peer_ = text.str();
    }
}

void smtp_channel::start() {
    session_.start();
    start_idle_timer();
}

void smtp_channel::start_idle_timer() {
    start_idle_timeout(server_.options().idle_timeout, idle_watch::reads, [this] {
        if (delivering_) {
            // The wait is the server's, not the client's: the clock starts again.
            start_idle_timer();
            return;
        }
        session_.timeout();
    });
}

void smtp_channel::line_received(std::string_view line) {
    if (closed_) return;
    if (session_.current_state() == smtp_session::state::tls_starting) {
        // A line decoded by a layer whose handshake is done came over TLS; any other was framed from plaintext
        // received after STARTTLS, and the session drops it.
        const stream_layer* layer = get_stream_layer();
        if (layer && layer->handshake_done()) session_.tls_started();
    }
    session_.line_received(line);
    if (!delivering_) set_max_line_length(session_.max_line_length());
}

void smtp_channel::line_length_exceeded(std::size_t) {
    // The line is dropped up to its CRLF either way; the session answers 500, or in DATA marks the message over
    // its size.
    session_.line_too_long();
    set_max_line_length(session_.max_line_length());
}

void smtp_channel::raw_data_received(std::string_view data) {
    // Raw mode is used only to hold what the client pipelined behind a message being delivered. Bounded: the
    // channel does not read while it holds (readable() is false), so this is the rest of one read at most.
    held_.append(data);
}

bool smtp_channel::readable() { return !delivering_ && !peer_eof_ && line_receiver::readable(); }

void smtp_channel::handle_close() {
    if (delivering_ && !closed_) {
        peer_eof_ = true;
        refresh_interest();
        return;
    }
    line_receiver::handle_close();
}

void smtp_channel::close() {
    closed_ = true;
    held_.clear();
    service_connection::close();
}

void smtp_channel::send_reply(std::string reply) {
    if (!reply.empty() && (reply[0] == '4' || reply[0] == '5')) account().count_error();
    push(std::move(reply));
}

void smtp_channel::deliver(envelope& message) {
    delivering_ = true;
    ++transaction_;
    // Whatever follows the "." is held, in order, until the reply to this message is out.
    set_raw_mode();
    refresh_interest();
    server_.handle_DATA(*this, message, delivery_completion(*this));
}

void smtp_channel::handle_shutdown() {
    if (closed_) return;
    session_.shutdown();
}

void smtp_channel::close_after_replies() {
    // Nothing the client sent after QUIT (or the 421) is acted on.
    input_framer().reset();
    held_.clear();
    async_chat::close_when_done();
}

void smtp_channel::start_tls() {
    // The session reset its line bound with the rest of its state.
    set_max_line_length(session_.max_line_length());
    server_.options().start_tls(*this);
}

void smtp_channel::finish_delivery(std::uint64_t transaction, std::string_view reply) {
    if (closed_ || !delivering_ || transaction != transaction_) return;
    delivering_ = false;
    // Called from a completion, outside this channel's handlers: what the loop would do with an exception from a
    // handler (handle_error) is done here, so that a failing send is this channel's end and not the completion
    // queue's.
    try {
        touch_idle(); // the reply is news to the client: its clock starts now
        if (!reply.empty() && reply.front() == '2') account().count_message();
        session_.delivered(reply);
        if (closed_) return; // sending the reply found the client gone
        set_max_line_length(session_.max_line_length());
        refresh_interest();
        // Back to lines, starting with what was held; from a completion outside any read this frames them now.
        set_line_mode(std::exchange(held_, std::string()));
        if (peer_eof_ && !closed_ && !delivering_) async_chat::close_when_done();
    } catch (...) {
        handle_error();
    }
}

// ---- maildir_server

arrival arrival_of(smtp_channel& channel, std::string id) {
    const smtp_session& session = channel.session();
    return {.helo = session.helo_name(),
            .client = channel.addr(),
            .by = session.options().hostname,
            .with = !session.extended() ? "SMTP" : session.tls() ? "ESMTPS" : "ESMTP",
            .id = std::move(id),
            .when = std::chrono::system_clock::now()};
}

namespace {

// A domain's or an address literal's bytes kept, any other written as '_' (the client chose them).
std::string header_word(std::string_view word) {
    std::string out;
    for (const char c : word)
        out += std::isalnum(static_cast<unsigned char>(c)) || std::string_view(".-[]:").find(c) != std::string_view::npos
                   ? c
                   : '_';
    return out.empty() ? std::string("unknown") : out;
}

std::string rfc5322_date(std::chrono::system_clock::time_point when) {
    const std::time_t t = std::chrono::system_clock::to_time_t(when);
    std::tm utc{};
    ::gmtime_r(&t, &utc);
    static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char text[40];
    std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[utc.tm_wday], utc.tm_mday,
                  months[utc.tm_mon], utc.tm_year + 1900, utc.tm_hour, utc.tm_min, utc.tm_sec);
    return text;
}

} // namespace

std::string received_header(const arrival& a, const envelope& message) {
    std::string line = "Received: from " + header_word(a.helo);
    if (a.client && (a.client->family() == AF_INET || a.client->family() == AF_INET6))
        line += std::string(" ([") + (a.client->family() == AF_INET6 ? "IPv6:" : "") + a.client->host() + "])";
    line += " by " + header_word(a.by) + " with " + a.with;
    if (!a.id.empty()) line += " id " + a.id;
    if (message.rcpt_tos.size() == 1) line += " for <" + message.rcpt_tos.front() + ">";
    line += "; " + rfc5322_date(a.when) + "\r\n";
    return line;
}

std::string delivery_headers(const envelope& message, const arrival& a) {
    std::string head = "Return-Path: <" + message.mail_from + ">\r\nX-Envelope-To: ";
    for (std::size_t i = 0; i < message.rcpt_tos.size(); ++i) {
        if (i) head += ", ";
        head += "<" + message.rcpt_tos[i] + ">";
    }
    head += "\r\n";
    head += received_header(a, message);
    return head;
}

std::string delivery_log_line(const arrival& a, const envelope& message, std::size_t size) {
    const std::time_t t = std::chrono::system_clock::to_time_t(a.when);
    std::tm utc{};
    ::gmtime_r(&t, &utc);
    char date[80]; // room for any int the fields could hold, so the format cannot be cut short
    std::snprintf(date, sizeof date, "%04d-%02d-%02dT%02d:%02d:%02dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                  utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
    std::string line = std::string(date) + " smtp delivered id=" + a.id + " client=" +
                       (a.client ? a.client->host() : std::string("-")) + " from=<" + message.mail_from + "> to=";
    for (std::size_t i = 0; i < message.rcpt_tos.size(); ++i) line += (i ? ",<" : "<") + message.rcpt_tos[i] + ">";
    return line + " size=" + std::to_string(size);
}

void maildir_server::handle_DATA(smtp_channel& channel, envelope& message, delivery_completion done) {
    std::string name = maildir_.next_name();
    const arrival here = arrival_of(channel, name);
    std::string head = delivery_headers(message, here);
    // Made now, while the envelope is at hand; written only once the message is safe.
    std::string logged = access_log_ ? delivery_log_line(here, message, message.content.size()) : std::string();
    maildir_.deliver(
        std::move(head), std::move(message.content),
        [done, log = access_log_, logged = std::move(logged), wanted = name](const delivery_result& r) {
            if (r.ok) {
                if (log) {
                    // Another process took the name meanwhile (maildir::deliver): the line says the file's.
                    if (r.name != wanted) {
                        const auto at = logged.find(" id=" + wanted + " ");
                        std::string fixed = logged;
                        if (at != std::string::npos) fixed.replace(at + 4, wanted.size(), r.name);
                        log->write(fixed);
                    } else {
                        log->write(logged);
                    }
                }
                done("250 OK: queued as " + r.name);
                return;
            }
            asyncore::log(asyncore::log_level::error, "asynchat: smtp: delivery failed: " + r.error);
            done("451 Requested action aborted: local error in processing");
        },
        std::move(name));
}

std::string over_capacity_reply(std::string_view hostname) {
    std::string reply = "421 ";
    reply.append(hostname).append(" Service not available, closing transmission channel\r\n");
    return reply;
}

} // namespace asynchat::smtp
