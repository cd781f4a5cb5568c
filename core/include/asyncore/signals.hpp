#pragma once
// exit_on_signals: the asyncore way to stop a server on SIGINT/SIGTERM. A signal handler may do almost nothing
// safely, but write(2) is async-signal-safe: the handler writes a byte to a pipe, and a file_dispatcher on the
// other end throws exit_now from an ordinary read event, so loop() returns at the next pass.
#include <functional>
#include <initializer_list>

#include <signal.h>

#include "dispatcher.hpp"
#include "ref.hpp"

namespace asyncore {

class socket_map;

// Installs the handlers (SA_RESTART) and puts the pipe's watcher into `map` (default map if nullptr). Call it
// once per map that runs a loop. Throws std::system_error if the pipe or sigaction fails.
void exit_on_signals(std::initializer_list<int> signals = {SIGINT, SIGTERM}, socket_map* map = nullptr);

// The same watcher, but each signal runs on_signal from the loop (as an ordinary read event) instead of leaving
// it. Returns the watcher: it is a channel of `map` like any other (close it to stop watching).
ref<dispatcher> on_signals(std::initializer_list<int> signals, std::function<void()> on_signal,
                           socket_map* map = nullptr);

} // namespace asyncore
