#include "asynchat/serve.hpp"

#include <iostream>

#include <cerrno>

#include <sys/socket.h>

#include <asyncore/listener.hpp>
#include <asyncore/socket_map.hpp>
#include <asynchat/systemd.hpp>
#include <asyncore/log.hpp>
#include <asyncore/ref.hpp>
#include <asyncore/shutdown.hpp>

namespace asynchat {

namespace {

class proxy_header_reader;

// A service's listener: max_connections on top of asyncore::listener's accept path, the PROXY protocol header
// read first when the service expects one, its lines through the log.
class service_listener final : public asyncore::listener {
public:
    service_listener(service& spec, asyncore::socket_map* map)
        : listener(map), name_(spec.name), on_accept_(std::move(spec.accept)), stats_(spec.stats),
          reply_(std::move(spec.over_capacity_reply)), max_connections_(spec.max_connections), proxy_(spec.proxy) {
        if (spec.listening) {
            // A passed listener (systemd's, a test's) may be blocking: one accept() too many would stall the loop.
            spec.listening->set_blocking(false);
            set_socket(std::move(*spec.listening), map);
        } else {
            create_socket(spec.where.family());
            set_reuse_addr();
            bind(spec.where);
        }
        listen(spec.backlog);
    }

    void handle_accepted(asyncore::socket sock, asyncore::address addr) override;

    void log_info(std::string_view message, std::string_view type) override {
        asyncore::log(type == "error" ? asyncore::log_level::error : asyncore::log_level::info,
                      "asynchat: " + std::string(message));
    }

    // From a proxy_header_reader: the header is in, the socket is at the service's first byte.
    void header_read(asyncore::socket sock, const proxy::header& header) {
        if (header.source) map().expect_peer_address(sock.fileno(), *header.source);
        try {
            on_accept_(std::move(sock));
        } catch (...) {
            map().forget_peer_address();
            throw;
        }
        map().forget_peer_address(); // the service made no channel on this map for it
    }
    // From a proxy_header_reader: no valid header; counted as refused input, and said in one line.
    void header_refused(const std::string& who, const std::string& why) {
        if (stats_) ++stats_->errors;
        asyncore::log(asyncore::log_level::warning,
                      "asynchat: " + (name_.empty() ? std::string() : name_ + ": ") + "closing " + who + ": " + why);
    }

    const proxy_protocol_options& proxy() const noexcept { return proxy_; }
    std::size_t awaiting_header = 0; // connections still sending their PROXY header (they count as open)

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

    std::string name_;
    std::function<void(asyncore::socket)> on_accept_;
    service_stats* stats_;
    std::string reply_;
    std::size_t max_connections_;
    proxy_protocol_options proxy_;
};

// A connection of a service behind a load balancer, until its PROXY protocol header is in. It takes from the
// socket only the header's bytes (it peeks, and reads back exactly what the parser took), so what follows — the
// protocol's first line, or a TLS ClientHello — reaches the service's channel untouched; then it leaves the map
// and hands the socket to the service. Done before the channel exists, rather than as a stream layer under it,
// because the header comes before a TLS layer's first byte too, and the channel's constructor should already
// see the client's address (SMTP's greeting and trace headers, a chat room's join line).
class proxy_header_reader final : public asyncore::dispatcher {
public:
    proxy_header_reader(asyncore::socket sock, asyncore::ref<service_listener> to)
        : dispatcher(std::move(sock), &to->map()), to_(std::move(to)), parser_(to_->proxy().max_header) {
        ++to_->awaiting_header;
        const auto timeout = to_->proxy().header_timeout;
        if (timeout.count() > 0)
            timer_ = map().call_later(timeout, [this] {
                refuse("no whole PROXY protocol header within " + seconds(to_->proxy().header_timeout));
            });
    }

    bool writable() override { return false; }

    void handle_read() override {
        char buf[512];
        const ssize_t n = ::recv(fileno(), buf, sizeof buf, MSG_PEEK);
        if (n == 0) {
            close(); // gone before a whole header: nothing to serve, nothing to say
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
            close();
            return;
        }
        const std::size_t used = parser_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
        if (used > 0 && ::recv(fileno(), buf, used, 0) != static_cast<ssize_t>(used)) {
            refuse("the socket gave back fewer bytes than it showed");
            return;
        }
        switch (parser_.state()) {
        case proxy::header_parser::status::need_more: return;
        case proxy::header_parser::status::invalid: refuse(parser_.error()); return;
        case proxy::header_parser::status::done: hand_over(); return;
        }
    }

    void handle_close() override { close(); }
    void handle_error() override { refuse(asyncore::compact_exception()); }
    // Draining: a connection that has not named its client has no request in hand (as nginx closes idle ones).
    void handle_shutdown() override { close(); }

    void close() override {
        timer_.cancel();
        if (counted_) {
            counted_ = false;
            --to_->awaiting_header;
        }
        dispatcher::close();
    }

private:
    static std::string seconds(std::chrono::duration<double> d) {
        std::string text = std::to_string(d.count());
        text.erase(text.find_last_not_of('0') + 1);
        if (text.back() == '.') text.pop_back();
        return text + " s";
    }

    void refuse(const std::string& why) {
        auto self = pin();
        to_->header_refused(addr() ? addr()->to_string() : std::string("a client"), why);
        close();
    }

    void hand_over() {
        auto self = pin();
        del_channel(); // the fd's slot is free for the service's channel
        asyncore::socket sock = std::move(this->sock());
        close();
        to_->header_read(std::move(sock), parser_.result());
    }

    asyncore::ref<service_listener> to_;
    proxy::header_parser parser_;
    asyncore::timer_handle timer_;
    bool counted_ = true;
};

void service_listener::handle_accepted(asyncore::socket sock, asyncore::address) {
    if (stats_ && stats_->connections_open + awaiting_header >= max_connections_) {
        refuse(sock);
        return;
    }
    if (proxy_.enabled) {
        asyncore::make<proxy_header_reader>(std::move(sock), asyncore::ref<service_listener>(this));
        return;
    }
    on_accept_(std::move(sock));
}

} // namespace

void print_listening(const service& s, std::size_t, const std::string& where) {
    if (!s.name.empty()) std::cout << s.name << ' ';
    std::cout << "listening on " << where << std::endl;
}

void serve(std::vector<service> services, const serve_options& options) {
    asyncore::graceful_loop stopper({.backend = options.backend,
                                     .map = options.map,
                                     .shutdown_timeout = options.shutdown_timeout,
                                     .on_stop =
                                         [&options] {
                                             systemd::notify("STOPPING=1\nSTATUS=draining");
                                             if (options.on_stop) options.on_stop();
                                         },
                                     .drain_delay = options.drain_delay});
    std::vector<asyncore::ref<service_listener>> listeners;
    asyncore::socket_map& map = options.map ? *options.map : asyncore::socket_map::default_map();
    asyncore::timer_handle watchdog;
    std::function<void()> ping; // WATCHDOG=1, then again in half the watchdog's interval
    try {
        for (std::size_t i = 0; i < services.size(); ++i) {
            listeners.push_back(asyncore::make<service_listener>(services[i], options.map));
            const std::string where = listeners.back()->sock().getsockname().to_string();
            if (options.on_listening)
                options.on_listening(services[i], i, where);
            else
                print_listening(services[i], i, where);
        }
        // Under systemd (Type=notify): started once every service listens; alive while the loop turns.
        systemd::notify("READY=1\nSTATUS=serving");
        if (const auto every = systemd::watchdog_ping_interval(); every.count() > 0) {
            ping = [&map, &watchdog, &ping, every] {
                systemd::notify("WATCHDOG=1");
                watchdog = map.call_later(every, ping);
            };
            ping();
        }
        stopper.run();
        watchdog.cancel();
    } catch (const asyncore::exit_now&) {
        watchdog.cancel();
    } catch (...) {
        watchdog.cancel();
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
