// poll(2): no fd limit. The pollfd array is kept between passes (an fd -> index table makes changes O(1)), so a
// pass costs one poll over the registered channels rather than rebuilding the set as Python's poll2 does.
#include <poll.h>

#include <cerrno>
#include <system_error>
#include <vector>

#include "asyncore/poller.hpp"

namespace asyncore::pollers {
namespace {

class poll_poller final : public poller {
public:
    std::string_view name() const noexcept override { return "poll"; }

    void add(int fd, unsigned interest) override {
        if (static_cast<std::size_t>(fd) >= index_.size()) index_.resize(static_cast<std::size_t>(fd) + 1, -1);
        index_[static_cast<std::size_t>(fd)] = static_cast<int>(fds_.size());
        fds_.push_back({fd, static_cast<short>(interest), 0});
    }
    void modify(int fd, unsigned interest) override {
        fds_[static_cast<std::size_t>(index_[static_cast<std::size_t>(fd)])].events = static_cast<short>(interest);
    }
    void remove(int fd) noexcept override {
        if (fd < 0 || static_cast<std::size_t>(fd) >= index_.size()) return;
        int i = index_[static_cast<std::size_t>(fd)];
        if (i < 0) return;
        // Swap-remove keeps the array dense.
        fds_[static_cast<std::size_t>(i)] = fds_.back();
        index_[static_cast<std::size_t>(fds_[static_cast<std::size_t>(i)].fd)] = i;
        fds_.pop_back();
        index_[static_cast<std::size_t>(fd)] = -1;
    }

    std::span<const fired_event> wait(int timeout_ms) override {
        fired_.clear();
        int n = ::poll(fds_.data(), fds_.size(), timeout_ms);
        if (n < 0) {
            if (errno == EINTR) return {};
            throw std::system_error(errno, std::system_category(), "poll");
        }
        for (const auto& p : fds_) {
            if (n == 0) break;
            if (p.revents) {
                fired_.push_back({p.fd, static_cast<unsigned>(static_cast<unsigned short>(p.revents))});
                --n;
            }
        }
        return fired_;
    }

private:
    std::vector<pollfd> fds_;
    std::vector<int> index_;
    std::vector<fired_event> fired_;
};

} // namespace

std::unique_ptr<poller> make_poll() { return std::make_unique<poll_poller>(); }

} // namespace asyncore::pollers
