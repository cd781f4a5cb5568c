#include "asynchat/async_chat.hpp"

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

// The plaintext a stream layer decodes from one read, on its way to the framer: one per thread as well, and for
// the same reasons (a nested loop gets a buffer of its own).
class plaintext_buffer {
public:
    struct lease {
        plaintext_buffer* owner;
        std::string own;
        std::string& text() noexcept { return owner ? owner->text_ : own; }
        ~lease() {
            if (owner) {
                owner->text_.clear();
                owner->busy_ = false;
            }
        }
    };
    lease take() {
        if (busy_) return lease{nullptr, {}};
        busy_ = true;
        return lease{this, {}};
    }

private:
    std::string text_;
    bool busy_ = false;
};

thread_local plaintext_buffer shared_plaintext_buffer;

// Pieces per writev. The byte bound (ac_out_buffer_size) is what limits a send; this only has to be large enough
// not to cut a burst of small messages into many small sends (64-byte lines: 256 pieces = 16 KiB).
constexpr int max_iov = 256;

} // namespace

// The socket as an output_writer, with initiate_send's rules: one piece with send(2), several with writev(2), and
// a handle_close reached from inside the syscall (the peer is gone) closes at once.
struct async_chat::socket_writer final : output_writer {
    async_chat& chat;
    explicit socket_writer(async_chat& c) noexcept : chat(c) {}
    std::size_t write(const iovec* iov, int iovcnt) override {
        if (!chat.connected_ || iovcnt <= 0) return 0;
        chat.sending_ = true;
        struct unset {
            bool& flag;
            ~unset() { flag = false; }
        } guard{chat.sending_};
        if (iovcnt == 1)
            return chat.dispatcher::send(std::string_view(static_cast<const char*>(iov[0].iov_base), iov[0].iov_len));
        return chat.sendv(iov, iovcnt);
    }
};

void async_chat::handle_read() {
    const std::size_t size = std::max<std::size_t>(ac_in_buffer_size, 1);
    auto buffer = shared_receive_buffer.take(size);
    const std::size_t n = recv(buffer.data, size);
    if (n == 0) return; // the peer closed (handle_close has run) or nothing was there after all
    handle_incoming(std::string_view(buffer.data, n));
}

// The bytes of one read, while it is framed and its output sent: push_from_input borrows from them. Nested reads
// (a handler feeding the channel itself) put the outer one back.
struct async_chat::input_scope {
    async_chat& chat;
    std::string_view outer;
    input_scope(async_chat& c, std::string_view bytes) noexcept : chat(c), outer(std::exchange(c.input_, bytes)) {}
    ~input_scope() {
        chat.reading_ = false;
        chat.input_ = outer;
    }
};

void async_chat::release_input() {
    // Before the read's buffer is reused: what the send left of the borrowed bytes becomes the queue's own, and a
    // channel that kept views into the input copies what it still needs.
    if (!out_.keep_borrowed()) throw std::bad_alloc(); // the queue was cleared: handle_error closes
    end_of_input();
}

void async_chat::handle_incoming(std::string_view bytes) {
    if (counters_) counters_->bytes_in += bytes.size();
    if (layer_ || pending_layer_) [[unlikely]] {
        receive_layered(bytes);
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
    if (connected() && !input_closed_ && unsent_output() && !sending_ && !notify_sent_) {
        input_closed_ = true; // no more reads: the EOF would only be reported again
        close_when_done();
        return;
    }
    // The peer ended its TLS stream with close_notify and nothing is left to send: answer with ours before
    // closing (RFC 8446 6.1), through the close marker, so that it goes out like any other output.
    if (layer_ && connected() && !sending_ && !notify_sent_ && layer_->peer_closed()) {
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
bool async_chat::readable() { return !input_closed_ && !output_paused_ && !pending_layer_; }

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
    if (layer_ || pending_layer_) [[unlikely]] return !connected_ || layered_writable();
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
    if (layer_ || pending_layer_) [[unlikely]] {
        if (!connected_) return;
        socket_writer to{*this};
        send_layered_output(to);
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
            iovec iov[max_iov];
            const std::size_t filled = out_.gather(iov, max_iov, bound, true);
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
    if (pre_switch_) pre_switch_->clear();
    if (pending_layer_) install_pending_layer(); // nothing is left to send before it
    check_output_low();
    refresh_interest();
}

// ---- the stream layer

stream_layer::~stream_layer() = default;

void async_chat::set_stream_layer(std::unique_ptr<stream_layer> layer) {
    if (!layer) throw std::invalid_argument("asynchat::async_chat::set_stream_layer: null layer");
    if (layer_ || pending_layer_)
        throw std::logic_error("asynchat::async_chat: a stream layer is already installed or pending");
    layer_ = std::move(layer);
    // A client layer has its first handshake message ready: writable() now says so.
    refresh_interest();
}

void async_chat::start_stream_layer(std::unique_ptr<stream_layer> layer) {
    if (!layer) throw std::invalid_argument("asynchat::async_chat::start_stream_layer: null layer");
    if (layer_ || pending_layer_)
        throw std::logic_error("asynchat::async_chat: a stream layer is already installed or pending");
    // Everything received after the current message is dropped: inside found_terminator this stops the feed in
    // progress (the rest of that read is never framed), and it drops the bytes the framer carries or was given
    // back. The protocol's own partial message (collect_incoming_data's buffer) is its own business.
    framer_.reset();
    pending_layer_ = std::move(layer);
    // What is queued now goes out as plaintext, ahead of the switch; what is pushed from now on is queued behind
    // it, for the layer.
    pre_switch_ = std::make_unique<output_queue>(std::exchange(out_, output_queue()));
    if (pre_switch_->empty()) install_pending_layer();
    refresh_interest();
}

void async_chat::install_pending_layer() {
    layer_ = std::move(pending_layer_);
    pre_switch_.reset();
    refresh_interest(); // reading resumes: what arrives now is the layer's
}

std::size_t async_chat::layered_backlog() const noexcept {
    return (pre_switch_ ? pre_switch_->footprint() : 0) + (layer_ ? layer_->wire_pending().size() : 0);
}

bool async_chat::unsent_output() const noexcept {
    return !out_.empty() || (pre_switch_ && !pre_switch_->empty()) || (layer_ && !layer_->wire_pending().empty());
}

bool async_chat::layered_writable() {
    if (pending_layer_) return true; // pre_switch_ holds what must go out before the switch
    if (!layer_->wire_pending().empty() || close_after_notify_) return true;
    if (notify_sent_ || out_.empty()) return false;
    // Plaintext waits for the handshake (a write interest now would only spin); a close marker need not.
    return layer_->handshake_done() || out_.close_reached();
}

void async_chat::receive_layered(std::string_view wire) {
    // Read while a start_stream_layer switch is pending (a transport's read already under way when reading
    // stopped): plaintext sent after the STARTTLS command, before the reply could have reached the peer. It is
    // injected, never the peer's handshake, and is dropped unframed (CVE-2011-0411).
    if (pending_layer_) return;
    const auto alive = pin(); // a callback, or a failing send, may close this channel
    auto buffer = shared_plaintext_buffer.take();
    std::string& plaintext = buffer.text();
    try {
        layer_->receive(wire, plaintext);
    } catch (...) {
        // A failed handshake leaves an alert telling the peer why (unknown CA, protocol version): one try to
        // send it before handle_error closes the channel.
        if (connected_) {
            socket_writer to{*this};
            std::size_t ignored = 0;
            flush_wire(to, ignored);
        }
        throw;
    }
    // No wire bytes at all: handle_incoming({}) from a handler outside a read, asking for the bytes it gave back
    // (framer::unread, line_receiver::set_line_mode) to be framed now; they are plaintext already.
    input_scope scope{*this, plaintext};
    try {
        if (!plaintext.empty() || wire.empty()) {
            reading_ = true;
            framer_.feed(plaintext, *this);
            reading_ = false;
        }
        // The peer's close_notify is its EOF: handle_close, once, as for a read of 0 bytes.
        if (layer_->peer_closed() && !closing()) {
            fire_close();
            input_closed_ = true;
        }
        initiate_send();
    } catch (...) {
        release_input();
        throw;
    }
    release_input(); // the plaintext buffer is this thread's, and reused by the next read
    refresh_interest(); // for the pushes of the read, as in handle_incoming
}

// Writes wire_pending() until it is empty (true) or the writer takes less than it was given (false).
bool async_chat::flush_wire(output_writer& to, std::size_t& sent) {
    for (;;) {
        const std::string_view wire = layer_->wire_pending();
        if (wire.empty()) return true;
        iovec iov{const_cast<char*>(wire.data()), wire.size()};
        const std::size_t n = to.write(&iov, 1);
        if (n > 0) layer_->wire_sent(n);
        sent += n;
        if (n < wire.size()) return layer_->wire_pending().empty();
    }
}

bool async_chat::send_layered_output(output_writer& to) {
    if (!layer_ && !pending_layer_) return false;
    const auto alive = pin(); // a failed send closes the channel, which can release its last reference
    const std::size_t bound = std::max<std::size_t>(ac_out_buffer_size, 1);
    std::size_t sent = 0;
    const auto account = [&] {
        if (counters_) counters_->bytes_out += sent;
        check_output_low();
        refresh_interest();
    };
    iovec iov[max_iov];
    if (pending_layer_) {
        // STARTTLS: the reply that announced the switch (and whatever preceded it) goes out as plaintext first.
        const std::size_t filled = pre_switch_->gather(iov, max_iov, bound);
        const std::size_t n = filled > 0 ? to.write(iov, static_cast<int>(filled)) : 0;
        pre_switch_->consume(n);
        sent += n;
        if (pre_switch_->pop_close_marker()) {
            // close_when_done() came before start_stream_layer: the switch never happens.
            account();
            handle_close();
            return true;
        }
        if (!pre_switch_->empty()) {
            account();
            return false;
        }
        install_pending_layer();
    }
    bool flushed = flush_wire(to, sent);
    // Only once the layer's own output is out, so that its wire bytes stay within one send's worth and the
    // rest of the output waits as plaintext in the queue, where the watermarks count it.
    if (flushed && !notify_sent_ && layer_->handshake_done()) {
        // No file ranges: sendfile(2) cannot go through the layer, so file producers are read through more().
        const std::size_t filled = out_.gather(iov, max_iov, bound);
        if (filled > 0) {
            out_.consume(layer_->send(iov, static_cast<int>(filled)));
            flushed = flush_wire(to, sent);
        }
    }
    if (flushed && !notify_sent_ && out_.pop_close_marker()) {
        // Everything before close_when_done() is written: close_notify, and handle_close once that is out too.
        layer_->close_notify();
        notify_sent_ = true;
        close_after_notify_ = true;
        flushed = flush_wire(to, sent);
    }
    if (flushed && close_after_notify_) {
        close_after_notify_ = false;
        account();
        handle_close();
        return true;
    }
    account();
    return false;
}

} // namespace asynchat
