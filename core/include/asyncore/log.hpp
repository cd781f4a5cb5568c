#pragma once
// asyncore::log — the library's one place to say something: a level and a line, written to one sink.
//
// Every message of the layers (core, chat, protocols, tls, asio) goes through here, never straight to std::cerr:
// a channel closed by an error, a listener out of descriptors, a failed delivery. dispatcher::log and
// dispatcher::log_info keep Python's names and formats ("log: MESSAGE", "TYPE: MESSAGE") and come here too.
//
//   asyncore::log(asyncore::log_level::error, "smtp: delivery failed: disk full");
//
// The default sink writes each line to stderr with one write(2): unbuffered, so a line is out before the next
// event runs even when stderr is a file, and lines from several threads (SMTP's delivery threads) do not
// interleave. A program that wants its lines elsewhere (a journal, a test's buffer) installs its own sink;
// a second sink of its own (an access log) is just another log_sink object it writes to.
//
// Python's log_info prints to stdout; here it goes to the sink (stderr by default), since what it reports —
// unhandled events, a channel closed by an exception — is diagnostics, not the program's output (docs/porting.md).
#include <memory>
#include <string_view>

namespace asyncore {

enum class log_level { debug, info, warning, error };

// "debug", "info", "warning", "error".
std::string_view to_string(log_level level) noexcept;

class log_sink {
public:
    virtual ~log_sink() = default;
    // One line, without its newline. Called with the facility's lock held: lines never interleave, and a sink
    // must not log itself.
    virtual void write(log_level level, std::string_view line) = 0;
};

// Writes "LINE\n" to a file descriptor with one write(2). A line names its own origin ("log: ...", "error: ...",
// "asynchat: http: ..."): the sink adds nothing.
class fd_sink final : public log_sink {
public:
    explicit fd_sink(int fd) noexcept : fd_(fd) {}
    void write(log_level level, std::string_view line) override;

private:
    int fd_;
};

// Installs the sink every later line goes to (nullptr: back to stderr) and returns the one it replaces.
std::shared_ptr<log_sink> set_log_sink(std::shared_ptr<log_sink> sink);
// Lines below `level` are dropped before they are formatted by a sink (default: info; debug is for tracing).
void set_log_level(log_level level) noexcept;
log_level get_log_level() noexcept;
// Whether a line at `level` would be written: a caller that builds an expensive line asks first.
bool log_enabled(log_level level) noexcept;

// Writes one line at `level` to the sink, if the level is enabled. Never throws: a sink that fails loses the line.
void log(log_level level, std::string_view line) noexcept;

} // namespace asyncore
