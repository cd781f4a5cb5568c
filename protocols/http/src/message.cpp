#include "asynchat/http/message.hpp"

#include <array>
#include <ctime>
#include <limits>

namespace asynchat::http {

namespace {

constexpr char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" /
// "~" / DIGIT / ALPHA. A table, so a field name costs one load per byte.
constexpr std::array<bool, 256> make_tchar_table() {
    std::array<bool, 256> t{};
    for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
    for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
    for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
    return t;
}
constexpr auto tchar = make_tchar_table();

constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
    return s;
}

constexpr std::string_view day_names[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::string_view month_names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm), so dates need no time zone calls.
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

} // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

std::optional<std::string_view> header_fields::get(std::string_view name) const noexcept {
    for (const auto& f : fields_)
        if (iequals(f.name, name)) return std::string_view(f.value);
    return std::nullopt;
}

std::size_t header_fields::count(std::string_view name) const noexcept {
    std::size_t n = 0;
    for (const auto& f : fields_) n += iequals(f.name, name);
    return n;
}

response response::text(int status, std::string body, std::string content_type) {
    response r;
    r.status = status;
    r.body = std::move(body);
    r.headers.emplace_back("Content-Type", std::move(content_type));
    return r;
}

std::string_view reason_phrase(int status) noexcept {
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

bool is_token(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (const char c : s)
        if (!tchar[static_cast<unsigned char>(c)]) return false;
    return true;
}

std::string_view describe(field_error e) noexcept {
    switch (e) {
    case field_error::none: return "ok";
    case field_error::obs_fold: return "obsolete line folding in a header field";
    case field_error::no_colon: return "header line without a colon";
    case field_error::bad_name: return "bad header field name";
    case field_error::bad_value: return "control character in a header field value";
    }
    return "bad header field";
}

field_error parse_field_line(std::string_view line, header_fields& fields) {
    if (!line.empty() && is_ows(line.front())) return field_error::obs_fold;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return field_error::no_colon;
    const std::string_view name = line.substr(0, colon);
    // Whitespace between the name and the colon is not a token character, so "Content-Length : 5" lands here:
    // RFC 9112 §5.1 requires a 400, since proxies have disagreed on what such a field is (request smuggling).
    if (!is_token(name)) return field_error::bad_name;
    const std::string_view value = trim_ows(line.substr(colon + 1));
    for (const char c : value) {
        const auto u = static_cast<unsigned char>(c);
        // field-vchar and obs-text, and SP/HTAB inside; NUL, CR (a bare one: the line ending's was removed), LF and
        // the other controls are refused (RFC 9110 §5.5).
        if ((u < 0x20 && c != '\t') || u == 0x7f) return field_error::bad_value;
    }
    fields.add(std::string(name), std::string(value));
    return field_error::none;
}

void framing_fields::note(const header_fields::field& f) noexcept {
    // Dispatched on the name's length first: most fields are none of these, and cost one comparison.
    switch (f.name.size()) {
    case 4:
        if (iequals(f.name, "host")) ++hosts;
        return;
    case 10:
        if (iequals(f.name, "connection")) {
            connection_close = connection_close || has_token(f.value, "close");
            connection_keep_alive = connection_keep_alive || has_token(f.value, "keep-alive");
        }
        return;
    case 14: {
        if (!iequals(f.name, "content-length") || !content_length.valid) return;
        // 1*DIGIT and nothing else: "+5", "5,6", "5 5", "0x5", "" are all invalid. A list of identical values
        // ("5, 5") is allowed to be taken as one by RFC 9110 §8.6; refusing it is allowed too, and simpler.
        const std::string_view v = f.value;
        std::uint64_t n = 0;
        bool ok = !v.empty();
        for (const char c : v) {
            if (c < '0' || c > '9') {
                ok = false;
                break;
            }
            const auto digit = static_cast<std::uint64_t>(c - '0');
            if (n > (std::numeric_limits<std::uint64_t>::max() - digit) / 10)
                n = std::numeric_limits<std::uint64_t>::max(); // saturate: still well-formed, and over any limit
            else
                n = n * 10 + digit;
        }
        // Two different lengths: which one frames the body? Invalid too.
        if (!ok || (content_length.present && content_length.value != n)) {
            content_length = {true, false, 0};
            return;
        }
        content_length = {true, true, n};
        return;
    }
    case 17:
        if (iequals(f.name, "transfer-encoding")) transfer_encoding = true;
        return;
    default: return;
    }
}

content_length_result content_length_of(const header_fields& fields) noexcept {
    framing_fields framing;
    for (const auto& f : fields) framing.note(f);
    return framing.content_length;
}

bool has_token(std::string_view list, std::string_view token) noexcept {
    while (!list.empty()) {
        const auto comma = list.find(',');
        const std::string_view item = trim_ows(list.substr(0, comma));
        if (iequals(item, token)) return true;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return false;
}

std::optional<std::string> percent_decode(std::string_view s) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        if (i + 2 >= s.size()) return std::nullopt;
        const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return out;
}

std::string format_http_date(std::int64_t unix_seconds) {
    const std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[40];
    auto two = [](char* p, int v) {
        p[0] = static_cast<char>('0' + v / 10);
        p[1] = static_cast<char>('0' + v % 10);
    };
    // "Sun, 06 Nov 1994 08:49:37 GMT": fixed width, built by hand (strftime would consult the locale).
    const std::string_view day = day_names[tm.tm_wday];
    const std::string_view mon = month_names[tm.tm_mon];
    const int year = tm.tm_year + 1900;
    char* p = buf;
    for (char c : day) *p++ = c;
    *p++ = ',';
    *p++ = ' ';
    two(p, tm.tm_mday), p += 2;
    *p++ = ' ';
    for (char c : mon) *p++ = c;
    *p++ = ' ';
    two(p, year / 100 % 100), p += 2;
    two(p, year % 100), p += 2;
    *p++ = ' ';
    two(p, tm.tm_hour), p += 2;
    *p++ = ':';
    two(p, tm.tm_min), p += 2;
    *p++ = ':';
    two(p, tm.tm_sec), p += 2;
    for (char c : std::string_view(" GMT")) *p++ = c;
    return std::string(buf, p);
}

std::optional<std::int64_t> parse_http_date(std::string_view s) noexcept {
    // IMF-fixdate: day-name "," SP 2DIGIT SP month SP 4DIGIT SP 2DIGIT ":" 2DIGIT ":" 2DIGIT SP "GMT"
    if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
        s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT")
        return std::nullopt;
    // Digits only: from_chars would also take a sign ("-1:49:37" read as hour -1).
    auto num = [&](std::size_t at, std::size_t len, int& out) {
        out = 0;
        for (std::size_t i = at; i < at + len; ++i) {
            if (s[i] < '0' || s[i] > '9') return false;
            out = out * 10 + (s[i] - '0');
        }
        return true;
    };
    int day = 0, year = 0, hour = 0, minute = 0, second = 0;
    if (!num(5, 2, day) || !num(12, 4, year) || !num(17, 2, hour) || !num(20, 2, minute) || !num(23, 2, second))
        return std::nullopt;
    unsigned month = 0;
    for (unsigned m = 0; m < 12; ++m)
        if (s.substr(8, 3) == month_names[m]) month = m + 1;
    if (month == 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
    return days_from_civil(year, month, static_cast<unsigned>(day)) * 86400 + hour * 3600 + minute * 60 + second;
}

} // namespace asynchat::http
