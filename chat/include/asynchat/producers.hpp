#pragma once
// asynchat's ready-made producers (Python's simple_producer and friends) for async_chat::push_with_producer and
// output_queue. The producer protocol itself (producer, file_range) and the queue are in output_queue.hpp, which
// this header includes, so code that includes only producers.hpp still sees output_queue.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "output_queue.hpp"

namespace asynchat {

// Python's simple_producer: the data in chunks of at most buffer_size bytes.
class simple_producer final : public producer {
public:
    // buffer_size 0 throws std::invalid_argument (Python's would return b'' at once and so send nothing).
    explicit simple_producer(std::string data, std::size_t buffer_size = 512);
    std::string more() override;

private:
    std::string data_;
    std::size_t offset_ = 0;   // bytes already returned: an index, so no chunk costs a copy of the rest
    std::size_t buffer_size_;
};

// A producer from a function: each more() calls it; an empty result ends the producer.
class callable_producer final : public producer {
public:
    explicit callable_producer(std::function<std::string()> fn);
    std::string more() override;

private:
    std::function<std::string()> fn_;
};

enum class fd_ownership { borrow, adopt };

// A file's bytes in chunks. A regular file is read with pread(2) from the offset it had when the producer was made,
// up to the size it had then, and offers as_file_range(); anything else (a pipe) is read with read(2) until EOF,
// and must be blocking: a producer cannot say "nothing yet" (an empty more() means exhausted). Read errors throw
// std::system_error from more().
class file_producer final : public producer {
public:
    static constexpr std::size_t default_chunk = 65536;

    // Opens path read-only and owns the descriptor. Throws std::system_error if it cannot be opened.
    explicit file_producer(const std::filesystem::path& path, std::size_t chunk_size = default_chunk);
    // Reads fd from its current offset; closes it on destruction when adopted.
    file_producer(int fd, fd_ownership ownership, std::size_t chunk_size = default_chunk);
    ~file_producer() override;
    file_producer(const file_producer&) = delete;
    file_producer& operator=(const file_producer&) = delete;

    std::string more() override;
    std::optional<file_range> as_file_range() const override;
    void advance(std::uint64_t n) override;   // std::out_of_range if n exceeds the remaining bytes

    int fd() const noexcept { return fd_; }

private:
    void init(std::size_t chunk_size);

    int fd_;
    bool owned_;
    bool regular_ = false;
    std::size_t chunk_;
    std::uint64_t offset_ = 0;      // next byte to read (regular files)
    std::uint64_t remaining_ = 0;   // bytes left to produce (regular files)
    bool eof_ = false;              // read(2) returned 0 (other files)
};

} // namespace asynchat
