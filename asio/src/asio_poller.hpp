#pragma once
// The Asio adapter: an asyncore::poller whose interest is a set of async_wait operations on non-owning
// stream_descriptors, and, in the completion design, async_read_some for the channels that take their input from
// the transport, reported to the map's completion_sink (asyncore/poller.hpp). Internal to the asio layer; it knows
// nothing of channels beyond what the sink answers.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <asyncore/poller.hpp>

namespace asynchat::asio_transport {

// How channels that can take their input from the transport (async_chat) are served:
//   readiness:  async_wait(wait_read), then the channel's handle_read does its own recv — like every dispatcher;
//               Asio starts every wait with an epoll_ctl, so this costs one per event;
//   completion: async_read_some into the channel's buffer, and the bytes go to the sink (the map, which hands them
//               to handle_received when the channel is readable, and keeps them until it is). The next read is
//               started from the completion handler itself, so the descriptor always has a read queued and Asio
//               never re-registers it (docs/asio.md: no epoll_ctl per message), at the price of a read buffer
//               per connection that has spoken.
enum class design { readiness, completion };

class asio_poller final : public asyncore::poller {
public:
    // A channel's read buffer starts small, so that a connection that said one short thing and went quiet holds
    // little; the first read that fills it swaps it for the full size.
    static constexpr std::size_t initial_read_size = 1024;
    static constexpr std::size_t read_buffer_size = 16384;

    // Owns its io_context (the loop() backend).
    explicit asio_poller(design d = design::completion);
    // Runs on the application's io_context (the host); on_events is called, from io's handlers, whenever
    // events are waiting to be dispatched.
    asio_poller(boost::asio::io_context& io, std::function<void()> on_events, design d = design::completion);
    ~asio_poller() override;

    std::string_view name() const noexcept override {
        return design_ == design::completion ? "asio" : "asio-readiness";
    }
    void attach(asyncore::completion_sink& sink) override { sink_ = &sink; }
    void add(int fd, unsigned interest) override;
    void modify(int fd, unsigned interest) override;
    void remove(int fd) noexcept override;
    // loop() mode: runs io until some fd has events or the timeout passes.
    std::span<const asyncore::fired_event> wait(int timeout_ms) override;

    // Host mode: hands over the events collected since the last call; after dispatching them, rearm() renews
    // the waits that completed. Called from a handler of io, once per pass.
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
        bool transport_reads = false;        // completion design: this channel's input is read by Asio
        bool had_input = false;              // a read event came: from then on Asio may read for it
        std::uint64_t reader = 0;            // the map's registration of the channel (the sink's transport_reader)
        std::size_t read_capacity = 0;       // of read_buffer
        std::uint64_t read_pass = 0;         // the pass in which a completion handler last started a read
        std::unique_ptr<char[]> read_buffer; // its buffer, allocated on the first read
    };

    void arm(int fd);
    void start_read(int fd);
    void reset_descriptor(int fd);
    void on_wait(int fd, std::uint64_t generation, unsigned bit, const boost::system::error_code& ec);
    void on_read(int fd, std::uint64_t generation, const boost::system::error_code& ec, std::size_t n);
    void deliver(int fd, std::uint64_t generation, std::size_t n, bool eof);
    void mark_ready(int fd);
    void note_activity();
    void arm_waiting();
    std::span<const asyncore::fired_event> collect();

    design design_;
    asyncore::completion_sink* sink_ = nullptr;
    std::unique_ptr<boost::asio::io_context> own_io_;
    boost::asio::io_context* io_;
    std::function<void()> on_events_;
    std::vector<entry> entries_;          // indexed by fd
    std::vector<int> ready_;              // fds with fired bits
    std::vector<int> rearm_;              // fds whose completed waits (or deferred reads) are renewed next pass
    std::vector<asyncore::fired_event> fired_;
    std::uint64_t next_generation_ = 1;
    std::uint64_t pass_ = 1;              // counts the map's passes (wait() calls; host passes)
    bool driving_ = false;                // inside wait(): completions are collected, not announced
    bool activity_ = false;               // inside wait(): bytes were delivered, so the pass may end
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace asynchat::asio_transport
