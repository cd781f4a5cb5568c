#pragma once
// async_chat::layered_stream — what an async_chat does differently once a stream layer (TLS) sits between its
// socket and its framer / producer FIFO: the layer, the STARTTLS switch to it, and the close_notify on a clean
// close. Private to the chat layer (not installed): the public API is async_chat's set_stream_layer,
// start_stream_layer, get_stream_layer, stream_layer_pending and send_layered_output (async_chat.hpp).
//
// A channel holds one only from set_stream_layer or start_stream_layer on; a plaintext channel holds a null
// pointer, so each of its paths (handle_incoming, initiate_send, writable, readable, output_backlog) pays one
// test of that pointer and nothing else — no allocation, no virtual call.
#include <cstddef>
#include <memory>
#include <string_view>

#include "asynchat/async_chat.hpp"
#include "asynchat/output_queue.hpp"
#include "asynchat/stream_layer.hpp"

namespace asynchat {

namespace detail {
// Pieces per writev, for async_chat's plaintext initiate_send and the layered sends alike. The byte bound
// (ac_out_buffer_size) is what limits a send; this only has to be large enough not to cut a burst of small
// messages into many small sends (64-byte lines: 256 pieces = 16 KiB).
inline constexpr int max_iov = 256;
} // namespace detail

class async_chat::layered_stream {
public:
    // set_stream_layer: the layer carries everything from now on.
    layered_stream(async_chat& chat, std::unique_ptr<stream_layer> layer) noexcept;
    // start_stream_layer: the layer takes over once pre_switch (what was queued before the call) is sent.
    layered_stream(async_chat& chat, std::unique_ptr<stream_layer> pending, output_queue pre_switch) noexcept;

    // The installed layer (null while the switch is pending), and whether the switch is pending.
    stream_layer* layer() const noexcept { return layer_.get(); }
    bool pending() const noexcept { return pending_ != nullptr; }
    // The switch can happen now (nothing is left to send before it): installs the pending layer.
    void switch_if_ready();

    // What output_backlog() adds: the plaintext still to go out before the switch and the wire bytes not sent.
    std::size_t backlog() const noexcept;
    // Output beyond the channel's queue: plaintext before the switch, or wire bytes.
    bool unsent() const noexcept;
    // writable() for a connected channel.
    bool writable() const noexcept;
    // The layer's close_notify is queued: nothing more goes out.
    bool notify_sent() const noexcept { return notify_sent_; }
    // The peer ended its stream with close_notify, and ours is not queued yet: handle_close answers with it.
    bool peer_closed() const noexcept { return layer_ && !notify_sent_ && layer_->peer_closed(); }

    // handle_incoming's work: the wire bytes through the layer, the plaintext to the framer, then the send.
    void receive(std::string_view wire);
    // initiate_send's work, to the channel's socket.
    void send_to_socket();
    // send_layered_output's work: true when handle_close was called for the close marker.
    bool send(output_writer& to);
    // discard_buffers: the plaintext queued before the switch is dropped, and the switch is made.
    void discard();

private:
    struct socket_writer;
    void install_pending();
    bool flush_wire(output_writer& to, std::size_t& sent);

    async_chat& chat_;
    std::unique_ptr<stream_layer> layer_;
    std::unique_ptr<stream_layer> pending_; // waits for pre_switch_ to be sent
    output_queue pre_switch_;               // only during a switch: what was queued before start_stream_layer
    bool notify_sent_ = false;              // the layer's close_notify is queued: no more plaintext goes out
    bool close_after_notify_ = false;       // ... and handle_close follows once it is written
};

} // namespace asynchat
