#include "asynchat/line/line_receiver.hpp"

#include <stdexcept>

namespace asynchat::line {

namespace {
struct depth {
    int& n;
    explicit depth(int& counter) : n(counter) { ++n; }
    ~depth() { --n; }
};
} // namespace

line_receiver::line_receiver(asyncore::socket_map* map) : async_chat(map) { set_terminator(delimiter_); }

line_receiver::line_receiver(asyncore::socket sock, asyncore::socket_map* map) : async_chat(std::move(sock), map) {
    set_terminator(delimiter_);
}

void line_receiver::raw_data_received(std::string_view) {}

void line_receiver::line_length_exceeded(std::size_t) { close(); }

void line_receiver::send_line(std::string_view line) {
    const std::string& ending = line_ending_.empty() ? delimiter_ : line_ending_;
    std::string out;
    out.reserve(line.size() + ending.size());
    out.append(line).append(ending);
    push(std::move(out));
}

void line_receiver::set_delimiter(std::string delimiter) {
    if (delimiter.empty()) throw std::invalid_argument("asynchat::line::line_receiver: the delimiter must not be empty");
    delimiter_ = std::move(delimiter);
    if (!raw_) set_terminator(delimiter_);
}

void line_receiver::set_raw_mode() {
    raw_ = true;
    discarding_ = false;
    // The mode is fully switched before the partial line is handed out: raw_data_received may switch back at
    // once (set_line_mode(rest)), and that must be the mode that stays.
    set_terminator(nullptr);
    // A partial line collected so far belongs to neither mode any more; Twisted hands it to rawDataReceived.
    if (!line_.empty()) {
        std::string partial = std::move(line_);
        line_.clear();
        raw_data_received(partial);
    }
}

void line_receiver::set_line_mode(std::string_view rest) {
    raw_ = false;
    set_terminator(delimiter_);
    if (rest.empty()) return;
    input_framer().unread(rest);
    // Outside a read the framer would keep the bytes until the next one: frame them now, as Twisted does.
    if (in_callback_ == 0) handle_incoming({});
}

void line_receiver::close() {
    // Twisted stops delivering lines once the connection is closing; the rest of the bytes already received are
    // dropped with the framer's state, so nothing reaches line_received on a closed channel.
    input_framer().reset();
    line_.clear();
    discarding_ = false;
    async_chat::close();
}

void line_receiver::collect_incoming_data(std::string_view data) {
    depth d(in_callback_);
    if (raw_) {
        raw_data_received(data);
        return;
    }
    if (discarding_) return;
    const std::size_t length = line_.size() + data.size();
    // With strip_cr the line may have one more byte, the CR that found_terminator strips: "4096 bytes + CRLF" is
    // a line of 4096 bytes whichever ending the peer uses. Anything else past the bound is over it at once.
    const bool over = max_line_length_ != 0 &&
                      (length > max_line_length_ + 1 ||
                       (length == max_line_length_ + 1 && !(strip_cr_ && data.back() == '\r')));
    if (over) {
        discarding_ = true;
        line_.clear();
        line_.shrink_to_fit(); // the peer chose the size: do not keep it
        line_length_exceeded(length);
        return;
    }
    line_.append(data);
}

void line_receiver::found_terminator() {
    depth d(in_callback_);
    if (discarding_) {
        discarding_ = false;
        return;
    }
    // line_ is empty while line_received runs (a set_raw_mode there must find no partial line); its buffer is
    // given back afterwards, so one allocation serves line after line.
    std::string current = std::move(line_);
    line_.clear();
    std::string_view line = current;
    if (strip_cr_ && !line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (max_line_length_ != 0 && line.size() > max_line_length_) {
        // Only the CR allowance can get here: max_line_length + 1 bytes whose last, a CR, was not before the
        // delimiter after all (strip_cr off since, or a CR that a longer delimiter did not follow).
        line_length_exceeded(line.size());
        return;
    }
    line_received(line);
    if (line_.empty()) {
        current.clear();
        line_ = std::move(current);
    }
}

} // namespace asynchat::line
