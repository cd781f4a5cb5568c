#include "asyncore/dispatcher_with_send.hpp"

namespace asyncore {

std::size_t dispatcher_with_send::send(std::string_view data) {
    if (debug) log_info("sending " + std::to_string(data.size()) + " bytes");
    out_.append(data);
    initiate_send();
    refresh_interest();
    return data.size();
}

void dispatcher_with_send::initiate_send() {
    // Nothing goes out before the connection is up: handle_write runs once it is (writable() says so).
    if (!connected_ || out_sent_ == out_.size()) return;
    out_sent_ += dispatcher::send(out_buffer().substr(0, send_chunk));
    if (out_sent_ == out_.size()) {
        out_.clear();
        out_sent_ = 0;
    } else if (out_sent_ >= send_chunk && out_sent_ * 2 >= out_.size()) {
        // Drop the sent prefix only once it is at least half the buffer: each byte moves O(1) times.
        out_.erase(0, out_sent_);
        out_sent_ = 0;
    }
}

void dispatcher_with_send::handle_write() {
    initiate_send();
    if (close_when_sent_ && out_buffer().empty() && fileno() >= 0) close();
}

void dispatcher_with_send::handle_shutdown() {
    if (out_buffer().empty() || !connected_) {
        close();
        return;
    }
    close_when_sent_ = true; // handle_write closes once the buffer is out
}

bool dispatcher_with_send::writable() { return !connected_ || out_sent_ < out_.size(); }

} // namespace asyncore
