#include "asyncore/listener.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

#include "asyncore/socket_map.hpp"

namespace asyncore {

namespace {

int open_reserve() noexcept { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

bool out_of_descriptors(int err) noexcept { return err == EMFILE || err == ENFILE; }

} // namespace

listener::listener(socket_map* map) : dispatcher(map), reserve_fd_(open_reserve()) {}

listener::listener(const address& where, int backlog, socket_map* map) : listener(map) {
    create_socket(where.family());
    set_reuse_addr();
    bind(where);
    listen(backlog);
}

listener::~listener() {
    resume_.cancel();
    if (reserve_fd_ >= 0) ::close(reserve_fd_);
}

bool listener::readable() { return !paused_; }

void listener::close() {
    resume_.cancel();
    paused_ = false;
    dispatcher::close();
}

void listener::handle_accept() {
    for (std::size_t n = 0; n < accept_batch && accepting(); ++n) {
        std::optional<std::pair<class socket, address>> got;
        try {
            got = accept();
        } catch (const std::system_error& e) {
            if (!out_of_descriptors(e.code().value())) throw;
            if (!exhausted_) {
                exhausted_ = true;
                handle_descriptors_exhausted(e.code().value());
            }
            if (!refuse_one()) {
                pause();
                return;
            }
            continue;
        }
        if (!got) return; // the backlog is empty
        exhausted_ = false;
        handle_accepted(std::move(got->first), std::move(got->second));
    }
}

bool listener::refuse_one() {
    if (reserve_fd_ < 0) reserve_fd_ = open_reserve(); // lost earlier: perhaps there is room again
    if (reserve_fd_ < 0) return false;
    ::close(reserve_fd_);
    reserve_fd_ = -1;
    int fd;
    do fd = ::accept4(fileno(), nullptr, nullptr, SOCK_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd >= 0) {
        ::close(fd);
        ++refused_;
    }
    reserve_fd_ = open_reserve();
    return fd >= 0 && reserve_fd_ >= 0;
}

void listener::pause() {
    paused_ = true;
    refresh_interest();
    resume_.cancel();
    resume_ = map().call_later(backoff, [this] {
        paused_ = false;
        refresh_interest();
    });
}

void listener::handle_descriptors_exhausted(int err) {
    std::string where = "?";
    try {
        where = sock().getsockname().to_string();
    } catch (const std::system_error&) {
    }
    log_info("out of file descriptors accepting on " + where + " (" + std::strerror(err) +
                 "): new connections are closed unserved until descriptors free up",
             "error");
}

} // namespace asyncore
