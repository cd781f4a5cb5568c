// async_chat with a stream layer (TLS): installing it, the STARTTLS switch, input through the layer, output
// through it, close_notify. layered_stream.hpp says how this stays off the plaintext path.
#include "layered_stream.hpp"

#include <sys/uio.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

namespace asynchat {

stream_layer::~stream_layer() = default;

namespace {

// The plaintext a stream layer decodes from one read, on its way to the framer: one per thread, as async_chat's
// receive buffer, and for the same reasons (an idle channel holds none; a nested loop gets a buffer of its own).
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

} // namespace

// ---- async_chat's stream-layer API

void async_chat::set_stream_layer(std::unique_ptr<stream_layer> layer) {
    if (!layer) throw std::invalid_argument("asynchat::async_chat::set_stream_layer: null layer");
    if (layered_) throw std::logic_error("asynchat::async_chat: a stream layer is already installed or pending");
    layered_ = std::make_unique<layered_stream>(*this, std::move(layer));
    // A client layer has its first handshake message ready: writable() now says so.
    refresh_interest();
}

void async_chat::start_stream_layer(std::unique_ptr<stream_layer> layer) {
    if (!layer) throw std::invalid_argument("asynchat::async_chat::start_stream_layer: null layer");
    if (layered_) throw std::logic_error("asynchat::async_chat: a stream layer is already installed or pending");
    // Everything received after the current message is dropped: inside found_terminator this stops the feed in
    // progress (the rest of that read is never framed), and it drops the bytes the framer carries or was given
    // back. The protocol's own partial message (collect_incoming_data's buffer) is its own business.
    framer_.reset();
    // What is queued now goes out as plaintext, ahead of the switch; what is pushed from now on is queued behind
    // it, for the layer.
    layered_ = std::make_unique<layered_stream>(*this, std::move(layer), std::exchange(out_, output_queue()));
    layered_->switch_if_ready();
    refresh_interest();
}

stream_layer* async_chat::get_stream_layer() noexcept { return layered_ ? layered_->layer() : nullptr; }
const stream_layer* async_chat::get_stream_layer() const noexcept { return layered_ ? layered_->layer() : nullptr; }
bool async_chat::stream_layer_pending() const noexcept { return layered_ && layered_->pending(); }

std::size_t async_chat::layered_backlog() const noexcept { return layered_->backlog(); }

bool async_chat::send_layered_output(output_writer& to) { return layered_ ? layered_->send(to) : false; }

// ---- layered_stream

// The socket as an output_writer, with initiate_send's rules: one piece with send(2), several with writev(2), and
// a handle_close reached from inside the syscall (the peer is gone) closes at once.
struct async_chat::layered_stream::socket_writer final : output_writer {
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

async_chat::layered_stream::layered_stream(async_chat& chat, std::unique_ptr<stream_layer> layer) noexcept
    : chat_(chat), layer_(std::move(layer)) {}

async_chat::layered_stream::layered_stream(async_chat& chat, std::unique_ptr<stream_layer> pending,
                                           output_queue pre_switch) noexcept
    : chat_(chat), pending_(std::move(pending)), pre_switch_(std::move(pre_switch)) {}

void async_chat::layered_stream::install_pending() {
    layer_ = std::move(pending_);
    pre_switch_ = output_queue(); // its storage too: it is not used again
    chat_.refresh_interest();     // reading resumes: what arrives now is the layer's
}

void async_chat::layered_stream::switch_if_ready() {
    if (pending_ && pre_switch_.empty()) install_pending();
}

void async_chat::layered_stream::discard() {
    pre_switch_.clear();
    if (pending_) install_pending(); // nothing is left to send before it
}

std::size_t async_chat::layered_stream::backlog() const noexcept {
    return pre_switch_.footprint() + (layer_ ? layer_->wire_pending().size() : 0);
}

bool async_chat::layered_stream::unsent() const noexcept {
    return !pre_switch_.empty() || (layer_ && !layer_->wire_pending().empty());
}

bool async_chat::layered_stream::writable() const noexcept {
    if (pending_) return true; // pre_switch_ holds what must go out before the switch
    if (!layer_->wire_pending().empty() || close_after_notify_) return true;
    if (notify_sent_ || chat_.out_.empty()) return false;
    // Plaintext waits for the handshake (a write interest now would only spin); a close marker need not.
    return layer_->handshake_done() || chat_.out_.close_reached();
}

void async_chat::layered_stream::receive(std::string_view wire) {
    // Read while a start_stream_layer switch is pending (a transport's read already under way when reading
    // stopped): plaintext sent after the STARTTLS command, before the reply could have reached the peer. It is
    // injected, never the peer's handshake, and is dropped unframed (CVE-2011-0411).
    if (pending_) return;
    async_chat& chat = chat_;
    const auto alive = chat.pin(); // a callback, or a failing send, may close this channel (and free *this)
    auto buffer = shared_plaintext_buffer.take();
    std::string& plaintext = buffer.text();
    try {
        layer_->receive(wire, plaintext);
    } catch (...) {
        // A failed handshake leaves an alert telling the peer why (unknown CA, protocol version): one try to
        // send it before handle_error closes the channel.
        if (chat.connected_) {
            socket_writer to{chat};
            std::size_t ignored = 0;
            flush_wire(to, ignored);
        }
        throw;
    }
    // No wire bytes at all: handle_incoming({}) from a handler outside a read, asking for the bytes it gave back
    // (framer::unread, line_receiver::set_line_mode) to be framed now; they are plaintext already.
    input_scope scope{chat, plaintext};
    try {
        if (!plaintext.empty() || wire.empty()) {
            chat.reading_ = true;
            chat.framer_.feed(plaintext, chat);
            chat.reading_ = false;
        }
        // The peer's close_notify is its EOF: handle_close, once, as for a read of 0 bytes.
        if (layer_->peer_closed() && !chat.closing()) {
            chat.fire_close();
            chat.input_closed_ = true;
        }
        chat.initiate_send();
    } catch (...) {
        chat.release_input();
        throw;
    }
    chat.release_input(); // the plaintext buffer is this thread's, and reused by the next read
    chat.refresh_interest(); // for the pushes of the read, as in handle_incoming
}

// Writes wire_pending() until it is empty (true) or the writer takes less than it was given (false).
bool async_chat::layered_stream::flush_wire(output_writer& to, std::size_t& sent) {
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

void async_chat::layered_stream::send_to_socket() {
    if (!chat_.connected_) return;
    socket_writer to{chat_};
    send(to);
}

bool async_chat::layered_stream::send(output_writer& to) {
    async_chat& chat = chat_;
    const auto alive = chat.pin(); // a failed send closes the channel, which can release its last reference
    const std::size_t bound = std::max<std::size_t>(chat.ac_out_buffer_size, 1);
    std::size_t sent = 0;
    const auto account = [&] {
        if (chat.counters_) chat.counters_->bytes_out += sent;
        chat.check_output_low();
        chat.refresh_interest();
    };
    iovec iov[detail::max_iov];
    if (pending_) {
        // STARTTLS: the reply that announced the switch (and whatever preceded it) goes out as plaintext first.
        const std::size_t filled = pre_switch_.gather(iov, detail::max_iov, bound);
        const std::size_t n = filled > 0 ? to.write(iov, static_cast<int>(filled)) : 0;
        pre_switch_.consume(n);
        sent += n;
        if (pre_switch_.pop_close_marker()) {
            // close_when_done() came before start_stream_layer: the switch never happens.
            account();
            chat.handle_close();
            return true;
        }
        if (!pre_switch_.empty()) {
            account();
            return false;
        }
        install_pending();
    }
    output_queue& out = chat.out_;
    bool flushed = flush_wire(to, sent);
    // Only once the layer's own output is out, so that its wire bytes stay within one send's worth and the
    // rest of the output waits as plaintext in the queue, where the watermarks count it.
    if (flushed && !notify_sent_ && layer_->handshake_done()) {
        // No file ranges: sendfile(2) cannot go through the layer, so file producers are read through more().
        const std::size_t filled = out.gather(iov, detail::max_iov, bound);
        if (filled > 0) {
            out.consume(layer_->send(iov, static_cast<int>(filled)));
            flushed = flush_wire(to, sent);
        }
    }
    if (flushed && !notify_sent_ && out.pop_close_marker()) {
        // Everything before close_when_done() is written: close_notify, and handle_close once that is out too.
        layer_->close_notify();
        notify_sent_ = true;
        close_after_notify_ = true;
        flushed = flush_wire(to, sent);
    }
    if (flushed && close_after_notify_) {
        close_after_notify_ = false;
        account();
        chat.handle_close();
        return true;
    }
    account();
    return false;
}

} // namespace asynchat
