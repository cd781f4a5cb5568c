// select(2): portable, bounded by FD_SETSIZE. The fd_sets are kept between passes and copied before each wait,
// so the per-pass cost is O(highest fd), as select itself is.
#include <sys/select.h>
#include <poll.h>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "asyncore/poller.hpp"

namespace asyncore::pollers {
namespace {

class select_poller final : public poller {
public:
    select_poller() {
        FD_ZERO(&read_);
        FD_ZERO(&write_);
        FD_ZERO(&except_);
    }
    std::string_view name() const noexcept override { return "select"; }

    void add(int fd, unsigned interest) override {
        // Writing past an fd_set is memory corruption; refuse with a message that names the limit and the cure.
        if (fd < 0 || fd >= FD_SETSIZE)
            throw std::length_error("select backend: fd " + std::to_string(fd) + " is not below FD_SETSIZE (" +
                                    std::to_string(FD_SETSIZE) + "); use the poll or epoll backend");
        set(fd, interest);
    }
    void modify(int fd, unsigned interest) override { set(fd, interest); }
    void remove(int fd) noexcept override {
        if (fd < 0 || fd >= FD_SETSIZE) return;
        FD_CLR(fd, &read_);
        FD_CLR(fd, &write_);
        FD_CLR(fd, &except_);
        while (max_fd_ >= 0 && !FD_ISSET(max_fd_, &read_) && !FD_ISSET(max_fd_, &write_) &&
               !FD_ISSET(max_fd_, &except_))
            --max_fd_;
    }

    std::span<const fired_event> wait(int timeout_ms) override {
        fd_set r = read_, w = write_, e = except_;
        timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        int n = ::select(max_fd_ + 1, &r, &w, &e, timeout_ms < 0 ? nullptr : &tv);
        fired_.clear();
        if (n < 0) {
            if (errno == EINTR) return {};
            throw std::system_error(errno, std::system_category(), "select");
        }
        for (int fd = 0; fd <= max_fd_ && n > 0; ++fd) {
            unsigned ev = 0;
            if (FD_ISSET(fd, &r)) ev |= POLLIN;
            if (FD_ISSET(fd, &w)) ev |= POLLOUT;
            if (FD_ISSET(fd, &e)) ev |= POLLPRI;
            if (ev) {
                fired_.push_back({fd, ev});
                --n;
            }
        }
        return fired_;
    }

private:
    void set(int fd, unsigned interest) {
        if (interest & POLLIN) FD_SET(fd, &read_); else FD_CLR(fd, &read_);
        if (interest & POLLOUT) FD_SET(fd, &write_); else FD_CLR(fd, &write_);
        // As asyncore.poll: the exceptional set holds every fd with any interest (OOB data, connect errors).
        FD_SET(fd, &except_);
        if (fd > max_fd_) max_fd_ = fd;
    }

    fd_set read_, write_, except_;
    int max_fd_ = -1;
    std::vector<fired_event> fired_;
};

} // namespace

std::unique_ptr<poller> make_select() { return std::make_unique<select_poller>(); }

} // namespace asyncore::pollers
