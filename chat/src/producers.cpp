#include "asynchat/producers.hpp"

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace asynchat {

simple_producer::simple_producer(std::string data, std::size_t buffer_size)
    : data_(std::move(data)), buffer_size_(buffer_size) {
    if (buffer_size == 0) throw std::invalid_argument("asynchat::simple_producer: buffer_size must be positive");
}

std::string simple_producer::more() {
    if (offset_ == 0 && data_.size() <= buffer_size_) {
        // The whole string in one chunk: hand it over instead of copying it.
        std::string all = std::move(data_);
        data_.clear();
        return all;
    }
    const std::size_t n = std::min(buffer_size_, data_.size() - offset_);
    std::string chunk = data_.substr(offset_, n);
    offset_ += n;
    return chunk;
}

callable_producer::callable_producer(std::function<std::string()> fn) : fn_(std::move(fn)) {
    if (!fn_) throw std::invalid_argument("asynchat::callable_producer: empty function");
}

std::string callable_producer::more() { return fn_(); }

namespace {

int open_or_throw(const std::filesystem::path& path) {
    int fd;
    do fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        throw std::system_error(errno, std::generic_category(), "asynchat::file_producer: open " + path.string());
    return fd;
}

} // namespace

file_producer::file_producer(const std::filesystem::path& path, std::size_t chunk_size)
    : fd_(open_or_throw(path)), owned_(true) {
    try {
        init(chunk_size);
    } catch (...) {
        ::close(fd_);
        throw;
    }
}

file_producer::file_producer(int fd, fd_ownership ownership, std::size_t chunk_size)
    : fd_(fd), owned_(ownership == fd_ownership::adopt) {
    try {
        init(chunk_size);
    } catch (...) {
        // Adopting means the descriptor is ours even when the constructor fails.
        if (owned_ && fd_ >= 0) ::close(fd_);
        throw;
    }
}

void file_producer::init(std::size_t chunk_size) {
    if (chunk_size == 0) throw std::invalid_argument("asynchat::file_producer: chunk_size must be positive");
    chunk_ = chunk_size;
    struct stat st{};
    if (::fstat(fd_, &st) != 0)
        throw std::system_error(errno, std::generic_category(), "asynchat::file_producer: fstat");
    regular_ = S_ISREG(st.st_mode);
    if (!regular_) return;
    const off_t at = ::lseek(fd_, 0, SEEK_CUR);
    if (at < 0) throw std::system_error(errno, std::generic_category(), "asynchat::file_producer: lseek");
    offset_ = static_cast<std::uint64_t>(at);
    const auto size = static_cast<std::uint64_t>(st.st_size);
    remaining_ = size > offset_ ? size - offset_ : 0;
}

file_producer::~file_producer() {
    if (owned_ && fd_ >= 0) ::close(fd_);
}

std::string file_producer::more() {
    std::size_t want = chunk_;
    if (regular_) want = static_cast<std::size_t>(std::min<std::uint64_t>(want, remaining_));
    else if (eof_) want = 0;
    std::string buf(want, '\0');
    std::size_t got = 0;
    while (got < want) {
        const ssize_t r = regular_ ? ::pread(fd_, buf.data() + got, want - got, static_cast<off_t>(offset_ + got))
                                   : ::read(fd_, buf.data() + got, want - got);
        if (r < 0) {
            if (errno == EINTR) continue;
            throw std::system_error(errno, std::generic_category(), "asynchat::file_producer: read");
        }
        if (r == 0) {
            // The file shrank since it was measured (or the pipe closed): what was read is the end.
            eof_ = true;
            if (regular_) remaining_ = got;
            break;
        }
        got += static_cast<std::size_t>(r);
        // A pipe returns what it has; one chunk per more() call is enough, and never blocks twice.
        if (!regular_) break;
    }
    buf.resize(got);
    if (regular_) {
        offset_ += got;
        remaining_ -= got;
    }
    return buf;
}

std::optional<file_range> file_producer::as_file_range() const {
    if (!regular_) return std::nullopt;
    return file_range{fd_, offset_, remaining_};
}

void file_producer::advance(std::uint64_t n) {
    if (!regular_) producer::advance(n);
    if (n > remaining_) throw std::out_of_range("asynchat::file_producer::advance: past the end of the file range");
    offset_ += n;
    remaining_ -= n;
}

} // namespace asynchat
