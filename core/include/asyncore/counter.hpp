#pragma once
// asyncore::counter — a count that one thread writes (the loop that owns it) and any thread may read (a /metrics
// handler on another worker's loop, a supervisor). The increment is a relaxed atomic load and store, not a
// read-modify-write, so it costs what a plain integer's does (a mov on x86, no lock prefix), while a reader on
// another thread reads a whole value without a data race. Two threads must never write the same counter.
#include <atomic>
#include <cstdint>
#include <ostream>

namespace asyncore {

class counter {
public:
    counter(std::uint64_t value = 0) noexcept : value_(value) {} // NOLINT: a count reads like the number it holds
    // A copy is a snapshot of the value.
    counter(const counter& other) noexcept : value_(other.load()) {}
    counter& operator=(const counter& other) noexcept {
        set(other.load());
        return *this;
    }
    counter& operator=(std::uint64_t value) noexcept {
        set(value);
        return *this;
    }

    std::uint64_t load() const noexcept { return value_.load(std::memory_order_relaxed); }
    operator std::uint64_t() const noexcept { return load(); } // NOLINT: as above

    counter& operator++() noexcept { return *this += 1; }
    counter& operator--() noexcept {
        set(load() - 1);
        return *this;
    }
    counter& operator+=(std::uint64_t n) noexcept {
        set(load() + n);
        return *this;
    }

    friend std::ostream& operator<<(std::ostream& os, const counter& c) { return os << c.load(); }

private:
    void set(std::uint64_t v) noexcept { value_.store(v, std::memory_order_relaxed); }
    std::atomic<std::uint64_t> value_;
};

} // namespace asyncore
