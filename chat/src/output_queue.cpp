#include "asynchat/output_queue.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <vector>

namespace asynchat {

producer::~producer() = default;

void producer::advance(std::uint64_t) {
    throw std::logic_error("asynchat::producer::advance: this producer offers no file range");
}

namespace {

// Sent chunks kept for the next push_bytes on this thread: a loop's channels take turns with the same few, so a
// steady stream of small pushes allocates nothing, and a chunk never stays with a channel that has gone quiet.
class chunk_pool {
public:
    std::string take() {
        if (!free_.empty()) {
            std::string chunk = std::move(free_.back());
            free_.pop_back();
            return chunk;
        }
        std::string chunk;
        chunk.reserve(output_queue::chunk_size);
        return chunk;
    }
    // Takes s's buffer when it is a chunk's (exactly: a larger one would make chunks of differing sizes, and
    // push_bytes's packing depend on history) and the pool has room. A user's string of that size will do too:
    // it is only memory.
    void give_back(std::string& s) {
        if (s.capacity() != output_queue::chunk_size || free_.size() >= output_queue::chunk_pool_size) return;
        s.clear();
        if (free_.capacity() == 0) free_.reserve(output_queue::chunk_pool_size);
        free_.push_back(std::move(s));
    }

private:
    std::vector<std::string> free_;
};

thread_local chunk_pool pool;

} // namespace

bool output_queue::append_to_tail_chunk(std::string_view data) {
    if (!tail_is_chunk_ || ready_.empty()) return false;
    // Never past the capacity: the bytes already gathered (outstanding iovecs) must not move.
    std::string& tail = (ready_.end() - 1)->owned;
    if (tail.capacity() - tail.size() < data.size()) return false;
    tail.append(data);
    ready_bytes_ += data.size();
    return true;
}

void output_queue::push_bytes(std::string_view data) {
    if (data.empty()) return;
    if (data.size() > chunk_size || !pending_.empty()) {
        // Behind a producer the bytes wait in pending_ (order), and a long one is as cheap in its own string.
        push(std::string(data));
        return;
    }
    if (append_to_tail_chunk(data)) return;
    if (outstanding_ && ready_.full()) {
        push(std::string(data)); // a new slot would move the gathered strings: push() queues it in pending_
        return;
    }
    std::string chunk = pool.take();
    chunk.append(data);
    ready_bytes_ += data.size();
    ready_.emplace_back(std::move(chunk));
    tail_is_chunk_ = true;
}

void output_queue::push_borrowed(std::string_view data) {
    if (data.empty()) return;
    if (!pending_.empty() || (outstanding_ && ready_.full())) {
        push_bytes(data); // it would wait behind a producer, or its slot move gathered bytes: its own copy
        return;
    }
    ready_bytes_ += data.size();
    ready_.emplace_back(data);
    tail_is_chunk_ = false;
    ++borrowed_;
}

bool output_queue::keep_borrowed() noexcept {
    if (borrowed_ == 0) return true;
    try {
        std::size_t offset = head_offset_;
        for (auto it = ready_.begin(); it != ready_.end() && borrowed_ > 0; ++it, offset = 0) {
            if (!it->borrowed) continue;
            // The head piece keeps only what is unsent: its offset starts again at 0, its unsent length the same.
            it->owned.assign(it->borrowed + offset, it->borrowed_size - offset);
            it->borrowed = nullptr;
            it->borrowed_size = 0;
            if (it == ready_.begin()) head_offset_ = 0;
            --borrowed_;
        }
        return true;
    } catch (...) {
        clear();
        return false;
    }
}

void output_queue::pop_ready_front() {
    if (ready_.front().borrowed) --borrowed_;
    pool.give_back(ready_.front().owned);
    ready_.pop_front();
    if (ready_.empty()) tail_is_chunk_ = false;
}

void output_queue::push(std::string data) {
    if (data.empty()) return;
    if (pending_.empty() && !(outstanding_ && ready_.full())) {
        ready_bytes_ += data.size();
        ready_.emplace_back(std::move(data));
        tail_is_chunk_ = false;
    } else {
        pending_bytes_ += data.size();
        ++pending_strings_;
        pending_.emplace_back(std::in_place_type<std::string>, std::move(data));
    }
}

void output_queue::push_with_producer(std::unique_ptr<producer> p) {
    if (!p) return;
    pending_.emplace_back(std::in_place_type<std::unique_ptr<producer>>, std::move(p));
    ++producers_;
}

void output_queue::close_when_done() { pending_.emplace_back(std::in_place_type<close_marker>); }

void output_queue::clear() noexcept {
    outstanding_ = false;
    ready_.clear();
    pending_.clear();
    tail_is_chunk_ = false;
    borrowed_ = 0;
    head_offset_ = 0;
    ready_bytes_ = 0;
    pending_bytes_ = 0;
    pending_strings_ = 0;
    producers_ = 0;
    ++epoch_;
}

std::size_t output_queue::gather(iovec* iov, int max_iov, std::size_t max_bytes, bool stop_at_file_range) {
    if (gathering_) throw std::logic_error("asynchat::output_queue::gather called from inside a producer's more()");
    if (max_iov <= 0 || max_bytes == 0) return 0;
    gathering_ = true;
    struct unset {
        bool& flag;
        ~unset() { flag = false; }
    } guard{gathering_};
    const auto slots = static_cast<std::size_t>(max_iov);

    while (ready_bytes_ < max_bytes && ready_.size() < slots && !pending_.empty()) {
        item& front = pending_.front();
        if (auto* s = std::get_if<std::string>(&front)) {
            pending_bytes_ -= s->size();
            --pending_strings_;
            ready_bytes_ += s->size();
            ready_.emplace_back(std::move(*s));
            tail_is_chunk_ = false;
            pending_.pop_front();
            continue;
        }
        if (std::holds_alternative<close_marker>(front)) break;
        if (stop_at_file_range) {
            const auto& q = std::get<std::unique_ptr<producer>>(front);
            if (q) {
                const auto range = q->as_file_range();
                if (range && range->remaining > 0) break; // the transport sends it from the file itself
            }
        }

        // more() may push (which can move pending_'s elements: the slot is looked up again afterwards) or clear the
        // queue; holding the producer here keeps it alive through a clear() made from inside its own more().
        std::unique_ptr<producer> p = std::move(std::get<std::unique_ptr<producer>>(front));
        const std::uint64_t epoch = epoch_;
        std::string chunk;
        try {
            chunk = p->more();
        } catch (...) {
            if (epoch == epoch_) std::get<std::unique_ptr<producer>>(pending_.front()) = std::move(p);
            throw;
        }
        if (epoch != epoch_) break;   // discarded, with everything else that was queued
        if (chunk.empty()) {
            pending_.pop_front();
            --producers_;
            continue;
        }
        std::get<std::unique_ptr<producer>>(pending_.front()) = std::move(p);
        ready_bytes_ += chunk.size();
        ready_.emplace_back(std::move(chunk));
        tail_is_chunk_ = false;
    }

    std::size_t n = 0, total = 0, offset = head_offset_;
    for (auto it = ready_.begin(); it != ready_.end() && n < slots && total < max_bytes; ++it, offset = 0) {
        const std::size_t len = std::min(it->size() - offset, max_bytes - total);
        iov[n].iov_base = const_cast<char*>(it->data()) + offset; // writev only reads it
        iov[n].iov_len = len;
        ++n;
        total += len;
    }
    outstanding_ = n > 0;
    return n;
}

void output_queue::consume(std::size_t n) {
    if (n > ready_bytes_) throw std::out_of_range("asynchat::output_queue::consume: more bytes than were ready");
    outstanding_ = false;
    ready_bytes_ -= n;
    while (n > 0) {
        const std::size_t avail = ready_.front().size() - head_offset_;
        if (n < avail) {
            head_offset_ += n;
            return;
        }
        n -= avail;
        pop_ready_front();
        head_offset_ = 0;
    }
}

bool output_queue::close_reached() const noexcept {
    return ready_.empty() && !pending_.empty() && std::holds_alternative<close_marker>(pending_.front());
}

bool output_queue::pop_close_marker() noexcept {
    if (!close_reached()) return false;
    pending_.pop_front();
    return true;
}

std::optional<file_range> output_queue::front_file_range() const {
    if (!ready_.empty() || pending_.empty()) return std::nullopt;
    auto* p = std::get_if<std::unique_ptr<producer>>(&pending_.front());
    if (!p || !*p) return std::nullopt;   // null: its more() is running
    auto range = (*p)->as_file_range();
    if (!range || range->remaining == 0) return std::nullopt;
    return range;
}

void output_queue::consume_file(std::uint64_t n) {
    if (!front_file_range())
        throw std::logic_error("asynchat::output_queue::consume_file: no file range at the head of the queue");
    auto& p = std::get<std::unique_ptr<producer>>(pending_.front());
    p->advance(n);
    // Finished: dropped now rather than at the next gather, so that close_reached() can become true at once.
    if (auto range = p->as_file_range(); range && range->remaining == 0) {
        pending_.pop_front();
        --producers_;
    }
}

} // namespace asynchat
