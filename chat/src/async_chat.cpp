#include "asynchat/async_chat.hpp"

#include "layered_stream.hpp"

#include <sys/uio.h>

#include <algorithm>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace asynchat {

namespace {

// One receive buffer per thread instead of one per channel: an idle channel then costs no buffer at all. The
// framer hands views into it to collect_incoming_data and keeps only a partial delimiter when the read ends.
class receive_buffer {
public:
    // A loop run from inside a handler (nested loop) must not overwrite bytes the outer read is still framing.
    struct lease {
        receive_buffer* owner;
        char* data;
        std::vector<char> own;
        ~lease() {
            if (owner) owner->busy_ = false;
        }
    };
    lease take(std::size_t size) {
        if (busy_) {
            lease l{nullptr, nullptr, std::vector<char>(size)};
            l.data = l.own.data();
            return l;
        }
        if (bytes_.size() < size) bytes_.resize(size);
        busy_ = true;
        return lease{this, bytes_.data(), {}};
    }

private:
    std::vector<char> bytes_;
    bool busy_ = false;
};

thread_local receive_buffer shared_receive_buffer;

} // namespace

// Out of line, where layered_stream is complete (layered_ would not compile otherwise).
async_chat::async_chat(asyncore::socket_map* map) : dispatcher(map) {}
async_chat::async_chat(asyncore::socket sock, asyncore::socket_map* map) : dispatcher(std::move(sock), map) {}
async_chat::~async_chat() = default;

void async_chat::handle_read() {
    const std::size_t size = std::max<std::size_t>(ac_in_buffer_size, 1);
    auto buffer = shared_receive_buffer.take(size);
    const std::size_t n = recv(buffer.data, size);
    if (n == 0) return; // the peer closed (handle_close has run) or nothing was there after all
    handle_incoming(std::string_view(buffer.data, n));
}

void async_chat::release_input() {
    // Before the read's buffer is reused: what the send left of the borrowed bytes becomes the queue's own, and a
    // channel that kept views into the input copies what it still needs.
    if (!out_.keep_borrowed()) throw std::bad_alloc(); // the queue was cleared: handle_error closes
    end_of_input();
}

void async_chat::handle_incoming(std::string_view bytes) {
    if (counters_) counters_->bytes_in += bytes.size();
    if (layered_) [[unlikely]] {
        layered_->receive(bytes);
        return;
    }
    reading_ = true;
    input_scope scope{*this, bytes};
    try {
        framer_.feed(bytes, *this);
        reading_ = false;
        initiate_send();
    } catch (...) {
        release_input();
        throw;
    }
    release_input();
    refresh_interest(); // for the pushes of the read, which leave that to here (initiate_send may return early)
}

bool async_chat::in_input(std::string_view data) const noexcept {
    // Compared as integers: < between pointers into different objects is unspecified.
    const auto begin = reinterpret_cast<std::uintptr_t>(input_.data());
    const auto p = reinterpret_cast<std::uintptr_t>(data.data());
    return reading_ && !input_.empty() && !data.empty() && p >= begin && p - begin <= input_.size() &&
           data.size() <= input_.size() - (p - begin);
}

void async_chat::push_from_input(std::string_view data) {
    if (!in_input(data)) {
        push(data); // not this read's bytes (or not in a read): copied
        return;
    }
    out_.push_borrowed(data);
    check_output_high();
}

void async_chat::handle_write() { initiate_send(); }

void async_chat::handle_close() {
    // A half-close (the peer shut down its sending side) with answers still queued: send them, then close. Python
    // closed at once and lost them.
    // (After close_notify nothing more can be sent: what was pushed behind the close marker is dropped.)
    if (connected() && !input_closed_ && unsent_output() && !sending_ && !(layered_ && layered_->notify_sent())) {
        input_closed_ = true; // no more reads: the EOF would only be reported again
        close_when_done();
        return;
    }
    // The peer ended its TLS stream with close_notify and nothing is left to send: answer with ours before
    // closing (RFC 8446 6.1), through the close marker, so that it goes out like any other output.
    if (layered_ && connected() && !sending_ && layered_->peer_closed()) {
        input_closed_ = true;
        close_when_done();
        return;
    }
    close();
}

// Paused above the high watermark: the loop drops POLLIN (the Asio transport starts no read), so the peer's
// further requests wait in the kernel buffers and, once those are full, in the peer itself (TCP flow control).
// While a start_stream_layer switch is pending nothing is read: what the peer sends then is either injected
// plaintext (which must never be framed) or, once the switch is made, the layer's handshake.
bool async_chat::readable() { return !input_closed_ && !output_paused_ && !(layered_ && layered_->pending()); }

void async_chat::message_length_exceeded(std::size_t) { incoming_.clear(); }

void async_chat::set_output_watermarks(std::size_t high, std::size_t low) {
    if (low > high) throw std::invalid_argument("asynchat::async_chat::set_output_watermarks: low above high");
    output_high_ = high;
    output_low_ = low;
    if (high == 0) {
        // Off: a paused channel reads again at once.
        if (output_paused_) {
            output_paused_ = false;
            refresh_interest();
            output_low();
        }
        return;
    }
    check_output_high();
    check_output_low();
}

void async_chat::check_output_high() {
    if (output_paused_ || output_high_ == 0 || output_backlog() <= output_high_) return;
    output_paused_ = true;
    refresh_interest();
    output_high();
}

void async_chat::check_output_low() {
    if (!output_paused_ || output_backlog() > output_low_) return;
    output_paused_ = false;
    refresh_interest();
    output_low();
}

bool async_chat::writable() {
    if (layered_) [[unlikely]] return !connected_ || layered_->writable();
    return !out_.empty() || !connected_;
}

void async_chat::push(std::string&& data) {
    const auto alive = pin(); // the send below may close this channel (peer gone): it must outlive this call
    out_.push(std::move(data));
    after_push();
}

void async_chat::push(std::string_view data) {
    if (reading_) {
        // Inside a read handler (the usual place for a reply): the loop holds the channel, and handle_incoming
        // sends and refreshes the interest once the read is framed, so a push is only the copy and the check.
        out_.push_bytes(data);
        check_output_high();
        return;
    }
    const auto alive = pin();
    out_.push_bytes(data);
    after_push();
}

void async_chat::after_push() {
    if (!reading_) initiate_send();
    check_output_high();
    refresh_interest();
}

void async_chat::push_with_producer(std::unique_ptr<producer> p) {
    const auto alive = pin();
    out_.push_with_producer(std::move(p));
    after_push();
}

void async_chat::push_length_prefixed(std::string_view payload, const length_prefixed::format& f) {
    const std::string header = length_prefixed::header(payload.size(), f); // throws before anything is queued
    const auto alive = pin();
    out_.push_bytes(header);
    out_.push_bytes(payload);
    after_push();
}

void async_chat::close_when_done() {
    out_.close_when_done();
    refresh_interest();
}

void async_chat::initiate_send() {
    if (layered_) [[unlikely]] {
        layered_->send_to_socket();
        return;
    }
    if (!connected_ || out_.empty()) return;
    const auto alive = pin(); // a failed send closes the channel, which can release its last reference
    const std::size_t bound = std::max<std::size_t>(ac_out_buffer_size, 1);
    std::size_t sent = 0;
    {
        // A send that finds the peer gone reaches handle_close from inside the syscall wrapper: nothing queued
        // can be delivered any more, so that handle_close closes at once instead of waiting to drain.
        struct sending_scope {
            bool& flag;
            explicit sending_scope(bool& f) : flag(f) { flag = true; }
            ~sending_scope() { flag = false; }
        } scope(sending_);
        const auto send_file_range = [this] {
            const auto file = out_.front_file_range();
            if (!file) return std::size_t{0};
            const auto count = static_cast<std::size_t>(
                std::min<std::uint64_t>(file->remaining, std::max<std::size_t>(ac_sendfile_size, 1)));
            const std::size_t n = send_file(file->fd, file->offset, count);
            out_.consume_file(n);
            return n;
        };
        if (out_.front_file_range()) {
            sent = send_file_range();
        } else {
            iovec iov[detail::max_iov];
            const std::size_t filled = out_.gather(iov, detail::max_iov, bound, true);
            // One piece goes out with send(2): sendmsg's iovec import costs the kernel more for nothing.
            if (filled == 1)
                sent = dispatcher::send(std::string_view(static_cast<const char*>(iov[0].iov_base), iov[0].iov_len));
            else if (filled > 1)
                sent = sendv(iov, static_cast<int>(filled));
            out_.consume(sent);
            // Everything before a file went out: the file follows in the same event, not one pass later.
            if (sent > 0 && connected_ && out_.ready_bytes() == 0) sent += send_file_range();
        }
    }
    if (counters_) counters_->bytes_out += sent;
    check_output_low();
    // Everything queued before close_when_done() is out (an exhausted producer still ahead of the marker is
    // stepped over by the next gather, one writable event later, as Python's initiate_send does).
    if (out_.pop_close_marker()) handle_close();
    refresh_interest();
}

void async_chat::discard_buffers() {
    framer_.reset();
    incoming_.clear();
    out_.clear();
    if (layered_) layered_->discard();
    check_output_low();
    refresh_interest();
}

bool async_chat::unsent_output() const noexcept { return !out_.empty() || (layered_ && layered_->unsent()); }

} // namespace asynchat
