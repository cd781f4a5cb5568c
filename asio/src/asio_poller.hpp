#pragma once
// The Asio readiness adapter: an asyncore::poller whose interest is a set of async_wait operations on
// non-owning stream_descriptors. Internal to the asio layer.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <asyncore/poller.hpp>

namespace asynchat::asio_transport {

class asio_poller final : public asyncore::poller {
public:
    // Owns its io_context (the loop() backend).
    asio_poller();
    // Runs on the application's io_context (the host); on_events is called, from io's handlers, whenever
    // events are waiting to be dispatched.
    asio_poller(boost::asio::io_context& io, std::function<void()> on_events);
    ~asio_poller() override;

    std::string_view name() const noexcept override { return "asio"; }
    void add(int fd, unsigned interest) override;
    void modify(int fd, unsigned interest) override;
    void remove(int fd) noexcept override;
    // loop() mode: runs io until some fd has events or the timeout passes.
    std::span<const asyncore::fired_event> wait(int timeout_ms) override;

    // Host mode: hands over the events collected since the last call; after dispatching them, rearm() renews
    // the waits that completed.
    std::span<const asyncore::fired_event> take_events();
    void rearm();

    boost::asio::io_context& io() noexcept { return *io_; }

private:
    struct entry {
        std::unique_ptr<boost::asio::posix::stream_descriptor> descriptor;
        std::uint64_t generation = 0;
        unsigned interest = 0;
        unsigned armed = 0;   // the waits in flight (POLLIN, POLLOUT, POLLPRI bits)
        unsigned fired = 0;   // events collected, not yet handed over
        bool listed = false;  // in ready_ (has fired bits or waits to re-arm)
    };

    void arm(int fd);
    void on_wait(int fd, std::uint64_t generation, unsigned bit, const boost::system::error_code& ec);
    std::span<const asyncore::fired_event> collect();

    std::unique_ptr<boost::asio::io_context> own_io_;
    boost::asio::io_context* io_;
    std::function<void()> on_events_;
    std::vector<entry> entries_;          // indexed by fd
    std::vector<int> ready_;              // fds with fired bits
    std::vector<int> rearm_;              // fds whose completed waits are renewed after dispatch
    std::vector<asyncore::fired_event> fired_;
    std::uint64_t next_generation_ = 1;
    bool driving_ = false;                // inside wait(): completions are collected, not announced
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace asynchat::asio_transport
