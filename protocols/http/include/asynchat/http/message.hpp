#pragma once
// asynchat::http — the pieces of an HTTP/1.x message that the server and the client share: header fields, the
// request and response structs, and the syntax rules of RFC 9110/9112 both parsers apply (one implementation, so
// that the client is exactly as strict as the server about what a header line is).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asynchat/producers.hpp>

namespace asynchat::http {

// Header fields in the order received. Lookup ignores the case of the name (RFC 9110 §5.1); values are kept as
// sent, with the optional whitespace around them removed. A handful of fields per message, so a vector searched
// from the front beats any map.
class header_fields {
public:
    struct field {
        std::string name;
        std::string value;
    };

    // The first field called name, if any.
    std::optional<std::string_view> get(std::string_view name) const noexcept;
    // How many fields are called name (a second Content-Length or Host is a framing question).
    std::size_t count(std::string_view name) const noexcept;
    void add(std::string name, std::string value) { fields_.push_back({std::move(name), std::move(value)}); }
    void clear() noexcept { fields_.clear(); }
    std::size_t size() const noexcept { return fields_.size(); }
    bool empty() const noexcept { return fields_.empty(); }
    const field& back() const noexcept { return fields_.back(); }
    auto begin() const noexcept { return fields_.begin(); }
    auto end() const noexcept { return fields_.end(); }

private:
    std::vector<field> fields_;
};

struct request {
    std::string method;
    std::string target;   // as sent on the request line
    std::string path;     // target without the query, percent-decoded
    std::string query;    // after '?', not decoded
    int version_minor = 1; // HTTP/1.<version_minor>: 0 or 1
    header_fields headers;
    std::string body;
    bool keep_alive = false; // the connection persists after the response (decided from version and Connection)
};

struct response {
    int status = 200;
    // Sent as given, after the server's own Date, Server, Content-Length and Connection (do not set those).
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    // Instead of body: a producer of exactly content_length bytes (a file_producer streams a file with sendfile).
    std::unique_ptr<asynchat::producer> body_producer;
    std::uint64_t content_length = 0;

    static response text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
};

// The standard reason phrase of a status code ("Not Found"); "Unknown" for codes it does not know.
std::string_view reason_phrase(int status) noexcept;

// ---- syntax shared by the request and the response parsers

// RFC 9110 §5.6.2 tchar: the characters of a method or a field name.
bool is_token(std::string_view s) noexcept;

// Why a header line was refused; each is a 400 on the server and a malformed response on the client.
enum class field_error {
    none,
    obs_fold,          // the line starts with whitespace: a continuation (RFC 9112 §5.2), refused
    no_colon,
    bad_name,          // empty, not a token, or whitespace before the colon (RFC 9112 §5.1)
    bad_value,         // NUL, a bare CR or another control character in the value
};
std::string_view describe(field_error e) noexcept;

// Parses one header line (without its line ending) and adds it to fields.
field_error parse_field_line(std::string_view line, header_fields& fields);

// The body length a message's Content-Length fields give (RFC 9110 §8.6): nothing when there is none; an error
// when one is not 1*DIGIT or two disagree (identical repeats are one value). Lengths past 2^64-1 saturate, so
// that a limit check still refuses them.
struct content_length_result {
    bool present = false;
    bool valid = true;
    std::uint64_t value = 0;
};

// The fields that decide how a message is framed and whether its connection persists, noted one by one as the
// header lines arrive, so that nothing is searched again once they have (both parsers call note() after each
// field line).
struct framing_fields {
    content_length_result content_length;
    bool transfer_encoding = false;
    std::size_t hosts = 0;
    bool connection_close = false;       // a Connection field lists "close"
    bool connection_keep_alive = false;  // a Connection field lists "keep-alive"

    void note(const header_fields::field& f) noexcept;
};

content_length_result content_length_of(const header_fields& fields) noexcept;

// Whether a comma-separated field value (Connection) lists token, ignoring case.
bool has_token(std::string_view list, std::string_view token) noexcept;

// Case-insensitive ASCII equality.
bool iequals(std::string_view a, std::string_view b) noexcept;

// Percent-decoding of a path: nothing when an escape is malformed ("%zz", "%4").
std::optional<std::string> percent_decode(std::string_view s);

// ---- dates (RFC 9110 §5.6.7, IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT")
std::string format_http_date(std::int64_t unix_seconds);
// IMF-fixdate only (what curl and browsers send); nothing for anything else, which a server then ignores.
std::optional<std::int64_t> parse_http_date(std::string_view text) noexcept;

} // namespace asynchat::http
