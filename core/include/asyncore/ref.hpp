#pragma once
// asyncore::ref<T> — the owning handle to a channel.
//
// Ownership model (the one rule a porter must know):
//   * A channel made with asyncore::make<T>(args...) is *shared-owned*: it lives while its socket_map holds it
//     (from add_channel to close/del_channel) or any ref<T> points at it, and is deleted when the last of those
//     lets go. So `asyncore::make<EchoServer>(addr);` with the result discarded works as Python's
//     `EchoServer(addr)` does: the map keeps the server alive.
//   * A channel made any other way (on the stack, as a member, in a unique_ptr) is *user-owned*: refs and the
//     map never delete it, and its destructor takes it out of its map. Destroying a user-owned channel from
//     inside one of its own handlers is the user's bug, as `delete this` would be.
//   * The loop holds a ref to each channel while it runs that channel's handler, so a handler may close (and so
//     release) its own channel, or any other, and `this` stays valid until the handler returns.
// The count is not atomic: a socket_map and its channels belong to one thread.
#include <cstddef>
#include <utility>

namespace asyncore {

class dispatcher;

template <class T> class ref {
public:
    ref() noexcept = default;
    ref(std::nullptr_t) noexcept {}
    explicit ref(T* p) noexcept : p_(p) { acquire(); }
    ref(const ref& o) noexcept : p_(o.p_) { acquire(); }
    ref(ref&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    template <class U> ref(const ref<U>& o) noexcept : p_(o.get()) { acquire(); }
    template <class U> ref(ref<U>&& o) noexcept : p_(o.release_unowned()) {}
    ~ref() { reset(); }

    ref& operator=(ref o) noexcept { std::swap(p_, o.p_); return *this; }
    void reset() noexcept { if (auto* p = std::exchange(p_, nullptr)) release(p); }

    T* get() const noexcept { return p_; }
    T* operator->() const noexcept { return p_; }
    T& operator*() const noexcept { return *p_; }
    explicit operator bool() const noexcept { return p_ != nullptr; }
    friend bool operator==(const ref& a, const ref& b) noexcept { return a.p_ == b.p_; }

    // For converting moves only: hands the pointer over together with the count it holds.
    T* release_unowned() noexcept { return std::exchange(p_, nullptr); }

private:
    void acquire() noexcept;
    static void release(T* p) noexcept;
    T* p_ = nullptr;
};

} // namespace asyncore
