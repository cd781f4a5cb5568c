#pragma once
// asyncore::dispatcher — Python's asyncore.dispatcher: a non-blocking socket in a socket_map, told of its
// events through the handle_* methods a subclass overrides.
//
// Lifetime: see ref.hpp. Make channels with asyncore::make<T>(args...); the map keeps them alive until they
// close. A handler may close its own channel or any other, or make new ones, at any point.
//
// Interest (when readable()/writable() are asked): Python asks every channel on every pass, which makes each
// pass O(all channels). Here a channel's answers are kept by the loop and asked again only
//   1. when it enters a map (add_channel, create_socket, set_socket),
//   2. after the loop has delivered any event to it (after its handler returns),
//   3. after listen/connect/close and the buffering calls of dispatcher_with_send and async_chat,
//   4. when anyone calls refresh_interest() on it — do so when a readable()/writable() override depends on
//      state that changes outside that channel's own handlers (another channel's buffer, a timer),
//   5. on every pass, if set_interest_every_pass(true) was called (Python's cost, for code that cannot say).
// Re-evaluation happens once per pass, just before the wait, however often it was asked for. (On a completion
// backend, readable() is also asked before each read's bytes are handed to the channel: see handle_received.)
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include <sys/socket.h>

#include "address.hpp"
#include "ref.hpp"
#include "socket.hpp"

namespace asyncore {

class socket_map;
namespace detail { struct loop_access; }

// The log types log_info() stays quiet about (Python's ignore_log_types, a class-level frozenset there). Every
// dispatcher starts out sharing one default set, {"warning"}, so the set costs an idle channel no allocation;
// assigning or inserting gives that dispatcher its own copy.
class log_type_set {
public:
    log_type_set();
    log_type_set(std::initializer_list<std::string> types);
    bool contains(std::string_view type) const;
    void insert(std::string type);
    void erase(std::string_view type);
    void clear() { types_ = std::make_shared<const std::set<std::string, std::less<>>>(); }
    bool empty() const noexcept { return !types_ || types_->empty(); }

private:
    std::shared_ptr<const std::set<std::string, std::less<>>> types_;
};

class dispatcher {
public:
    explicit dispatcher(socket_map* map = nullptr);
    // Wraps a socket that is (usually) already connected, as dispatcher(sock) does in Python: made non-blocking,
    // added to the map, connected() set if it has a peer.
    explicit dispatcher(class socket sock, socket_map* map = nullptr);
    virtual ~dispatcher();
    dispatcher(const dispatcher&) = delete;
    dispatcher& operator=(const dispatcher&) = delete;

    // ---- predicates the loop asks (see "Interest" above). Defaults: both true.
    virtual bool readable();
    virtual bool writable();

    // ---- the handlers a subclass overrides
    virtual void handle_read();
    virtual void handle_write();
    virtual void handle_expt();
    virtual void handle_connect();
    virtual void handle_accept();                      // default: accept() and hand the pair to handle_accepted
    virtual void handle_accepted(class socket sock, address addr); // default: close it and log a warning
    virtual void handle_close();                       // default: log a warning and close()
    virtual void handle_error();                       // default: log compact_exception() and handle_close()
    // Not in Python: the server is stopping (asyncore::graceful_loop) and asks this channel to finish what it
    // is doing and close; the loop goes on until every channel has closed or the shutdown timeout passes. Default:
    // close() at once. async_chat closes once its queued output is sent (close_when_done).
    virtual void handle_shutdown();
    // Not in Python: true for a channel that is part of the loop's machinery rather than a connection (a signal
    // watcher, the eventfd by which other threads wake the loop): the drain neither asks it to finish nor waits
    // for it, and it keeps working while the connections finish. Default false.
    virtual bool outlives_shutdown() const noexcept { return false; }

    // ---- the event layer that calls them (Python's handle_*_event); rarely overridden
    virtual void handle_read_event();
    virtual void handle_write_event();
    virtual void handle_expt_event();
    virtual void handle_connect_event();

    // ---- for backends that read on the channel's behalf (io_uring, the Asio transport's "asio"): a channel that
    // answers true is handed the bytes through handle_received instead of being told it is readable, and the end
    // of input as handle_close. The map hands input over only while readable() says so, asked right before; what
    // is read meanwhile waits in the map and comes, in order, once it is readable again. A readable() that throws
    // there goes to handle_error (or ends the loop: exit_now), and the input waits (docs/design.md, "Completion
    // reads"). The default (false) keeps the readiness contract: handle_read and its own recv().
    virtual bool wants_transport_reads() const noexcept { return false; }
    virtual void handle_received(std::string_view bytes);

    // ---- socket methods
    void create_socket(int family = AF_INET, int type = SOCK_STREAM);
    void set_socket(class socket sock, socket_map* map = nullptr);
    void set_reuse_addr();
    void listen(int backlog);
    void bind(const address& addr);
    // Non-blocking: returns at once; handle_connect runs on the first read or write event, after SO_ERROR is
    // checked (a refused connect goes to handle_error as std::system_error(ECONNREFUSED)) — even when the connect
    // completed at once, so that a connect() called in a constructor reaches the subclass's handle_connect.
    void connect(const address& addr);
    // Nothing when no connection is waiting (EWOULDBLOCK) or it was aborted (ECONNABORTED).
    std::optional<std::pair<class socket, address>> accept();
    // Bytes sent; 0 when the socket would block, or when the peer is gone (handle_close has then run).
    // Other errors throw std::system_error. Virtual because dispatcher_with_send buffers here, as in Python.
    virtual std::size_t send(std::string_view data);
    // Extensions with send()'s rules: several buffers in one writev(2); count bytes of a file from offset with
    // sendfile(2) (regular files), which leaves the bytes in the kernel.
    std::size_t sendv(const iovec* iov, int iovcnt);
    std::size_t send_file(int file_fd, std::uint64_t offset, std::size_t count);
    // Bytes received into buf. 0 means nothing was read: either the peer closed (handle_close has then run and
    // connected() is false) or the socket would block (Python raises BlockingIOError there; this does not).
    std::size_t recv(char* buf, std::size_t n);
    std::string recv(std::size_t n);
    // Idempotent: takes the channel out of its map and closes the socket.
    virtual void close();

    // ---- state, as Python's attributes
    bool connected() const noexcept { return connected_; }
    bool accepting() const noexcept { return accepting_; }
    bool connecting() const noexcept { return connecting_; }
    // True once the library has delivered handle_close for the current socket; it does so at most once.
    bool closing() const noexcept { return closing_; }
    const std::optional<address>& addr() const noexcept { return addr_; }
    class socket& sock() noexcept { return socket_; }       // Python's self.socket
    const class socket& sock() const noexcept { return socket_; }
    int fileno() const noexcept { return fileno_; }

    // ---- the map
    void add_channel(socket_map* map = nullptr);
    void del_channel(socket_map* map = nullptr);
    socket_map& map() const noexcept { return *map_; }

    // ---- interest
    void refresh_interest() noexcept;
    void set_interest_every_pass(bool on);

    // ---- logging: log() writes "log: MESSAGE" to stderr, log_info() "TYPE: MESSAGE" to stdout unless TYPE is in
    // ignore_log_types.
    virtual void log(std::string_view message);
    virtual void log_info(std::string_view message, std::string_view type = "info");
    log_type_set ignore_log_types;
    bool debug = false;
    // "<TYPE [listening|connected] [ADDR] at 0xPTR>", as Python's repr.
    virtual std::string repr() const;

protected:
    bool connected_ = false;
    bool accepting_ = false;
    bool connecting_ = false;
    std::optional<address> addr_;

    // The library's path to handle_close: delivers it unless it was already delivered for this socket, and closes
    // the channel itself if asked a second time while the user's handle_close left it open.
    void fire_close();

    // Keeps a shared-owned channel alive across a call that may release the map's reference to it: a send made
    // from outside the channel's own handlers (another channel's broadcast, a timer) can close it, and a
    // make<T>() channel that closes is freed when its last reference goes.
    ref<dispatcher> pin() noexcept { return ref<dispatcher>(this); }

private:
    template <class T> friend class ref;
    template <class T, class... A> friend ref<T> make(A&&... args);
    friend class socket_map;
    friend struct detail::loop_access;

    unsigned wanted_interest();
    // What a send-like call returns for the syscall result rc (errno set when rc < 0).
    std::size_t sent_or_closed(std::ptrdiff_t rc, const char* what);
    bool registered() const noexcept { return generation_ != 0; }

    class socket socket_;
    socket_map* map_;
    int fileno_ = -1;
    bool closing_ = false;
    bool heap_owned_ = false;
    bool in_dirty_list_ = false;
    bool every_pass_ = false;
    unsigned registered_interest_ = 0;
    std::size_t dirty_index_ = 0;        // position in the map's dirty list while in_dirty_list_
    std::uint64_t generation_ = 0;       // the map's registration number; changes on every add/del
    std::uint32_t refs_ = 0;
};

// Makes a shared-owned channel: new T(args...), kept alive by its map and by refs (see ref.hpp).
template <class T, class... A> ref<T> make(A&&... args) {
    static_assert(std::is_base_of_v<dispatcher, T>, "asyncore::make makes dispatchers");
    T* p = new T(std::forward<A>(args)...);
    static_cast<dispatcher*>(p)->heap_owned_ = true;
    return ref<T>(p);
}

template <class T> void ref<T>::acquire() noexcept {
    if (p_) ++static_cast<dispatcher*>(p_)->refs_;
}

template <class T> void ref<T>::release(T* p) noexcept {
    auto* d = static_cast<dispatcher*>(p);
    if (--d->refs_ == 0 && d->heap_owned_) delete d;
}

} // namespace asyncore
