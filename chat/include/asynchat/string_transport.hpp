#pragma once
// asynchat::string_transport — Twisted's StringTransport for async_chat: drives any async_chat subclass from
// in-memory bytes, with the segmentation you choose, and hands back what it wrote. No socket, no loop, so protocol
// tests and fuzzers run the real channel code deterministically:
//
//   my_protocol chat;                          // constructed without a socket
//   asynchat::string_transport t(chat);
//   t.receive("HELO x\r\nMAIL FROM:<a>\r\n", 1);  // as 1-byte reads
//   BOOST_TEST(t.written() == "250 ...");
#include <cstddef>
#include <string>
#include <string_view>

#include <sys/uio.h>

#include "async_chat.hpp"

namespace asynchat {

class string_transport {
public:
    explicit string_transport(async_chat& chat) noexcept : chat_(chat) {}

    // Delivers bytes as successive reads of at most `segment` bytes (0: one read with everything).
    void receive(std::string_view bytes, std::size_t segment = 0) {
        if (segment == 0) segment = bytes.size() ? bytes.size() : 1;
        for (std::size_t at = 0; at < bytes.size(); at += segment) chat_.handle_incoming(bytes.substr(at, segment));
    }

    // Everything the channel queued since the last call (strings and producers' output, in order), as if the
    // peer had read it all. Reaching a close_when_done() marker calls the channel's handle_close, as sending
    // would, and sets closed_when_done(); after that nothing more is written. With a stream layer (TLS) these are
    // the wire bytes the layer produced (what a socket would carry), and a pending start_stream_layer switch is
    // made once the plaintext before it has been written.
    std::string written() {
        std::string out;
        auto& queue = chat_.output();
        // Closed: a socket would send nothing more, so what was pushed after the close is dropped here too.
        if (closed_when_done_) {
            queue.clear();
            return out;
        }
        if (chat_.get_stream_layer() || chat_.stream_layer_pending()) {
            struct append_all final : async_chat::output_writer {
                std::string& to;
                explicit append_all(std::string& s) noexcept : to(s) {}
                std::size_t write(const iovec* iov, int iovcnt) override {
                    std::size_t n = 0;
                    for (int i = 0; i < iovcnt; ++i) {
                        to.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
                        n += iov[i].iov_len;
                    }
                    return n;
                }
            } writer{out};
            for (;;) {
                const std::size_t before = out.size();
                const bool pending = chat_.stream_layer_pending();
                if (chat_.send_layered_output(writer)) {
                    closed_when_done_ = true;
                    break;
                }
                if (out.size() == before && pending == chat_.stream_layer_pending()) break;
            }
            return out;
        }
        for (;;) {
            iovec iov[16];
            const std::size_t n = queue.gather(iov, 16, std::size_t{1} << 20);
            if (n == 0) break;
            std::size_t taken = 0;
            for (std::size_t i = 0; i < n; ++i) {
                out.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
                taken += iov[i].iov_len;
            }
            queue.consume(taken);
        }
        chat_.check_output_watermarks();   // everything was read: a channel paused by backpressure reads again
        if (queue.pop_close_marker()) {
            closed_when_done_ = true;
            chat_.handle_close();
        }
        return out;
    }

    bool closed_when_done() const noexcept { return closed_when_done_; }

private:
    async_chat& chat_;
    bool closed_when_done_ = false;
};

} // namespace asynchat
