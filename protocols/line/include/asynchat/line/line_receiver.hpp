#pragma once
// asynchat::line::line_receiver — Twisted's LineReceiver on async_chat: a channel that hands its subclass one line
// at a time, with a bound on line length that holds while bytes arrive, and a raw mode for protocols that switch
// between lines and unframed bytes mid-stream (an HTTP body, an SMTP BDAT chunk, a file upload).
//
//   struct greeter : asynchat::line::line_receiver {
//       using line_receiver::line_receiver;
//       void line_received(std::string_view line) override { send_line("hello " + std::string(line)); }
//   };
//
// Framing is the async_chat framer's (a delimiter terminator in line mode, none in raw mode), so lines cost
// linear time however the stream is segmented, and switching modes inside a callback applies to the bytes already
// received, in order:
//   * set_raw_mode() inside line_received(): the bytes after that line go to raw_data_received();
//   * set_line_mode(rest) inside raw_data_received(): `rest` (the part of the data the subclass did not consume)
//     and every byte after it are framed as lines again, before anything else is read. Nothing recurses: the
//     framer re-frames `rest` after the callback returns (framer::unread).
//
// The length bound (max_line_length, default 16384 bytes as Twisted's MAX_LENGTH) counts the bytes of a line
// without its delimiter (and, with strip_cr, without the CR before it). The moment a line crosses it, while its
// bytes are still arriving, line_length_exceeded() is called once; the default closes the channel (Twisted's
// default). An override that returns without closing drops that line: its bytes are discarded up to the next
// delimiter, and the next line is delivered normally. Memory per channel is at most max_line_length bytes (plus
// the delimiter's few), whatever the peer sends. 0 means no bound, as async_chat's max_message; a server facing
// the network should not use it.
//
// Once the channel is closed (by line_length_exceeded's default, or by the subclass from inside line_received),
// the rest of the bytes already received are dropped: nothing more reaches line_received, as in Twisted.
#include <cstddef>
#include <string>
#include <string_view>

#include <asynchat/async_chat.hpp>

namespace asynchat::line {

class line_receiver : public async_chat {
public:
    static constexpr std::size_t default_max_line_length = 16384;

    explicit line_receiver(asyncore::socket_map* map = nullptr);
    explicit line_receiver(asyncore::socket sock, asyncore::socket_map* map = nullptr);

    // ---- what a subclass overrides
    // One line, without its delimiter (and without a trailing CR when strip_cr is set). The view lives during the
    // call only.
    virtual void line_received(std::string_view line) = 0;
    // Bytes received in raw mode. Default: ignored.
    virtual void raw_data_received(std::string_view data);
    // The line being received has passed max_line_length (`length` bytes so far). Default: close().
    virtual void line_length_exceeded(std::size_t length);

    // ---- output
    // Sends line followed by the delimiter (or by line_ending, when set).
    void send_line(std::string_view line);

    // ---- framing
    // The delimiter ending each line (default "\r\n"); not empty.
    void set_delimiter(std::string delimiter);
    const std::string& delimiter() const noexcept { return delimiter_; }
    // When set, a CR just before the delimiter is removed from the line: with delimiter "\n" this accepts both
    // LF and CRLF endings, as most line protocols should.
    void set_strip_cr(bool on) noexcept { strip_cr_ = on; }
    // What send_line appends; empty (the default) means the delimiter.
    void set_line_ending(std::string ending) { line_ending_ = std::move(ending); }

    // Bytes of one line without its ending; 0: no bound.
    void set_max_line_length(std::size_t bytes) noexcept { max_line_length_ = bytes; }
    std::size_t max_line_length() const noexcept { return max_line_length_; }

    // Unframed bytes from now on: see the header comment.
    void set_raw_mode();
    // Lines again, starting with `rest`.
    void set_line_mode(std::string_view rest = {});
    bool raw_mode() const noexcept { return raw_; }

    // Also drops the input not yet framed (see above).
    void close() override;

    // ---- async_chat's callbacks, implemented here
    void collect_incoming_data(std::string_view data) final;
    void found_terminator() final;

private:
    std::string line_;
    std::string delimiter_ = "\r\n";
    std::string line_ending_;
    std::size_t max_line_length_ = default_max_line_length;
    bool discarding_ = false;    // inside a line that passed the bound: drop up to the next delimiter
    bool raw_ = false;
    bool strip_cr_ = false;
    int in_callback_ = 0;        // inside the framer's callbacks (set_line_mode's rest is then re-framed by it)
};

} // namespace asynchat::line
