#pragma once
// Python's asyncore.dispatcher_with_send: send() queues what the socket does not take at once.
// Unlike Python's (out_buffer = out_buffer + data, then slicing), queueing and draining are amortised O(1) per
// byte, and nothing is sent before the connection is up.
#include <string>
#include <string_view>

#include "dispatcher.hpp"

namespace asyncore {

class dispatcher_with_send : public dispatcher {
public:
    using dispatcher::dispatcher;

    // Queues data and tries to send at once. Returns data.size(): all of it is accepted.
    std::size_t send(std::string_view data) override;
    void initiate_send();
    void handle_write() override;
    bool writable() override;
    // The server is stopping: close once out_buffer() has been sent (at once if it is empty).
    void handle_shutdown() override;

    // The bytes not yet sent (Python's out_buffer).
    std::string_view out_buffer() const noexcept { return std::string_view(out_).substr(out_sent_); }

    // At most this many bytes go to one send(2) (Python: 65536).
    static constexpr std::size_t send_chunk = 65536;

private:
    std::string out_;
    std::size_t out_sent_ = 0;
    bool close_when_sent_ = false;
};

} // namespace asyncore
