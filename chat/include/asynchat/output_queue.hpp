#pragma once
// asynchat::output_queue — async_chat's producer FIFO as a sans-I/O engine: what push / push_with_producer /
// close_when_done queue, and what initiate_send (or any transport) writes out. It hands out ready bytes as iovecs
// for writev(2) and is told afterwards how many were written; it never touches a socket itself. With it, the
// producer protocol it pulls from (producer, file_range); the ready-made producers are in producers.hpp.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <sys/uio.h>

namespace asynchat {

// A byte range of an open regular file: what sendfile(2) needs to send a file_producer's remaining bytes
// without reading them into memory.
struct file_range {
    int fd = -1;
    std::uint64_t offset = 0;
    std::uint64_t remaining = 0;
    friend bool operator==(const file_range&, const file_range&) = default;
};

// Python's producer protocol: more() returns the next chunk, or an empty string once exhausted. The queue calls
// more() only on the producer at the head of the unsent data, and never again after it returned empty.
struct producer {
    virtual ~producer();
    virtual std::string more() = 0;
    // For a transport that can send straight from a file: the producer's remaining bytes as a file range, or
    // nothing (the default) when it cannot be sent that way.
    virtual std::optional<file_range> as_file_range() const { return std::nullopt; }
    // Tells a producer that offered a file_range that n of its bytes were sent by other means; its next more()
    // starts after them. The default throws std::logic_error.
    virtual void advance(std::uint64_t n);
};

// The producer FIFO of async_chat. Order of everything pushed is kept: strings, producers' output, and the close
// marker, after which nothing is handed out until the marker is popped.
//
//   ready_ (bytes already materialised)                   pending_ (not yet; in push order)
//   +-------+------+---------+-------+                     +----------+--------+-------+--------+
//   |written| str 0|  str 1  | str 2 |  all precede all of | producer | string | close | string |
//   +-------+------+---------+-------+                     +----------+--------+-------+--------+
//           ^                                                ^ the only producer more() is called on
//           head_offset_ (into str 0)
//           <------- ready_bytes_ ------->
//
// A push goes straight to ready_ while pending_ is empty (the common case: no producers). gather() moves items
// from the front of pending_ to the back of ready_ (calling more() for producers) only while fewer than max_bytes
// are ready, so no producer is read far ahead of the socket. consume() advances head_offset_ and pops finished
// strings: O(1) amortised per string, nothing is ever erased from the front of a string. Strings in ready_ are
// never empty. The iovecs gather() hands out stay valid until the next gather(), consume() or clear(): a push made
// meanwhile (by a handler while a transport's write is in flight) never moves them, because while gathered bytes
// are outstanding a push that would make ready_ reallocate goes to pending_ instead.
//
// Both FIFOs are vectors with a moving head, so an idle channel's queue allocates nothing (std::deque allocates
// some 600 bytes as soon as it is constructed, twice per channel).
class output_queue {
public:
    output_queue() = default;

    // Python's push. An empty string is dropped, as Python's initiate_send drops it. Python splits big strings
    // into ac_out_buffer_size pieces; the bytes sent are the same here without the split. The string's buffer is
    // queued as it is (no copy).
    void push(std::string data);
    // Queues a copy of the bytes. Up to chunk_size bytes are appended to the queue's tail chunk, a buffer of
    // chunk_size bytes that gathers the small pushes made between two sends, so that they cost no allocation
    // each and leave in one contiguous piece (one send(2), as a hand-written server's "one buffer, one send").
    // Chunks exist only while output is pending: a sent chunk goes back to a small per-thread pool (at most
    // chunk_pool_size of them), so an idle channel holds none and a busy one reuses the same few. Longer byte
    // strings are queued as their own std::string.
    void push_bytes(std::string_view data);
    static constexpr std::size_t chunk_size = 16384;
    static constexpr std::size_t chunk_pool_size = 16;
    // Queues the bytes by reference, not copied: they must stay valid and unchanged until keep_borrowed() or
    // clear(). For bytes a transport's read handed over, sent before that read's buffer is reused (async_chat's
    // push_from_input): an echo of a 16 KiB message then leaves from the receive buffer, as a hand-written
    // server's does, instead of being copied first. Behind a producer, or where a new slot would move gathered
    // bytes, they are copied (push_bytes).
    void push_borrowed(std::string_view data);
    // Copies the unsent bytes of every borrowed piece into the queue's own storage (the order and the gathered
    // iovecs' lengths unchanged). Nothing to do, and no cost, when nothing is borrowed. On allocation failure the
    // queue is cleared (the borrowed bytes cannot be kept) and false returned.
    [[nodiscard]] bool keep_borrowed() noexcept;
    // Pieces queued by reference and not yet sent or kept.
    std::size_t borrowed_pieces() const noexcept { return borrowed_; }
    // Python's push_with_producer. A null pointer is ignored.
    void push_with_producer(std::unique_ptr<producer> p);
    // Python's close_when_done: a marker reached once everything pushed before it is written.
    void close_when_done();

    // Nothing queued: no bytes, producers or close marker (Python's writable() when connected).
    bool empty() const noexcept { return ready_.empty() && pending_.empty(); }
    // Python's discard_buffers, output side. Safe to call from inside a producer's more().
    void clear() noexcept;

    // Fills at most max_iov iovecs with at most max_bytes bytes from the head of the queue, pulling from
    // producers as needed; returns how many iovecs were filled. When it returns 0 for max_iov > 0 and
    // max_bytes > 0, either empty(), close_reached() or (with stop_at_file_range) front_file_range() holds. Not
    // reentrant: more() calling gather on the same queue throws std::logic_error.
    // stop_at_file_range: a transport that can send a file range itself (sendfile) stops before a producer that
    // offers one, instead of reading the file through more() only because bytes were queued ahead of it.
    std::size_t gather(iovec* iov, int max_iov, std::size_t max_bytes, bool stop_at_file_range = false);
    // After the transport wrote n of the bytes gathered; n greater than ready_bytes() throws std::out_of_range.
    void consume(std::size_t n);
    // Slots the two FIFOs hold allocated (for tests: it must follow what is queued, not what was ever pushed).
    std::size_t slot_capacity() const noexcept { return ready_.capacity() + pending_.capacity(); }
    // Bytes materialised and not yet consumed (what gather can hand out without calling more()).
    std::size_t ready_bytes() const noexcept { return ready_bytes_; }
    // Every queued string's bytes, including those waiting behind a producer (which ready_bytes() does not see).
    std::size_t queued_bytes() const noexcept { return ready_bytes_ + pending_bytes_; }
    // Producers queued and not yet exhausted.
    std::size_t queued_producers() const noexcept { return producers_; }
    // What a producer counts for in footprint(): it holds no bytes until gathered, and gather takes at most about
    // one send's worth (64 KiB by default) from it at a time, which is then counted as ready bytes as well.
    static constexpr std::size_t producer_footprint = 65536;
    // What one queued string (or borrowed piece) counts for beyond its bytes: its slot in the FIFO.
    static constexpr std::size_t slot_footprint = sizeof(std::string) + sizeof(const char*) + sizeof(std::size_t);
    // An estimate of the memory the queue holds for unsent output, for backpressure (async_chat's watermarks):
    // each string's bytes plus its slot (a burst of 7-byte echo lines costs 48-byte slots, so counting bytes
    // alone would under-count it several times over), and producer_footprint per producer.
    std::size_t footprint() const noexcept {
        return queued_bytes() + (ready_.size() + pending_strings_) * slot_footprint +
               producers_ * producer_footprint;
    }

    // Everything before the close marker is written: the channel should handle_close. Meaningful after gather,
    // which is what steps past exhausted producers (it does not call more() itself).
    bool close_reached() const noexcept;
    // If close_reached(), removes the marker and returns true (Python deletes it before calling handle_close, and
    // a handle_close that does not close lets what was pushed after it go out).
    bool pop_close_marker() noexcept;

    // For a sendfile(2) transport: when no ready bytes precede it and the head of the queue is a producer that
    // offers a non-empty file range, that range. After sending n bytes of it, call consume_file(n).
    std::optional<file_range> front_file_range() const;
    // n bytes of front_file_range() were sent; std::logic_error if there is no such range, std::out_of_range if
    // n exceeds it.
    void consume_file(std::uint64_t n);

private:
    struct close_marker {};
    using item = std::variant<std::string, std::unique_ptr<producer>, close_marker>;

    // A piece of ready_: the queue's own string, or bytes it borrows (push_borrowed) until keep_borrowed().
    struct piece {
        std::string owned;
        const char* borrowed = nullptr;
        std::size_t borrowed_size = 0;
        piece() = default;
        explicit piece(std::string s) noexcept : owned(std::move(s)) {}
        explicit piece(std::string_view view) noexcept : borrowed(view.data()), borrowed_size(view.size()) {}
        const char* data() const noexcept { return borrowed ? borrowed : owned.data(); }
        std::size_t size() const noexcept { return borrowed ? borrowed_size : owned.size(); }
    };
    static_assert(sizeof(piece) == slot_footprint);

    // A FIFO on a vector: pop_front advances a head index; the storage is reused once the FIFO empties, and freed
    // then if a burst made it large, so a quiet channel keeps at most a few slots.
    template <class T> class fifo {
    public:
        bool empty() const noexcept { return head_ == items_.size(); }
        std::size_t size() const noexcept { return items_.size() - head_; }
        bool full() const noexcept { return items_.size() == items_.capacity(); }
        T& front() noexcept { return items_[head_]; }
        const T& front() const noexcept { return items_[head_]; }
        auto begin() noexcept { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
        auto end() noexcept { return items_.end(); }
        template <class... A> void emplace_back(A&&... args) { items_.emplace_back(std::forward<A>(args)...); }
        void pop_front() {
            items_[head_] = T{}; // release what it held now
            if (++head_ == items_.size()) {
                clear();
            } else if (head_ >= 64 && head_ * 2 >= items_.size()) {
                // A queue that never empties (a busy channel: pushes keep coming while sends drain it) would
                // otherwise keep a slot for every item ever pushed. Moving the live half down is O(1) amortised
                // per pop. Never called while gathered iovecs are outstanding (consume and gather only), so the
                // short strings whose bytes move with them are not being written.
                items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
                head_ = 0;
            }
        }
        std::size_t capacity() const noexcept { return items_.capacity(); }
        void clear() noexcept {
            if (items_.capacity() > 16) {
                std::vector<T>().swap(items_);
            } else {
                items_.clear();
            }
            head_ = 0;
        }

    private:
        std::vector<T> items_;
        std::size_t head_ = 0;
    };

    // Appends to ready_'s last string if it is a chunk with room for n more bytes; false otherwise.
    bool append_to_tail_chunk(std::string_view data);
    // Pops ready_'s front string; a chunk goes back to the per-thread pool.
    void pop_ready_front();

    fifo<piece> ready_;
    fifo<item> pending_;
    std::size_t head_offset_ = 0;
    std::size_t ready_bytes_ = 0;
    std::size_t pending_bytes_ = 0;     // bytes of the strings in pending_
    std::size_t pending_strings_ = 0;   // strings in pending_
    std::size_t producers_ = 0;         // producers in pending_ (one being asked for more() included)
    std::uint64_t epoch_ = 0;   // bumped by clear(), so gather notices a clear() made by more()
    bool gathering_ = false;
    bool outstanding_ = false;  // iovecs handed out by gather() not yet followed by consume() or clear()
    bool tail_is_chunk_ = false; // ready_'s last string is a chunk push_bytes may append to
    std::size_t borrowed_ = 0;   // pieces of ready_ that borrow their bytes
};

} // namespace asynchat
