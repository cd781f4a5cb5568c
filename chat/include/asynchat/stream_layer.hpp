#pragma once
// asynchat::stream_layer — a transformation between the wire and async_chat, TLS being the one that matters
// (asynchat::tls, tls/include/asynchat/tls.hpp; docs/tls.md). The chat layer knows nothing of TLS: it hands the
// layer what it read and the plaintext it wants to send, and the layer hands back plaintext for the framer and
// wire bytes for the socket.
//
//   socket / transport  <->  stream_layer  <->  framer (input) / producer FIFO (output)  <->  your handlers
//
// A layer is sans-I/O: it never touches a socket and never blocks, so it runs on every backend and under
// string_transport. Errors are exceptions, which reach the channel's handle_error (whose default closes it).
#include <cstddef>
#include <string>
#include <string_view>

#include <sys/uio.h>

namespace asynchat {

class stream_layer {
public:
    virtual ~stream_layer();

    // Wire bytes from the peer; appends the plaintext they decode to `plaintext` (all of it: nothing decodable
    // is kept back for a later call). May queue wire bytes of its own (a handshake reply).
    virtual void receive(std::string_view wire, std::string& plaintext) = 0;
    // Plaintext to send; returns how many bytes it took, from the front of the iovecs. It takes fewer (perhaps
    // none) while its wire output is over its bound or before it can send at all (during a TLS handshake), so
    // the rest stays in the channel's queue, where the output watermarks see it. The iovecs may point elsewhere
    // on the next call (the queue moves), with the bytes not taken at their front.
    virtual std::size_t send(const iovec* iov, int iovcnt) = 0;
    // Wire bytes waiting to go out (handshake messages, records, alerts), and how many of them were sent.
    virtual std::string_view wire_pending() const noexcept = 0;
    virtual void wire_sent(std::size_t n) = 0;
    // A clean close: queue the layer's end-of-stream message (TLS close_notify); wire_pending() then holds it.
    // Nothing is sent after it.
    virtual void close_notify() = 0;
    // The peer ended its stream cleanly (it sent close_notify): the channel treats it as EOF.
    virtual bool peer_closed() const noexcept = 0;
    // The layer can carry plaintext (the TLS handshake is complete).
    virtual bool handshake_done() const noexcept = 0;
};

} // namespace asynchat
