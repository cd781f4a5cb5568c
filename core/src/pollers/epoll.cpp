// epoll(7), level-triggered so that handlers keep Python's semantics (a handler need not drain the socket).
// Interest lives in the kernel: a pass costs O(ready fds), whatever the number registered.
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <vector>

#include "asyncore/poller.hpp"

namespace asyncore::pollers {
namespace {

class epoll_poller final : public poller {
public:
    epoll_poller() : epfd_(::epoll_create1(EPOLL_CLOEXEC)), events_(64) {
        if (epfd_ < 0) throw std::system_error(errno, std::system_category(), "epoll_create1");
    }
    ~epoll_poller() override { ::close(epfd_); }
    std::string_view name() const noexcept override { return "epoll"; }

    void add(int fd, unsigned interest) override {
        if (ctl(EPOLL_CTL_ADD, fd, interest)) return;
        // Regular files cannot be watched (EPERM) and are always ready, as poll(2) reports them: a
        // file_dispatcher over a file must work on every backend.
        if (errno != EPERM) throw std::system_error(errno, std::system_category(), "epoll_ctl(ADD)");
        always_ready_.push_back({fd, interest});
    }
    void modify(int fd, unsigned interest) override {
        for (auto& f : always_ready_)
            if (f.fd == fd) { f.events = interest; return; }
        if (!ctl(EPOLL_CTL_MOD, fd, interest))
            throw std::system_error(errno, std::system_category(), "epoll_ctl(MOD)");
    }
    void remove(int fd) noexcept override {
        for (auto it = always_ready_.begin(); it != always_ready_.end(); ++it)
            if (it->fd == fd) { always_ready_.erase(it); return; }
        epoll_event ev{};
        ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, &ev);
    }

    std::span<const fired_event> wait(int timeout_ms) override {
        if (!always_ready_.empty()) timeout_ms = 0;
        int n = ::epoll_wait(epfd_, events_.data(), static_cast<int>(events_.size()), timeout_ms);
        fired_.clear();
        for (const auto& f : always_ready_) fired_.push_back({f.fd, f.events & (EPOLLIN | EPOLLOUT)});
        if (n < 0) {
            if (errno == EINTR) return fired_;
            throw std::system_error(errno, std::system_category(), "epoll_wait");
        }
        for (int i = 0; i < n; ++i) fired_.push_back({events_[static_cast<std::size_t>(i)].data.fd,
                                                      events_[static_cast<std::size_t>(i)].events});
        // A full batch suggests more are ready: take more next time (the rest are reported then, level-triggered).
        if (static_cast<std::size_t>(n) == events_.size() && events_.size() < 4096) events_.resize(events_.size() * 2);
        return fired_;
    }

private:
    bool ctl(int op, int fd, unsigned interest) noexcept {
        epoll_event ev{};
        ev.events = interest; // POLLIN/POLLPRI/POLLOUT equal EPOLLIN/EPOLLPRI/EPOLLOUT on Linux
        ev.data.fd = fd;
        return ::epoll_ctl(epfd_, op, fd, &ev) == 0;
    }

    int epfd_;
    std::vector<epoll_event> events_;
    std::vector<fired_event> fired_;
    std::vector<fired_event> always_ready_; // regular files: fd and interest
};

static_assert(EPOLLIN == 0x001 && EPOLLPRI == 0x002 && EPOLLOUT == 0x004 && EPOLLERR == 0x008 && EPOLLHUP == 0x010);

} // namespace

std::unique_ptr<poller> make_epoll() { return std::make_unique<epoll_poller>(); }

} // namespace asyncore::pollers
