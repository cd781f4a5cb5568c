#include "asyncore/listener.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
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
        // try_accept rather than accept(): running out of descriptors is this class's business, not an
        // exception. (It is also a path that must not lean on anything needing a descriptor, as a sanitizer's
        // check of a thrown exception's type may.)
        int err = 0;
        auto got = sock().try_accept(err);
        if (got && in_headroom(got->first.fileno())) {
            // The lowest free descriptor is in the headroom, so at most descriptor_headroom are free: keep them.
            got->first.close();
            ++refused_;
            if (!exhausted_) {
                exhausted_ = true;
                handle_descriptors_exhausted(EMFILE);
            }
            continue;
        }
        if (got) {
            exhausted_ = false;
            handle_accepted(std::move(got->first), std::move(got->second));
            continue;
        }
        if (err == 0) return; // the backlog is empty
        if (!out_of_descriptors(err)) throw std::system_error(err, std::system_category(), "accept");
        if (!exhausted_) {
            exhausted_ = true;
            handle_descriptors_exhausted(err);
        }
        if (!refuse_one()) {
            pause();
            return;
        }
    }
}

bool listener::in_headroom(int fd) noexcept {
    if (descriptor_headroom == 0) return false;
    // The limit is read on the first accept, and again before refusing: one raised meanwhile (prlimit) counts.
    if (ceiling_ < 0 || fd >= ceiling_) {
        rlimit rl{};
        ceiling_ = std::numeric_limits<int>::max();
        if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
            rl.rlim_cur < static_cast<rlim_t>(std::numeric_limits<int>::max()))
            ceiling_ = std::max(0, static_cast<int>(rl.rlim_cur) - static_cast<int>(descriptor_headroom));
    }
    return fd >= ceiling_;
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
