#include "asyncore/socket.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace asyncore {

namespace {

[[noreturn]] void throw_errno(const char* what, int err = errno) {
    throw std::system_error(err, std::system_category(), what);
}

// A peer that closes while we write must not kill the process. send() on sockets passes MSG_NOSIGNAL, but
// write() on a pipe (file_dispatcher) cannot, so the process-wide disposition is changed once — and only if
// the application left it at the default.
void ignore_sigpipe_once() {
    static const bool done = [] {
        struct sigaction old{};
        if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
            struct sigaction ign{};
            ign.sa_handler = SIG_IGN;
            ::sigaction(SIGPIPE, &ign, nullptr);
        }
        return true;
    }();
    (void)done;
}

bool fd_is_socket(int fd) {
    int type = 0;
    socklen_t len = sizeof type;
    return ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
}

} // namespace

socket::socket(int family, int type, int protocol) {
    ignore_sigpipe_once();
    fd_ = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd_ < 0) throw_errno("socket");
}

socket socket::adopt(int fd) {
    ignore_sigpipe_once();
    int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    return socket(fd, fd_is_socket(fd));
}

socket& socket::operator=(socket&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(o.fd_, -1);
        is_socket_ = o.is_socket_;
    }
    return *this;
}

socket::~socket() {
    if (fd_ >= 0) ::close(fd_);
}

int socket::family() const {
    if (!is_socket_) return AF_UNSPEC;
    return getsockopt_int(SOL_SOCKET, SO_DOMAIN);
}

int socket::type() const {
    if (!is_socket_) return 0;
    return getsockopt_int(SOL_SOCKET, SO_TYPE);
}

bool socket::get_inheritable() const {
    int flags = ::fcntl(fd_, F_GETFD);
    if (flags < 0) throw_errno("fcntl(F_GETFD)");
    return (flags & FD_CLOEXEC) == 0;
}

void socket::set_blocking(bool blocking) {
    int flags = ::fcntl(fd_, F_GETFL);
    if (flags < 0) throw_errno("fcntl(F_GETFL)");
    int wanted = blocking ? (flags & ~O_NONBLOCK) : (flags | O_NONBLOCK);
    if (wanted != flags && ::fcntl(fd_, F_SETFL, wanted) < 0) throw_errno("fcntl(F_SETFL)");
}

bool socket::get_blocking() const {
    int flags = ::fcntl(fd_, F_GETFL);
    if (flags < 0) throw_errno("fcntl(F_GETFL)");
    return (flags & O_NONBLOCK) == 0;
}

void socket::bind(const address& addr) {
    if (::bind(fd_, addr.data(), addr.size()) < 0) throw_errno("bind");
}

void socket::listen(int backlog) {
    if (::listen(fd_, backlog) < 0) throw_errno("listen");
}

int socket::connect_ex(const address& addr) {
    int rc;
    do rc = ::connect(fd_, addr.data(), addr.size());
    while (rc < 0 && errno == EINTR);
    return rc < 0 ? errno : 0;
}

std::optional<std::pair<socket, address>> socket::accept() {
    int err = 0;
    auto got = try_accept(err);
    if (err != 0) throw_errno("accept", err);
    return got;
}

std::optional<std::pair<socket, address>> socket::try_accept(int& err) noexcept {
    address peer;
    err = 0;
    for (;;) {
        socklen_t len = sizeof(sockaddr_storage);
        int fd = ::accept4(fd_, peer.data(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            peer.set_size(len);
            return std::pair<socket, address>{socket(fd, true), peer};
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED) err = errno;
        return std::nullopt;
    }
}

std::ptrdiff_t socket::recv_some(void* buf, std::size_t n, int flags) noexcept {
    ssize_t rc;
    do rc = is_socket_ ? ::recv(fd_, buf, n, flags) : ::read(fd_, buf, n);
    while (rc < 0 && errno == EINTR);
    return rc;
}

std::ptrdiff_t socket::send_some(const void* buf, std::size_t n, int flags) noexcept {
    ssize_t rc;
    do rc = is_socket_ ? ::send(fd_, buf, n, flags | MSG_NOSIGNAL) : ::write(fd_, buf, n);
    while (rc < 0 && errno == EINTR);
    return rc;
}

std::ptrdiff_t socket::sendv_some(const iovec* iov, int iovcnt) noexcept {
    ssize_t rc;
    do {
        if (is_socket_) {
            msghdr msg{};
            msg.msg_iov = const_cast<iovec*>(iov);
            msg.msg_iovlen = static_cast<std::size_t>(iovcnt);
            rc = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
        } else {
            rc = ::writev(fd_, iov, iovcnt);
        }
    } while (rc < 0 && errno == EINTR);
    return rc;
}

std::ptrdiff_t socket::sendfile_some(int file_fd, std::uint64_t offset, std::size_t count) noexcept {
    auto off = static_cast<off_t>(offset);
    ssize_t rc;
    do rc = ::sendfile(fd_, file_fd, &off, count);
    while (rc < 0 && errno == EINTR);
    return rc;
}

int socket::getsockopt_int(int level, int name) const {
    // A file_wrapper answers SO_ERROR with 0, as Python's does: asyncore asks it on connect and expt events.
    if (!is_socket_ && level == SOL_SOCKET && name == SO_ERROR) return 0;
    int value = 0;
    socklen_t len = sizeof value;
    if (::getsockopt(fd_, level, name, &value, &len) < 0) throw_errno("getsockopt");
    return value;
}

void socket::setsockopt_int(int level, int name, int value) {
    if (::setsockopt(fd_, level, name, &value, sizeof value) < 0) throw_errno("setsockopt");
}

address socket::getsockname() const {
    address a;
    socklen_t len = sizeof(sockaddr_storage);
    if (::getsockname(fd_, a.data(), &len) < 0) throw_errno("getsockname");
    a.set_size(len);
    return a;
}

address socket::getpeername() const {
    address a;
    socklen_t len = sizeof(sockaddr_storage);
    if (::getpeername(fd_, a.data(), &len) < 0) throw_errno("getpeername");
    a.set_size(len);
    return a;
}

void socket::shutdown(int how) {
    if (::shutdown(fd_, how) < 0) throw_errno("shutdown");
}

void socket::close() {
    if (fd_ < 0) return;
    int fd = std::exchange(fd_, -1);
    // Linux always releases the fd, even when close reports EINTR, so it is never retried.
    if (::close(fd) < 0 && errno != EINTR) throw_errno("close");
}

namespace {
int dup_cloexec(int fd) {
    ignore_sigpipe_once();
    int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) throw_errno("dup");
    return dup;
}
} // namespace

file_wrapper::file_wrapper(int fd) : socket(dup_cloexec(fd), false) {}

std::string file_wrapper::recv(std::size_t n) {
    std::string out(n, '\0');
    auto got = read(out.data(), n);
    if (got < 0) throw_errno("read");
    out.resize(static_cast<std::size_t>(got));
    return out;
}

std::size_t file_wrapper::send(std::string_view data) {
    auto put = write(data.data(), data.size());
    if (put < 0) throw_errno("write");
    return static_cast<std::size_t>(put);
}

bool is_disconnect_errno(int err) noexcept {
    switch (err) {
    case ECONNRESET: case ENOTCONN: case ESHUTDOWN: case ECONNABORTED: case EPIPE: case EBADF: return true;
    default: return false;
    }
}

std::string strerror(int err) {
    char buf[256];
    // GNU strerror_r may return a static string instead of filling buf.
    const char* text = ::strerror_r(err, buf, sizeof buf);
    if (text == nullptr || *text == '\0') return "Unknown error " + std::to_string(err);
    return text;
}

} // namespace asyncore
