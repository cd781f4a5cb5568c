// The static-file handler. Every file is opened relative to a descriptor of the root with openat2(2) and
// RESOLVE_BENEATH, so the kernel refuses any resolution that would leave the root — "..", an absolute symlink, a
// symlink to "../../etc" — at the moment of the open: no window between a check and the open for a rename or a
// new symlink to slip into. Kernels before 5.6 lack openat2 (ENOSYS); there the path is resolved with realpath(3)
// and checked to be under the root's real path, which is racy against concurrent changes to the tree but refuses
// the same requests.
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <system_error>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "asynchat/http/server.hpp"

namespace asynchat::http {

namespace {

// Files up to this size are read into the response string instead of being streamed with sendfile(2): the head
// and the body then leave in one writev(2), where a file producer costs a writev for the head plus a sendfile for
// the body (two syscalls, two TCP segments with TCP_NODELAY) and an allocation for the producer. For a 1 KiB file
// under keep-alive load that halves the syscalls per request; past a few tens of KiB the copy through user space
// costs more than the extra syscall saves, and sendfile wins. Measured (release, epoll, wrk -t1 -c64 keep-alive,
// 1 KiB file, 2 cores): about 5% more requests/s inline than with sendfile.
constexpr std::size_t inline_file_max = 32 * 1024;

class unique_fd {
public:
    explicit unique_fd(int fd = -1) noexcept : fd_(fd) {}
    unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        std::swap(fd_, o.fd_);
        return *this;
    }
    ~unique_fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }

private:
    int fd_;
};

struct static_root {
    unique_fd dir;
    std::string real; // the root's real path, for the fallback without openat2
    bool use_openat2 = true;
};

// O_NONBLOCK: opening a FIFO someone placed in the root must not block the loop (its read would too; it is refused
// below as not a regular file). It changes nothing for regular files.
constexpr int open_flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;

int open_beneath(const static_root& root, const std::string& relative) {
#ifdef SYS_openat2
    // Shared by every thread's servers; relaxed is enough: a stale true costs one more ENOSYS.
    static std::atomic<bool> have_openat2{true};
    if (root.use_openat2 && have_openat2.load(std::memory_order_relaxed)) {
        open_how how{};
        how.flags = static_cast<std::uint64_t>(open_flags);
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
        const long fd = ::syscall(SYS_openat2, root.dir.get(), relative.c_str(), &how, sizeof how);
        if (fd >= 0 || errno != ENOSYS) return static_cast<int>(fd);
        have_openat2.store(false, std::memory_order_relaxed);
    }
#endif
    const std::string full = root.real + "/" + relative;
    char resolved[PATH_MAX];
    if (!::realpath(full.c_str(), resolved)) return -1;
    const std::string_view r(resolved);
    if (!(r == root.real || (r.starts_with(root.real) && r[root.real.size()] == '/'))) {
        errno = EXDEV; // what RESOLVE_BENEATH reports for an escape
        return -1;
    }
    return ::open(resolved, open_flags | O_NOFOLLOW);
}

response error(int status) {
    return response::text(status, std::to_string(status) + " " + std::string(reason_phrase(status)) + "\n");
}

response open_error(int err) {
    switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG: return error(404);
    // EXDEV: the path left the root (RESOLVE_BENEATH); ELOOP: too many symlinks or a magic link.
    default: return error(403);
    }
}

response serve(const static_root& root, const request& req) {
    if (req.method != "GET" && req.method != "HEAD") {
        response r = error(405);
        r.headers.emplace_back("Allow", "GET, HEAD");
        return r;
    }
    const std::string& path = req.path;
    if (path.empty() || path.front() != '/') return error(404);
    // A decoded NUL would cut the C string the kernel sees ("/secret%00.html"): never a file name.
    if (path.find('\0') != std::string::npos) return error(404);
    // ".." is refused outright (403) rather than left to RESOLVE_BENEATH: "/a/../b" could be resolved inside the
    // root, but no client of a static site needs it, and a request that tries it is one to report as forbidden.
    std::string relative;
    relative.reserve(path.size());
    for (std::size_t at = 1; at <= path.size();) {
        auto end = path.find('/', at);
        if (end == std::string::npos) end = path.size();
        const std::string_view segment(path.data() + at, end - at);
        if (segment == "..") return error(403);
        if (!segment.empty() && segment != ".") {
            if (!relative.empty()) relative += '/';
            relative.append(segment);
        }
        at = end + 1;
    }
    if (relative.empty()) relative = ".";

    std::string name = relative; // the file served: Content-Type comes from its extension
    unique_fd file(open_beneath(root, relative));
    if (file.get() < 0) return open_error(errno);
    struct stat st {};
    if (::fstat(file.get(), &st) != 0) return error(500);
    if (S_ISDIR(st.st_mode)) {
        if (path.back() != '/') {
            // Relative links in the index would otherwise resolve against the parent directory.
            std::string location = req.target.front() == '/' ? req.target.substr(0, req.target.find('?')) : path;
            location += '/';
            if (!req.query.empty()) location.append("?").append(req.query);
            response r = error(301);
            r.headers.emplace_back("Location", std::move(location));
            return r;
        }
        name = relative + "/index.html";
        file = unique_fd(open_beneath(root, name));
        if (file.get() < 0) return open_error(errno);
        if (::fstat(file.get(), &st) != 0) return error(500);
    }
    if (!S_ISREG(st.st_mode)) return error(403);

    const std::string last_modified = format_http_date(st.st_mtim.tv_sec);
    if (const auto ims = req.headers.get("if-modified-since")) {
        // RFC 9110 §13.1.3: not modified since the date the client has (a date it cannot parse is ignored).
        if (const auto since = parse_http_date(*ims); since && *since >= st.st_mtim.tv_sec) {
            response r;
            r.status = 304;
            r.headers.emplace_back("Last-Modified", last_modified);
            return r;
        }
    }
    response r;
    r.headers.emplace_back("Content-Type", std::string(content_type_for(name)));
    r.headers.emplace_back("Last-Modified", last_modified);
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size <= inline_file_max) {
        r.body.resize(static_cast<std::size_t>(size));
        std::size_t got = 0;
        while (got < r.body.size()) {
            const ssize_t n = ::pread(file.get(), r.body.data() + got, r.body.size() - got, static_cast<off_t>(got));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            got += static_cast<std::size_t>(n);
        }
        r.body.resize(got); // a file truncated meanwhile: its Content-Length is what was read
        return r;
    }
    r.content_length = size;
    r.body_producer = std::make_unique<file_producer>(file.release(), fd_ownership::adopt);
    return r;
}

} // namespace

handler static_files(std::filesystem::path root) { return detail::static_files(std::move(root), true); }

handler detail::static_files(std::filesystem::path root, bool use_openat2) {
    auto state = std::make_shared<static_root>();
    state->use_openat2 = use_openat2;
    state->dir = unique_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (state->dir.get() < 0)
        throw std::system_error(errno, std::generic_category(), "cannot open the root " + root.string());
    char resolved[PATH_MAX];
    if (!::realpath(root.c_str(), resolved))
        throw std::system_error(errno, std::generic_category(), "cannot resolve the root " + root.string());
    state->real = resolved;
    if (state->real == "/") state->real.clear(); // so that real + "/" + relative is not "//..."
    return [state](const request& req) { return serve(*state, req); };
}

} // namespace asynchat::http
