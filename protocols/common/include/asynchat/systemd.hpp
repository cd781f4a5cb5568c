#pragma once
// asynchat::systemd — the two systemd protocols a server needs, written out (a few lines each) rather than linking
// libsystemd: the same code runs under systemd, in a container without it, and in the tests, and the library
// keeps its dependencies to the ones it cannot do without.
//
//   Socket activation (sd_listen_fds(3)): systemd binds the listening sockets (a .socket unit) and passes them to
//   the process as descriptors 3, 4, ... with LISTEN_PID (this process), LISTEN_FDS (how many) and
//   LISTEN_FDNAMES (their FileDescriptorName=, ':'-separated). A server uses them instead of binding: it may then
//   bind privileged ports without privileges, and a restart loses no connection (the socket stays in systemd).
//
//   Readiness (sd_notify(3)): datagrams "READY=1" once listening, "STOPPING=1" when the drain begins and
//   "WATCHDOG=1" every half WATCHDOG_USEC, sent to the AF_UNIX socket NOTIFY_SOCKET names (a path, or '@' for
//   the abstract namespace). Type=notify units start their dependants only after READY=1.
//
// asynchat::serve does both (serve.hpp): it sends the notifications itself, and a program hands the sockets it
// took to its services with use_passed_sockets.
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <asynchat/serve.hpp>

namespace asynchat::systemd {

struct passed_socket {
    int fd;           // 3, 4, ...; close-on-exec from here on
    std::string name; // its FileDescriptorName=; "" when it has none ("unknown", as systemd says, counts as none)
};

// The sockets passed to this process (none when LISTEN_PID names another, as after a fork), in order. Unsets the
// three variables, so that the children of the process do not take the sockets for theirs.
std::vector<passed_socket> take_listen_fds();

// Gives each service the passed socket named after it; with one service, the one socket whatever its name. The
// services without one bind their `where` as usual. Throws std::invalid_argument, naming the socket and what is
// wrong, for a socket that is not a listening stream socket, a name no service has, two sockets for one service,
// or an unnamed socket among several services.
void use_passed_sockets(std::vector<service>& services, std::vector<passed_socket> passed);

// Sends one notification ("READY=1", "STOPPING=1\nSTATUS=draining") to NOTIFY_SOCKET. False when the variable is
// unset (not under systemd: nothing to do) or the datagram could not be sent.
bool notify(std::string_view state);

// Half of WATCHDOG_USEC, when the watchdog is on for this process (WATCHDOG_PID unset or this process); zero
// otherwise. systemd restarts a service that stays silent for WATCHDOG_USEC.
std::chrono::microseconds watchdog_ping_interval();

} // namespace asynchat::systemd
