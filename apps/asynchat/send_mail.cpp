#include "send_mail.hpp"

#include <charconv>
#include <chrono>
#include <iostream>
#include <iterator>

#include <asyncore/asyncore.hpp>
#include <asyncore/idle_timer.hpp>
#include <asynchat/smtp/client.hpp>

#include "tls_support.hpp"

namespace asynchat_cli {

namespace {

// "HOST:PORT" or "[V6]:PORT", split; false when it is neither.
bool split_host_port(const std::string& text, std::string& host, std::uint16_t& port) {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return false;
    host = text.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    const char* first = text.data() + colon + 1;
    const char* last = text.data() + text.size();
    const auto [end, ec] = std::from_chars(first, last, port);
    return ec == std::errc() && end == last && port != 0;
}

// An address for MAIL/RCPT: nothing the command line could be broken by.
bool plain_address(const std::string& address) {
    for (const unsigned char c : address)
        if (c <= ' ' || c == 0x7f || c == '<' || c == '>') return false;
    return true;
}

} // namespace

void add_send_mail_command(CLI::App& app, send_mail_options& opts) {
    auto* cmd = app.add_subcommand("send-mail", "send the message on stdin to an SMTP server");
    cmd->add_option("--server", opts.server, "the SMTP server, HOST:PORT")
        ->required()
        ->check(CLI::Validator(
            [](std::string& text) {
                std::string host;
                std::uint16_t port = 0;
                if (!split_host_port(text, host, port)) return std::string("expected HOST:PORT, got '") + text + "'";
                try {
                    asyncore::address::inet(host, port);
                } catch (const std::exception& e) {
                    return std::string("cannot use '") + host + "': " + e.what();
                }
                return std::string();
            },
            "HOST:PORT"));
    auto address_check = CLI::Validator(
        [](std::string& a) { return plain_address(a) ? std::string() : "not a plain address: '" + a + "'"; },
        "ADDRESS");
    cmd->add_option("--from", opts.from, "the envelope sender (\"\" for the null sender <>)")
        ->required()
        ->check(address_check);
    cmd->add_option("--to", opts.to, "a recipient (repeat for several)")->required()->check(address_check);
    cmd->add_option("--helo", opts.helo, "the name EHLO/HELO gives")->capture_default_str()->check(address_check);
    cmd->add_option("--timeout", opts.timeout, "seconds without a reply before giving up")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    cmd->add_flag("--verbose,-v", opts.verbose, "print every server reply on stderr");
    auto* starttls = cmd->add_flag("--starttls", opts.starttls,
                                   "upgrade to TLS with STARTTLS before MAIL, verifying the server's certificate; "
                                   "fail if the server does not offer it");
    cmd->add_option("--cacert", opts.cacert,
                    "CA certificates (PEM) to verify the server against (default: the system store)")
        ->check(CLI::Validator([](std::string& path) { return readable_file_error(path); }, "FILE"))
        ->needs(starttls);
    cmd->callback([&opts] {
        if (opts.starttls) opts.tls = client_tls_context(opts.cacert);
        opts.selected = true;
    });
}

int run_send_mail(const send_mail_options& opts) {
    std::string host;
    std::uint16_t port = 0;
    split_host_port(opts.server, host, port);
    asynchat::smtp::outgoing_message message;
    message.helo_name = opts.helo;
    message.mail_from = opts.from;
    message.rcpt_tos = opts.to;
    message.data.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());

    try {
        asyncore::socket_map map;
        auto client = asyncore::make<asynchat::smtp::smtp_client>(std::move(message), &map);
        // The certificate must name the host as --server gives it.
        client->start_tls = start_tls_callback(opts.tls, host);
        asyncore::idle_timer deadline;
        client->on_reply = [&](std::string_view command, const asynchat::smtp::server_reply& reply) {
            deadline.touch();
            if (opts.verbose) std::cerr << (command.empty() ? "(greeting)" : command) << " -> " << reply.text << '\n';
        };
        const auto where = asyncore::address::inet(host, port);
        client->create_socket(where.family());
        client->connect(where);
        deadline.start(map, std::chrono::duration<double>(opts.timeout), [&] {
            std::cerr << "asynchat: send-mail: no reply from " << opts.server << " in " << opts.timeout << " s\n";
            client->close();
        });
        // Until the conversation is over; the deadline's timer alone must not keep the loop going.
        while (!client->finished()) asyncore::loop({.map = &map, .count = 1});
        deadline.stop();
        for (const auto& r : client->refused()) std::cerr << "asynchat: send-mail: refused: " << r.text << '\n';
        if (client->accepted() && client->refused().empty()) return 0;
        if (const auto& f = client->failure())
            std::cerr << "asynchat: send-mail: " << (f->code ? f->text : "error: " + f->text) << '\n';
        else if (!client->accepted())
            std::cerr << "asynchat: send-mail: the server did not accept the message\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "asynchat: send-mail: " << e.what() << '\n';
        return 1;
    }
}

} // namespace asynchat_cli
