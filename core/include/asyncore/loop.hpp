#pragma once
// loop() and the module-level functions of Python's asyncore.
#include <chrono>
#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <functional>

#include "timers.hpp"

namespace asyncore {

class dispatcher;
class socket_map;

// Thrown from a handler to leave loop() at once (Python's asyncore.ExitNow). Any other exception a handler
// throws goes to that channel's handle_error and the loop goes on.
struct exit_now : std::exception {
    const char* what() const noexcept override { return "asyncore::exit_now"; }
};

struct loop_options {
    std::chrono::duration<double> timeout = std::chrono::seconds(30); // the longest one pass waits
    std::string_view backend = {};                                    // "" = default_backend()
    socket_map* map = nullptr;                                        // nullptr = socket_map::default_map()
    std::optional<std::size_t> count = {};                            // passes; none = until done
};

// Runs passes until the map has no channel and no pending timer, or `count` passes are done.
//   asyncore::loop();                                              // as Python's loop()
//   asyncore::loop({.timeout = 10ms, .backend = "poll", .count = 1});
void loop(const loop_options& options = {});
// Python's positional form: loop(timeout, use_poll, map, count); use_poll picks "poll", otherwise "select".
void loop(double timeout, bool use_poll = false, socket_map* map = nullptr,
          std::optional<std::size_t> count = std::nullopt);

// One pass on the select backend (Python's asyncore.poll) and on the poll backend (poll2, alias poll3).
void poll(double timeout = 0.0, socket_map* map = nullptr);
void poll2(double timeout = 0.0, socket_map* map = nullptr);
inline void poll3(double timeout = 0.0, socket_map* map = nullptr) { poll2(timeout, map); }

// Closes every channel in the map and empties it. Errors from close are rethrown unless ignore_all (EBADF is
// always ignored); exit_now always propagates.
void close_all(socket_map* map = nullptr, bool ignore_all = false);

// Event delivery with the loop's error rules, as the module functions read/write/_exception/readwrite:
// handler exceptions go to handle_error, a disconnect errno (is_disconnect_errno) to handle_close, exit_now
// propagates. readwrite takes poll(2) bits; once the channel is closed by one of its handlers, the rest of the
// events of that call are not delivered, and POLLHUP/POLLERR/POLLNVAL call handle_close only if the channel has
// not been told of its close already.
void read(dispatcher& d);
void write(dispatcher& d);
void exception(dispatcher& d);
void readwrite(dispatcher& d, unsigned flags);

// "TYPE: what()" of the exception being handled — Python's compact_traceback() for C++, where a handler's
// exception carries no traceback. Call it inside handle_error.
std::string compact_exception(std::exception_ptr e = std::current_exception());

// Runs fn once, `delay` from now, from the loop of `map` (default map if nullptr). See timers.hpp.
timer_handle call_later(std::chrono::duration<double> delay, std::function<void()> fn, socket_map* map = nullptr);

} // namespace asyncore
