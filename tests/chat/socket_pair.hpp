#pragma once
// A connected AF_UNIX stream pair for channel tests that need a real socket but no listener.
#include <cerrno>
#include <system_error>
#include <utility>

#include <sys/socket.h>

#include <asyncore/socket.hpp>

namespace chat_test {

// The first end for a channel, the second for the test. Both non-blocking.
inline std::pair<asyncore::socket, asyncore::socket> socket_pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
        throw std::system_error(errno, std::system_category(), "socketpair");
    return {asyncore::socket::adopt(fds[0]), asyncore::socket::adopt(fds[1])};
}

} // namespace chat_test
