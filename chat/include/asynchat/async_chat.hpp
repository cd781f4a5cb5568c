#pragma once
// asynchat::async_chat — Python's asynchat.async_chat: a dispatcher that frames its input by a terminator and
// sends its output from a producer FIFO. It is thin glue: the framing is asynchat::framer and the FIFO is
// asynchat::output_queue, both sans-I/O (framer.hpp, output_queue.hpp).
//
// Subclass it and override collect_incoming_data() and found_terminator():
//
//   struct line_echo : asynchat::async_chat {
//       std::string line;
//       explicit line_echo(asyncore::socket s) : async_chat(std::move(s)) { set_terminator("\r\n"); }
//       void collect_incoming_data(std::string_view data) override { line.append(data); }
//       void found_terminator() override { push(std::move(line) + "\r\n"); line.clear(); }
//   };
//
// What differs from Python, deliberately (docs/porting.md has the full list):
//   * Cost is linear in the bytes received however they are segmented, and collect_incoming_data gets views into
//     the receive buffer (no copy per message); Python re-copies its buffer after every terminator.
//   * An idle channel holds no receive buffer: reads go through one buffer per thread, and only the bytes of a
//     possible partial delimiter are kept between reads.
//   * push() inside a read handler only queues; what the read produced goes out together, in one writev(2), when
//     the handler returns. Outside a read handler push() sends at once, as in Python.
//   * max_message bounds the bytes collected between two terminators (default 0: unlimited, as Python). Past it
//     the channel gets handle_error with asynchat::message_too_long, whose default closes it — or, with
//     on_overflow::discard, message_length_exceeded() once and the rest of that message is dropped.
//   * Output backpressure: above the high watermark of queued output (default 1 MiB) the channel stops reading
//     its peer, and resumes below the low one (default 256 KiB), so a peer that sends requests but never reads
//     the answers cannot make it buffer without bound (Python buffers all of them).
//   * When the peer stops sending (read EOF) while output is still queued, the default handle_close stops
//     reading and closes once the queue is sent, instead of dropping it. If the peer is gone altogether, the
//     failing send closes the channel at once.
//   * A stream layer (TLS, asynchat::tls) can sit between the socket and the framer / producer FIFO, from the
//     first byte (set_stream_layer) or from a STARTTLS command on (start_stream_layer): the protocol's handlers
//     do not change. docs/tls.md.
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <asyncore/counter.hpp>
#include <asyncore/dispatcher.hpp>

#include "framer.hpp"
#include "framing_rules.hpp"
#include "output_queue.hpp"
#include "producers.hpp"
#include "stream_layer.hpp"

namespace asynchat {

// Bytes a set of channels received and sent, for a server's statistics (/metrics). Several channels may share
// one; the counts are plain integers, like everything else that belongs to one loop's thread.
// Written by the channels' loop thread only; readable from any thread (asyncore::counter).
struct traffic_counters {
    asyncore::counter bytes_in = 0;
    asyncore::counter bytes_out = 0;
};

class async_chat : public asyncore::dispatcher, public framer_sink {
public:
    explicit async_chat(asyncore::socket_map* map = nullptr);
    explicit async_chat(asyncore::socket sock, asyncore::socket_map* map = nullptr);
    ~async_chat() override;

    // ---- input
    // Called with each piece of the current message (never empty; the view lives only during the call).
    void collect_incoming_data(std::string_view data) override = 0;
    // Called when the terminator is found; set_terminator here applies to the bytes already received.
    void found_terminator() override = 0;

    // A delimiter ("\r\n", any length; "" means none), a byte count (negative: std::invalid_argument), or none.
    void set_terminator(terminator t) { framer_.set_terminator(std::move(t)); }
    void set_terminator(const char* delimiter) { set_terminator(terminator(delimiter)); }
    void set_terminator(std::string_view delimiter) { set_terminator(terminator(delimiter)); }
    void set_terminator(const std::string& delimiter) { set_terminator(terminator(std::string_view(delimiter))); }
    template <std::integral I>
        requires(!std::same_as<I, bool>)
    void set_terminator(I count) { set_terminator(terminator::count(count)); }
    // A framing rule (framing_rules.hpp): set_terminator(asynchat::netstring::make()).
    template <std::derived_from<framing_rule> R>
    void set_terminator(std::shared_ptr<R> rule) { set_terminator(terminator(std::move(rule))); }
    // For a count terminator, the bytes still expected (0 once found), as in Python.
    const terminator& get_terminator() const noexcept { return framer_.get_terminator(); }

    // Most bytes between two terminators (0: unlimited, the default) and what a longer message does:
    // on_overflow::close (the default) throws message_too_long into handle_error, which closes the channel;
    // on_overflow::discard calls message_length_exceeded once, as soon as the bound is crossed, drops the rest of
    // that message and frames the next one as usual (framer.hpp says how for each terminator kind).
    void set_max_message(std::size_t bytes, on_overflow mode = on_overflow::close) noexcept {
        framer_.set_max_message(bytes, mode);
    }
    std::size_t max_message() const noexcept { return framer_.max_message(); }
    // on_overflow::discard: the message being collected is over max_message; the pieces already collected were
    // part of it. The default clears _collect_incoming_data's buffer; an override that collects for itself drops
    // its own (and calls this one if it uses _get_data).
    void message_length_exceeded(std::size_t length) override;

    // ---- output
    // A string handed over (an rvalue) is queued as it is, its buffer moved, not copied. Bytes given by view,
    // C string or lvalue are copied into the channel's output chunk (output_queue::push_bytes): small replies cost
    // no allocation each and what a read produced leaves in one contiguous send.
    void push(std::string&& data);
    void push(std::string_view data);
    void push(const std::string& data) { push(std::string_view(data)); }
    void push(const char* data) { push(std::string_view(data)); }
    void push(std::nullptr_t) = delete; // push(0) would otherwise pick const char* and throw at run time
    // Pushes bytes of the input being framed now (a view of what collect_incoming_data was given in this read)
    // without copying them: they go out from the receive buffer when the read's output is sent, and only what
    // that send leaves is copied (output_queue::push_borrowed) — an echo's "one buffer, one send" for long
    // messages. Any other bytes (outside a read, carried over from an earlier read) are copied, as push(view).
    void push_from_input(std::string_view data);
    void push_with_producer(std::unique_ptr<producer> p);
    // Writes what the matching rules read: the payload after its length field, or as a netstring. One push each.
    // A payload too long for the length field is std::length_error (Twisted's StringTooLongError), nothing pushed.
    void push_length_prefixed(std::string_view payload, const length_prefixed::format& f = {});
    void push_netstring(std::string_view payload) { push(netstring::encode(payload)); }
    // Closes the channel (handle_close) once everything queued before this call is sent.
    void close_when_done();
    // Sends what it can now: up to ac_out_buffer_size bytes in one writev(2) (send(2) for a single piece), then,
    // if that finished everything before a file producer, up to ac_sendfile_size bytes of the file with
    // sendfile(2) — an HTTP response head and its file in one writable event, as nginx's writev + sendfile.
    void initiate_send();
    // Emergencies only: drops unread input state and all queued output.
    void discard_buffers();

    // ---- output backpressure (Twisted's pauseProducing/resumeProducing, Netty's writability watermarks)
    // Above `high` bytes of queued output (output_backlog()) the channel stops reading: readable() is false, so
    // every backend drops its read interest (the Asio transport starts no further read); output_high() is called.
    // Once sends bring it back to `low` or below, reading resumes and output_low() is called. Each hook runs once
    // per crossing. The check is made at every push, so the backlog can exceed `high` by what one read produces
    // (a read already under way is framed to its end). high 0 turns the mechanism off. low > high is
    // std::invalid_argument.
    static constexpr std::size_t default_output_high_watermark = std::size_t{1} << 20;   // 1 MiB
    static constexpr std::size_t default_output_low_watermark = std::size_t{256} << 10;  // 256 KiB
    void set_output_watermarks(std::size_t high, std::size_t low);
    std::size_t output_high_watermark() const noexcept { return output_high_; }
    std::size_t output_low_watermark() const noexcept { return output_low_; }
    // The queued output the watermarks compare: output_queue::footprint() (string bytes and slots, and
    // output_queue::producer_footprint per producer), and with a stream layer the wire bytes it has not sent yet
    // and the plaintext still to go out before a pending start_stream_layer.
    std::size_t output_backlog() const noexcept {
        return out_.footprint() + (layered_ ? layered_backlog() : 0);
    }
    // Above the high watermark and not yet back to the low one: reading is paused.
    bool output_paused() const noexcept { return output_paused_; }
    // The hooks (default: nothing). A server may log, count, or close a peer that stays paused too long.
    virtual void output_high() {}
    virtual void output_low() {}

    // ---- a stream layer between the socket and the framer / producer FIFO (TLS: asynchat::tls, docs/tls.md)
    // With a layer, what the channel reads goes through layer->receive() and the plaintext to the framer; what is
    // pushed goes through layer->send() and its wire_pending() to the socket. File producers are then read
    // through more() in bounded chunks (sendfile(2) cannot encrypt). A clean close (close_when_done reaching its
    // marker, handle_shutdown, the peer's own close_notify) queues the layer's close_notify and closes once it is
    // sent; an error or a plain close() does not, so the peer cannot take a truncated stream for a whole one.
    //
    // From now on (implicit TLS: call it right after accept or connect, before any byte is read or pushed).
    // std::logic_error if a layer is installed or pending; std::invalid_argument for a null layer.
    void set_stream_layer(std::unique_ptr<stream_layer> layer);
    // STARTTLS (RFC 3207, RFC 2595): the layer takes over once everything pushed before this call (the "220 Ready"
    // reply) has been sent; what is pushed after it goes through the layer. Reading stops until the switch, and
    // the input already received after the current message is discarded, never framed: the rest of the read that
    // carried the STARTTLS command, anything carried by the framer, anything read before the switch
    // (CVE-2011-0411 and the 2021 "NO STARTTLS" findings: plaintext injected there would otherwise be taken for
    // part of the protected session). Call it from found_terminator, or (a client) when the server's go-ahead
    // arrives. The same errors as set_stream_layer.
    void start_stream_layer(std::unique_ptr<stream_layer> layer);
    // The installed layer (null when none, or while start_stream_layer's switch is pending).
    stream_layer* get_stream_layer() noexcept;
    const stream_layer* get_stream_layer() const noexcept;
    // start_stream_layer was called and its switch has not happened yet.
    bool stream_layer_pending() const noexcept;

    // Where send_layered_output writes: the channel's socket, or a transport's own buffer (string_transport).
    class output_writer {
    public:
        // Writes the bytes, or the first of them; returns how many were taken (0: none now).
        virtual std::size_t write(const iovec* iov, int iovcnt) = 0;

    protected:
        ~output_writer() = default;
    };
    // What initiate_send does with a stream layer installed or pending, through `to` instead of the socket: the
    // plaintext queued before a pending switch (then the switch), the layer's wire bytes, the queued plaintext
    // through the layer, and the close marker (close_notify, then handle_close once it is written). Returns true
    // when handle_close was called for the close marker. Without a layer it does nothing (string_transport reads
    // output() itself then).
    bool send_layered_output(output_writer& to);

    // ---- input: the one hook every received byte goes through
    // Every input reaches the channel here, whatever delivered it: handle_read's own recv (readiness backends),
    // handle_received (a completion backend, io_uring or Asio, that read for the channel), a stream layer's
    // ciphertext, string_transport and the fuzzers. The default frames the bytes (collect_incoming_data /
    // found_terminator), then sends what that produced. Override it to act once per input — touch an idle timer,
    // count, resume work the send may have unblocked — and call async_chat::handle_incoming(bytes) from the
    // override: overriding handle_read instead would miss the bytes of the completion backends.
    virtual void handle_incoming(std::string_view bytes);
    // The producer FIFO, for a transport that writes it out itself (gather, then consume what was written, then
    // check_output_watermarks()).
    output_queue& output() noexcept { return out_; }
    // Compares output_backlog() with the watermarks and pauses or resumes reading (and calls the hook) if it
    // crossed one. The channel's own pushes and sends do this; a transport that consumes output() itself calls it.
    void check_output_watermarks() {
        check_output_high();
        check_output_low();
    }
    // A transport that reads for the channel (a completion backend: io_uring, Asio) hands the bytes to
    // handle_received. Not before the connection is up: handle_connect comes from the readiness events.
    bool wants_transport_reads() const noexcept override { return connected() && !input_closed_; }
    // Final: a completion backend's bytes go to handle_incoming, the hook to override.
    void handle_received(std::string_view bytes) final { handle_incoming(bytes); }

    // ---- dispatcher overrides
    void handle_read() override;
    void handle_write() override;
    void handle_close() override;
    // The server is stopping (asyncore::graceful_loop): close once what is queued has been sent.
    void handle_shutdown() override { close_when_done(); }
    bool readable() override;
    bool writable() override;

    // Adds what this channel receives and sends to *counters from now on (nullptr: stop counting). The
    // counters must outlive the channel or be unset first.
    void count_traffic(traffic_counters* counters) noexcept { counters_ = counters; }

    // Bytes read per recv (one buffer per thread, not per channel) and most bytes sent per writable event.
    std::size_t ac_in_buffer_size = 65536;
    std::size_t ac_out_buffer_size = 65536;
    // Most bytes of a file sent with one sendfile(2) (the kernel copies them; no user buffer is involved, so the
    // bound only keeps one writable event from holding the loop for long).
    std::size_t ac_sendfile_size = 2u << 20;

protected:
    // Python's helpers for a subclass that wants the message collected for it: _collect_incoming_data appends
    // to an internal buffer, _get_data returns and clears it.
    void _collect_incoming_data(std::string_view data) { incoming_.append(data); }
    std::string _get_data() { return std::exchange(incoming_, std::string()); }

    framer& input_framer() noexcept { return framer_; }

    // Called at the end of every read, once its bytes have been framed and the output they produced sent, while
    // those bytes are still valid: a channel that kept views into them (collect_incoming_data's data, to push
    // with push_from_input when the message ends) copies what it still needs here. The default does nothing.
    virtual void end_of_input() {}
    // Whether the bytes lie inside the read being framed now, which push_from_input borrows and end_of_input()
    // ends (a view collect_incoming_data was given may also point into bytes the framer carried over: those are
    // gone once it returns).
    bool in_input(std::string_view data) const noexcept;

private:
    framer framer_;
    output_queue out_;
    // All a stream layer adds (the layer, a pending STARTTLS switch, close_notify; chat/src/layered_stream.hpp):
    // null until set_stream_layer / start_stream_layer, so a plaintext channel pays one pointer test per path.
    class layered_stream;
    std::unique_ptr<layered_stream> layered_;
    std::size_t layered_backlog() const noexcept;
    std::string incoming_;
    traffic_counters* counters_ = nullptr;
    bool reading_ = false;     // inside handle_incoming's framing: push() defers its send to the end of the read
    std::string_view input_;   // the bytes of the read being framed (push_from_input borrows from them)
    // Sets input_ for one read's framing and send (the plaintext and the layered path); a nested read restores it.
    struct input_scope {
        async_chat& chat;
        std::string_view outer;
        input_scope(async_chat& c, std::string_view bytes) noexcept : chat(c), outer(std::exchange(c.input_, bytes)) {}
        ~input_scope() {
            chat.reading_ = false;
            chat.input_ = outer;
        }
    };
    void release_input();
    bool input_closed_ = false; // the peer finished sending; the queue is drained before closing
    bool sending_ = false;      // inside initiate_send's syscall: a handle_close now means the peer is gone
    bool output_paused_ = false; // above the high watermark, not yet back to the low one: not reading
    std::size_t output_high_ = default_output_high_watermark;
    std::size_t output_low_ = default_output_low_watermark;
    void check_output_high();
    void check_output_low();
    void after_push();   // what every push does once its item is queued: send now unless in a read handler
    bool unsent_output() const noexcept;
};

} // namespace asynchat
