#pragma once
// The whole core layer: #include <asyncore/asyncore.hpp>.
#include "address.hpp"
#include "dispatcher.hpp"
#include "dispatcher_with_send.hpp"
#include "file_dispatcher.hpp"
#include "idle_timer.hpp"
#include "loop.hpp"
#include "poller.hpp"
#include "ref.hpp"
#include "signals.hpp"
#include "socket.hpp"
#include "socket_map.hpp"
#include "timers.hpp"
