#include "asynchat/smtp/client.hpp"

#include <algorithm>
#include <cctype>

#include <asyncore/loop.hpp>
#include <asynchat/stream_layer.hpp>

namespace asynchat::smtp {

std::string wire_data(std::string_view message) {
    std::string out;
    out.reserve(message.size() + message.size() / 32 + 8);
    bool line_start = true;
    for (std::size_t i = 0; i < message.size(); ++i) {
        const char c = message[i];
        if (line_start && c == '.') out += '.';
        line_start = false;
        if (c == '\n') {
            // A bare LF is a line ending on the local side: CRLF on the wire.
            if (i == 0 || message[i - 1] != '\r') out += '\r';
            out += '\n';
            line_start = true;
            continue;
        }
        out += c;
    }
    if (!line_start) out += "\r\n";
    out += ".\r\n";
    return out;
}

smtp_client::smtp_client(outgoing_message message, asyncore::socket_map* map)
    : line_receiver(map), message_(std::move(message)) {
    set_delimiter("\r\n");
    // A server's reply line is short (RFC 5321: 512 bytes); this leaves room for chatty ones.
    set_max_line_length(4096);
}

void smtp_client::handle_connect() {}

void smtp_client::send_command(std::string command) {
    command_ = command;
    push(command + "\r\n");
}

void smtp_client::fail(server_reply reply) {
    if (!failure_) failure_ = std::move(reply);
    quit();
}

void smtp_client::quit() {
    if (step_ == step::quit || step_ == step::done) return;
    step_ = step::quit;
    send_command("QUIT");
}

void smtp_client::line_length_exceeded(std::size_t) {
    failure_ = server_reply{0, "reply line too long"};
    close();
}

void smtp_client::line_received(std::string_view line) {
    if (step_ == step::done) return;
    if (tls_handshaking_) {
        // Framed from bytes the layer did not decode: plaintext after the 220, never the server's over TLS.
        const stream_layer* layer = get_stream_layer();
        if (!layer || !layer->handshake_done()) return;
        tls_handshaking_ = false;
    }
    const bool shaped = line.size() >= 3 && std::all_of(line.begin(), line.begin() + 3, [](char c) {
                            return std::isdigit(static_cast<unsigned char>(c));
                        }) && (line.size() == 3 || line[3] == ' ' || line[3] == '-');
    if (!shaped || (partial_lines_ > 0 && line.substr(0, 3) != partial_.text.substr(0, 3))) {
        failure_ = server_reply{0, "malformed reply: " + std::string(line.substr(0, 80))};
        close();
        return;
    }
    if (partial_lines_++ > 0) partial_.text += '\n';
    partial_.text.append(line);
    if (line.size() > 3 && line[3] == '-') {
        if (partial_lines_ > max_reply_lines) {
            failure_ = server_reply{0, "reply of more than " + std::to_string(max_reply_lines) + " lines"};
            close();
        }
        return;
    }
    partial_.code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    server_reply reply = std::move(partial_);
    partial_ = {};
    partial_lines_ = 0;
    if (on_reply) on_reply(command_, reply);
    reply_complete(reply);
}

void smtp_client::send_mail_from() {
    step_ = step::mail;
    std::string command = "MAIL FROM:<" + message_.mail_from + ">";
    if (server_size_) command += " SIZE=" + std::to_string(message_.data.size());
    const bool eight_bit = std::any_of(message_.data.begin(), message_.data.end(),
                                       [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
    if (server_8bitmime_ && eight_bit) command += " BODY=8BITMIME";
    send_command(std::move(command));
}

void smtp_client::reply_complete(const server_reply& reply) {
    const int code = reply.code;
    switch (step_) {
    case step::greeting:
        if (code != 220) return fail(reply);
        step_ = step::ehlo;
        send_command("EHLO " + message_.helo_name);
        return;
    case step::ehlo:
        if (code == 250) {
            // The extensions, one per line after the first: "250-SIZE 1000", "250 8BITMIME". After STARTTLS
            // only the ones said over TLS count.
            server_size_ = server_8bitmime_ = server_starttls_ = false;
            std::size_t at = 0;
            while (at < reply.text.size()) {
                std::size_t end = reply.text.find('\n', at);
                if (end == std::string::npos) end = reply.text.size();
                std::string keyword = reply.text.substr(std::min(at + 4, end), end - std::min(at + 4, end));
                keyword = keyword.substr(0, keyword.find(' '));
                std::transform(keyword.begin(), keyword.end(), keyword.begin(),
                               [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
                if (keyword == "SIZE") server_size_ = true;
                if (keyword == "8BITMIME") server_8bitmime_ = true;
                if (keyword == "STARTTLS") server_starttls_ = true;
                at = end + 1;
            }
            if (start_tls && !tls_started_) {
                if (!server_starttls_) return fail(server_reply{0, "the server does not offer STARTTLS"});
                step_ = step::starttls;
                send_command("STARTTLS");
                return;
            }
            return send_mail_from();
        }
        if (start_tls && !tls_started_)
            return fail(server_reply{0, "the server does not offer STARTTLS (EHLO refused)"});
        if (code >= 500) {
            step_ = step::helo;
            send_command("HELO " + message_.helo_name);
            return;
        }
        return fail(reply);
    case step::helo:
        if (code != 250) return fail(reply);
        return send_mail_from();
    case step::starttls:
        if (code != 220) return fail(reply);
        tls_started_ = true;
        tls_handshaking_ = true;
        // TLS starts after what is queued (nothing: the STARTTLS went out before its reply came); the EHLO
        // pushed next goes over it.
        start_tls(*this);
        step_ = step::ehlo;
        send_command("EHLO " + message_.helo_name);
        return;
    case step::mail:
        if (code != 250) return fail(reply);
        if (message_.rcpt_tos.empty()) return fail(server_reply{0, "no recipients"});
        step_ = step::rcpt;
        send_command("RCPT TO:<" + message_.rcpt_tos[next_rcpt_++] + ">");
        return;
    case step::rcpt:
        if (code == 250 || code == 251)
            ++accepted_rcpts_;
        else
            refused_.push_back(reply);
        if (next_rcpt_ < message_.rcpt_tos.size()) {
            send_command("RCPT TO:<" + message_.rcpt_tos[next_rcpt_++] + ">");
            return;
        }
        if (accepted_rcpts_ == 0) return fail(reply);
        step_ = step::data;
        send_command("DATA");
        return;
    case step::data:
        if (code != 354) return fail(reply);
        step_ = step::body;
        command_ = ".";
        push(wire_data(message_.data));
        return;
    case step::body:
        if (code != 250) return fail(reply);
        accepted_ = true;
        quit();
        return;
    case step::quit:
        step_ = step::done;
        finished_ = true;
        close_when_done();
        return;
    case step::done: return;
    }
}

void smtp_client::handle_close() {
    if (step_ != step::done && step_ != step::quit && !failure_)
        failure_ = server_reply{0, "connection closed by the server"};
    close();
}

void smtp_client::handle_error() {
    if (!failure_) failure_ = server_reply{0, asyncore::compact_exception()};
    close();
}

void smtp_client::close() {
    step_ = step::done;
    finished_ = true;
    line_receiver::close();
}

} // namespace asynchat::smtp
