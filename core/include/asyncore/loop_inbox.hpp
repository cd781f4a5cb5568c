#pragma once
// asyncore::loop_inbox — Twisted's reactor.callFromThread for one socket_map: any thread hands a function
// to call_from_thread(), and the map's loop runs it on its own thread, soon, in the order given. The wake-up is an
// eventfd watched by a small dispatcher in the map, so a loop blocked in its wait wakes at once, on every backend.
//
// The functions posted are destroyed on the loop thread (or by the inbox's destructor): they may hold what belongs
// to the loop (refs to channels) as long as the posting thread does not copy or destroy those itself.
// The inbox must outlive every thread that posts to it; posting after its destruction is a bug.
// While it lives, the inbox is a channel of its map, so asyncore::loop() does not end for lack of channels; it is
// the loop's machinery (outlives_shutdown), so a graceful drain neither asks it to finish nor waits for it.
// Its users: SMTP's Maildir delivery threads hand their results back through one; the workers of asynchat::serve
// hand accepted connections to each other's loops through theirs.
#include <atomic>
#include <functional>

#include "ref.hpp"

namespace asyncore {

class socket_map;

class loop_inbox {
public:
    explicit loop_inbox(socket_map& map);
    ~loop_inbox();
    loop_inbox(const loop_inbox&) = delete;
    loop_inbox& operator=(const loop_inbox&) = delete;

    // Thread-safe. fn runs on the loop thread. If it throws, the functions posted with it still run; the first
    // exception then reaches the inbox's dispatcher (handle_error: logged).
    void call_from_thread(std::function<void()> fn);

    // Runs what has been posted so far, now, on the calling thread (the loop's): for a loop-less test.
    void run_pending();

private:
    class waker;

    // Posted functions, newest first: a lock-free stack that posters push onto with one compare-and-swap and the
    // loop takes whole with one exchange (then reverses, for the order they were posted in). No poster ever
    // waits for another or for the loop, so a busy loop (a chat room's fan-out to another worker) costs a poster
    // nothing but its CAS. With one consumer that only ever takes everything, the stack has no ABA problem.
    struct node {
        std::function<void()> fn;
        node* next;
    };
    std::atomic<node*> head_{nullptr};
    int event_fd_ = -1;
    ref<waker> waker_;
};

} // namespace asyncore
