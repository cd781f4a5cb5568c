#pragma once
// asyncore::socket — an owned, non-blocking, close-on-exec file descriptor with Python's socket methods.
// Errors are thrown as std::system_error carrying the errno (Python's OSError). EINTR is retried inside.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <sys/socket.h>
#include <sys/uio.h>

#include "address.hpp"

namespace asyncore {

class socket {
public:
    socket() noexcept = default;
    // Python's socket.socket(family, type): non-blocking and close-on-exec from birth.
    socket(int family, int type, int protocol = 0);
    // Adopts an fd the caller owns (the caller must not close it).
    static socket adopt(int fd);

    socket(socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)), is_socket_(o.is_socket_) {}
    socket& operator=(socket&& o) noexcept;
    socket(const socket&) = delete;
    socket& operator=(const socket&) = delete;
    ~socket();

    int fileno() const noexcept { return fd_; }
    bool valid() const noexcept { return fd_ >= 0; }
    explicit operator bool() const noexcept { return valid(); }

    int family() const;
    int type() const;
    bool get_inheritable() const;
    void set_blocking(bool blocking);
    bool get_blocking() const;

    void bind(const address& addr);
    void listen(int backlog);
    // Returns 0 or the errno, never throws for a connect error (Python's connect_ex).
    int connect_ex(const address& addr);
    // Returns nothing when no connection is waiting (EAGAIN) or one was aborted before we took it.
    std::optional<std::pair<socket, address>> accept();
    // accept without exceptions: nothing, with err set to the errno (0 when no connection was waiting or one was
    // aborted). For a caller that handles EMFILE itself (asyncore::listener).
    std::optional<std::pair<socket, address>> try_accept(int& err) noexcept;

    // Raw transfers: return the byte count, or -1 with errno set (EINTR already retried). Files and pipes use
    // read(2)/write(2); sockets use recv(2)/send(2) with MSG_NOSIGNAL.
    std::ptrdiff_t recv_some(void* buf, std::size_t n, int flags = 0) noexcept;
    std::ptrdiff_t send_some(const void* buf, std::size_t n, int flags = 0) noexcept;
    std::ptrdiff_t sendv_some(const iovec* iov, int iovcnt) noexcept;
    std::ptrdiff_t sendfile_some(int file_fd, std::uint64_t offset, std::size_t count) noexcept;

    int getsockopt_int(int level, int name) const;
    void setsockopt_int(int level, int name, int value);
    address getsockname() const;
    address getpeername() const;
    void shutdown(int how);

    // Idempotent. Throws std::system_error if close(2) itself fails (as Python's does), leaving the object
    // closed either way.
    void close();
    // Gives up ownership without closing.
    int detach() noexcept { return std::exchange(fd_, -1); }

protected:
    socket(int fd, bool is_socket) noexcept : fd_(fd), is_socket_(is_socket) {}

private:
    int fd_ = -1;
    bool is_socket_ = true;
};

// Python's asyncore.file_wrapper: makes a pipe, tty or file look like a socket to a dispatcher. The fd given is
// dup'd (close-on-exec), so the caller keeps and closes its own. getsockopt(SOL_SOCKET, SO_ERROR) answers 0.
class file_wrapper : public socket {
public:
    explicit file_wrapper(int fd);
    std::ptrdiff_t read(void* buf, std::size_t n) noexcept { return recv_some(buf, n); }
    std::ptrdiff_t write(const void* buf, std::size_t n) noexcept { return send_some(buf, n); }
    std::string recv(std::size_t n);     // throws std::system_error on error, as os.read does
    std::size_t send(std::string_view data);
};

// The errno values that mean "the peer is gone": a send/recv failing with one of these closes the channel
// (handle_close) instead of reporting an error (handle_error). {ECONNRESET, ENOTCONN, ESHUTDOWN, ECONNABORTED,
// EPIPE, EBADF}, as asyncore._DISCONNECTED.
bool is_disconnect_errno(int err) noexcept;
// os.strerror, with a fallback for unknown values (never empty).
std::string strerror(int err);

} // namespace asyncore
