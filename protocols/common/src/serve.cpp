#include "asynchat/serve.hpp"

#include <iostream>

#include <sys/socket.h>

#include <asyncore/listener.hpp>
#include <asyncore/log.hpp>
#include <asyncore/ref.hpp>
#include <asyncore/shutdown.hpp>

namespace asynchat {

namespace {

// A service's listener: max_connections on top of asyncore::listener's accept path, its lines through the log.
class service_listener final : public asyncore::listener {
public:
    service_listener(service& spec, asyncore::socket_map* map)
        : listener(map), on_accept_(std::move(spec.accept)), stats_(spec.stats),
          reply_(std::move(spec.over_capacity_reply)), max_connections_(spec.max_connections) {
        if (spec.listening) {
            set_socket(std::move(*spec.listening), map);
        } else {
            create_socket(spec.where.family());
            set_reuse_addr();
            bind(spec.where);
        }
        listen(spec.backlog);
    }

    void handle_accepted(asyncore::socket sock, asyncore::address) override {
        if (stats_ && stats_->connections_open >= max_connections_) {
            refuse(sock);
            return;
        }
        on_accept_(std::move(sock));
    }

    void log_info(std::string_view message, std::string_view type) override {
        asyncore::log(type == "error" ? asyncore::log_level::error : asyncore::log_level::info,
                      "asynchat: " + std::string(message));
    }

private:
    // Over the limit: the reply, then the close; the connections already open are untouched. A fresh socket's
    // send buffer takes a short reply whole, so one non-blocking send suffices. What the client sent already is
    // read first: closing a socket with unread input sends a reset, which can destroy the reply in flight.
    void refuse(asyncore::socket& sock) {
        char scratch[4096];
        for (int i = 0; i < 16 && sock.recv_some(scratch, sizeof scratch) > 0; ++i) {
        }
        if (!reply_.empty()) (void)sock.send_some(reply_.data(), reply_.size());
        ::shutdown(sock.fileno(), SHUT_WR);
        sock.close();
    }

    std::function<void(asyncore::socket)> on_accept_;
    service_stats* stats_;
    std::string reply_;
    std::size_t max_connections_;
};

} // namespace

void print_listening(const service& s, std::size_t, const std::string& where) {
    if (!s.name.empty()) std::cout << s.name << ' ';
    std::cout << "listening on " << where << std::endl;
}

void serve(std::vector<service> services, const serve_options& options) {
    asyncore::graceful_loop stopper({.backend = options.backend,
                                     .map = options.map,
                                     .shutdown_timeout = options.shutdown_timeout,
                                     .on_stop = {}});
    std::vector<asyncore::ref<service_listener>> listeners;
    try {
        for (std::size_t i = 0; i < services.size(); ++i) {
            listeners.push_back(asyncore::make<service_listener>(services[i], options.map));
            const std::string where = listeners.back()->sock().getsockname().to_string();
            if (options.on_listening)
                options.on_listening(services[i], i, where);
            else
                print_listening(services[i], i, where);
        }
        stopper.run();
    } catch (const asyncore::exit_now&) {
    } catch (...) {
        for (auto& l : listeners) l->close();
        throw;
    }
}

void serve(service one, const serve_options& options) {
    std::vector<service> services;
    services.push_back(std::move(one));
    serve(std::move(services), options);
}

} // namespace asynchat
