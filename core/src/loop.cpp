#include "asyncore/loop.hpp"

#include <cxxabi.h>
#include <poll.h>

#include <cerrno>
#include <memory>
#include <typeinfo>

#include "asyncore/dispatcher.hpp"
#include "asyncore/log.hpp"
#include "asyncore/socket_map.hpp"
#include "detail.hpp"

namespace asyncore {

namespace detail {

std::string demangle(const char* mangled) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> out(abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
    return status == 0 && out ? std::string(out.get()) : std::string(mangled);
}

void deliver_error(dispatcher& d) {
    try {
        d.handle_error();
    } catch (const exit_now&) {
        throw;
    } catch (...) {
        // handle_error itself failed, so the channel cannot be trusted to clean up: the loop closes it, and the
        // other channels go on.
        log(log_level::error, "error: handle_error threw (" + compact_exception() + "); closing the channel");
        try {
            d.close();
        } catch (...) {
        }
    }
}

void deliver_disconnect_or_error(dispatcher& d, const std::system_error& e) {
    const auto& cat = e.code().category();
    if ((cat == std::system_category() || cat == std::generic_category()) && is_disconnect_errno(e.code().value())) {
        try {
            loop_access::fire_close(d);
        } catch (const exit_now&) {
            throw;
        } catch (...) {
            deliver_error(d);
        }
    } else {
        deliver_error(d);
    }
}

} // namespace detail

void read(dispatcher& d) {
    detail::guarded(d, [&] { d.handle_read_event(); });
}

void write(dispatcher& d) {
    detail::guarded(d, [&] { d.handle_write_event(); });
}

void exception(dispatcher& d) {
    detail::guarded(d, [&] { d.handle_expt_event(); });
}

void readwrite(dispatcher& d, unsigned flags) {
    auto pin = ref<dispatcher>(&d);
    const auto generation = detail::loop_access::generation(d);
    // Once a handler has closed the channel, it hears nothing more from this event (bpo-30985).
    auto still_open = [&] { return detail::loop_access::generation(d) == generation; };
    detail::guarded(d, [&] {
        if (flags & POLLIN) d.handle_read_event();
        if ((flags & POLLOUT) && still_open()) d.handle_write_event();
        if ((flags & POLLPRI) && still_open()) d.handle_expt_event();
        if ((flags & (POLLHUP | POLLERR | POLLNVAL)) && still_open()) detail::loop_access::fire_close(d);
    });
}

std::string compact_exception(std::exception_ptr e) {
    if (!e) return "no exception";
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        return detail::demangle(typeid(ex).name()) + ": " + ex.what();
    } catch (...) {
        auto* type = abi::__cxa_current_exception_type();
        return type ? detail::demangle(type->name()) : std::string("unknown exception");
    }
}

void loop(const loop_options& options) {
    socket_map& map = options.map ? *options.map : socket_map::default_map();
    const std::string backend(options.backend.empty() ? default_backend() : options.backend);
    auto more = [&] { return !map.empty() || map.pending_timers() != 0; };
    if (options.count) {
        for (std::size_t n = *options.count; n > 0 && more(); --n) map.run_pass(options.timeout, backend);
    } else {
        while (more()) map.run_pass(options.timeout, backend);
    }
}

void loop(double timeout, bool use_poll, socket_map* map, std::optional<std::size_t> count) {
    loop({std::chrono::duration<double>(timeout), use_poll ? "poll" : "select", map, count});
}

void poll(double timeout, socket_map* map) {
    loop({std::chrono::duration<double>(timeout), "select", map, 1});
}

void poll2(double timeout, socket_map* map) {
    loop({std::chrono::duration<double>(timeout), "poll", map, 1});
}

void close_all(socket_map* map, bool ignore_all) {
    socket_map& m = map ? *map : socket_map::default_map();
    for (auto& channel : m.channels()) {
        try {
            channel->close();
        } catch (const exit_now&) {
            throw;
        } catch (const std::system_error& e) {
            if (e.code().value() != EBADF && !ignore_all) throw;
        } catch (...) {
            if (!ignore_all) throw;
        }
    }
    m.clear();
}

timer_handle call_later(std::chrono::duration<double> delay, std::function<void()> fn, socket_map* map) {
    return (map ? *map : socket_map::default_map()).call_later(delay, std::move(fn));
}

} // namespace asyncore
