// The asynchat command: `asynchat serve echo|chat|http|smtp|all [options]`, `asynchat get URL`, `asynchat
// send-mail [options] < message`. Bad arguments exit with status 2 and one line naming the argument. TLS: every
// server takes --tls-cert/--tls-key, get takes https:// URLs, send-mail --starttls (tls_support.hpp).
#include <iostream>

#include <CLI/CLI.hpp>

#include "get.hpp"
#include "send_mail.hpp"
#include "serve.hpp"
#include "service_table.hpp"
#ifdef ASYNCHAT_HAVE_ASIO
#include <asynchat/asio.hpp>
#endif

int main(int argc, char** argv) {
#ifdef ASYNCHAT_HAVE_ASIO
    asynchat::asio_transport::register_backend(); // before the options list the backends
#endif
    CLI::App app{"asynchat: Python's asyncore/asynchat servers in C++"};
    app.require_subcommand(1);
    auto* serve = app.add_subcommand("serve", "run a server")->require_subcommand(1);
    // serve NAME for each service of the table, and serve all.
    asynchat_cli::serve_commands serve_commands(*serve, asynchat_cli::service_table());
    asynchat_cli::get_options get;
    asynchat_cli::add_get_command(app, get);
    asynchat_cli::send_mail_options send_mail;
    asynchat_cli::add_send_mail_command(app, send_mail);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "asynchat: " << e.what() << '\n';
        return 2;
    }
    if (serve_commands.selected()) return serve_commands.run();
    if (get.selected) return asynchat_cli::run_get(get);
    if (send_mail.selected) return asynchat_cli::run_send_mail(send_mail);
    return 2;
}
