// `asynchat serve smtp --maildir DIR`: the SMTP server of asynchat::smtp, delivering each accepted message as one
// file in a Maildir (protocols/smtp/include/asynchat/smtp/server.hpp). With --tls-cert/--tls-key it offers STARTTLS
// (RFC 3207), and --require-tls refuses mail before it. In serve all --maildir defaults to ./maildir.
#include <filesystem>
#include <iostream>

#include <asyncore/socket_map.hpp>
#include <asynchat/smtp/server.hpp>

#include "service_table.hpp"

namespace asynchat_cli {

namespace {

class smtp_service final : public command_service {
public:
    std::string_view name() const override { return "smtp"; }
    std::string_view summary() const override { return "an SMTP server delivering every message into a Maildir"; }
    std::uint16_t default_port(serve_mode) const override { return 8025; }

    void add_options(CLI::App& cmd, serve_mode mode) override {
        const std::string prefix = mode == serve_mode::all ? "smtp-" : "";
        // --maildir keeps its plain name in serve all too, as the one option a user must know.
        auto* maildir = cmd.add_option(prefix.empty() ? "--maildir" : "--maildir,--" + prefix + "maildir", maildir_,
                                       "the Maildir each accepted message is delivered to (DIR/tmp, DIR/new, DIR/cur "
                                       "made as needed)");
        if (mode == serve_mode::all) {
            maildir_ = "./maildir";
            maildir->capture_default_str();
        } else {
            maildir->required();
        }
        cmd.add_option("--" + prefix + "max-size", options_.max_size,
                       "largest message in bytes: a bigger SIZE= is refused at MAIL, a bigger body after DATA (552)")
            ->check(at_least_one)
            ->capture_default_str();
        add_seconds_option(cmd, "--" + prefix + "idle-timeout", options_.idle_timeout,
                           "seconds of silence before a client gets 421 and is closed (0: never)");
        cmd.add_option("--" + prefix + "hostname", options_.hostname, "the name in the greeting and the EHLO reply")
            ->capture_default_str();
        cmd.add_flag("--" + prefix + "require-tls", options_.require_tls,
                     "refuse MAIL, RCPT and DATA before STARTTLS (530); needs --tls-cert and --tls-key");
        cmd.add_option("--" + prefix + "delivery-threads", delivery_.workers,
                       "threads writing and fsyncing messages (the loop never waits for a disk)")
            ->check(CLI::Range(1u, 256u))
            ->capture_default_str();
        cmd.add_option("--" + prefix + "delivery-cpus", delivery_.cpus,
                       "CPUs the delivery threads run on, e.g. 1,2 (default: the process's); keeps the kernel's "
                       "fsync work off the loop's core")
            ->delimiter(',')
            ->check(CLI::Range(0, 1023));
        cmd.add_option("--" + prefix + "delivery-nice", delivery_.nice,
                       "how much nicer than the loop thread the delivery threads run (0-19; 0: the same priority)")
            ->check(CLI::Range(0, 19))
            ->capture_default_str();
    }

    void finish(const server_options& server, serve_mode mode) override {
        // RFC 3207: STARTTLS on the plaintext port, with the same certificate as every other service.
        options_.start_tls = start_tls_callback(server.tls);
        if (options_.require_tls && !server.tls)
            throw CLI::ValidationError(mode == serve_mode::all ? "--smtp-require-tls" : "--require-tls",
                                       "needs --tls-cert and --tls-key");
    }

    started_service start(serve_context& context) override {
        asyncore::socket_map& map = asyncore::socket_map::default_map();
        try {
            server_ = std::make_unique<asynchat::smtp::maildir_server>(maildir_, map, options_, &context.stats,
                                                                       delivery_);
        } catch (const std::exception& e) {
            throw start_failure(std::string("--maildir: ") + e.what(), 1);
        }
        server_->log_deliveries_to(context.access_log);
        if (context.mode == serve_mode::all)
            std::cout << "smtp delivers to " << std::filesystem::absolute(maildir_).lexically_normal().string()
                      << std::endl;
        // STARTTLS is negotiated in plaintext, so the busy reply is plaintext even with a certificate.
        started_service started{[server = server_.get()](asyncore::socket sock) { server->accept(std::move(sock)); },
                                asynchat::smtp::over_capacity_reply(options_.hostname)};
        // With --workers, every worker serves SMTP with a maildir_server of its own, made on its thread, so that
        // its completions come back to that worker's loop; it goes with that worker's loop (the accept owns it).
        // They all write with the delivery threads of worker 0's, the one made here (which outlives them). One
        // directory: the file names stay unique across them.
        started.accept_for_worker = [this, access_log = context.access_log](
                                        unsigned worker,
                                        asynchat::service_stats* stats) -> std::function<void(asyncore::socket)> {
            if (worker == 0) return [server = server_.get()](asyncore::socket sock) { server->accept(std::move(sock)); };
            auto server = std::make_shared<asynchat::smtp::maildir_server>(
                maildir_, asyncore::socket_map::default_map(), options_, stats, *server_);
            server->log_deliveries_to(access_log);
            return [server](asyncore::socket sock) { server->accept(std::move(sock)); };
        };
        return started;
    }

private:
    std::string maildir_;
    asynchat::smtp::smtp_options options_;
    asynchat::smtp::maildir_options delivery_;
    std::unique_ptr<asynchat::smtp::maildir_server> server_;
};

} // namespace

std::unique_ptr<command_service> make_smtp_service() { return std::make_unique<smtp_service>(); }

} // namespace asynchat_cli
