#include "asyncore/dispatcher.hpp"

#include <poll.h>

#include <cerrno>
#include <cstdio>
#include <system_error>
#include <typeinfo>

#include "asyncore/log.hpp"
#include "asyncore/loop.hpp"
#include "asyncore/socket_map.hpp"
#include "detail.hpp"

namespace asyncore {

namespace {
const std::shared_ptr<const std::set<std::string, std::less<>>>& default_log_types() {
    static const auto types = std::make_shared<const std::set<std::string, std::less<>>>(
        std::set<std::string, std::less<>>{"warning"});
    return types;
}
} // namespace

log_type_set::log_type_set() : types_(default_log_types()) {}

log_type_set::log_type_set(std::initializer_list<std::string> types)
    : types_(std::make_shared<const std::set<std::string, std::less<>>>(types)) {}

bool log_type_set::contains(std::string_view type) const { return types_ && types_->find(type) != types_->end(); }

void log_type_set::insert(std::string type) {
    auto copy = types_ ? *types_ : std::set<std::string, std::less<>>{};
    copy.insert(std::move(type));
    types_ = std::make_shared<const std::set<std::string, std::less<>>>(std::move(copy));
}

void log_type_set::erase(std::string_view type) {
    if (!contains(type)) return;
    auto copy = *types_;
    copy.erase(copy.find(type));
    types_ = std::make_shared<const std::set<std::string, std::less<>>>(std::move(copy));
}

dispatcher::dispatcher(socket_map* map) : map_(map ? map : &socket_map::default_map()) {}

dispatcher::dispatcher(class socket sock, socket_map* map) : dispatcher(map) {
    sock.set_blocking(false);
    set_socket(std::move(sock));
    connected_ = true;
    if (auto reported = map_->take_expected_peer(fileno_)) {
        addr_ = std::move(reported); // a proxy in front said who the client is (socket_map::expect_peer_address)
        return;
    }
    try {
        addr_ = socket_.getpeername();
    } catch (const std::system_error& e) {
        if (e.code().value() == ENOTCONN || e.code().value() == EINVAL) {
            connected_ = false; // an unconnected socket was handed over
        } else {
            del_channel();      // broken in some unknown way: keep it out of the poll set
            throw;
        }
    }
}

dispatcher::~dispatcher() {
    heap_owned_ = false; // nothing may delete us again while we leave the map
    if (registered()) map_->detach(*this);
    map_->forget_dirty(*this);
}

bool dispatcher::readable() { return true; }
bool dispatcher::writable() { return true; }

void dispatcher::handle_read() { log_info("unhandled read event", "warning"); }
void dispatcher::handle_write() { log_info("unhandled write event", "warning"); }
void dispatcher::handle_expt() { log_info("unhandled incoming priority event", "warning"); }
void dispatcher::handle_connect() { log_info("unhandled connect event", "warning"); }

void dispatcher::handle_received(std::string_view) {
    throw std::logic_error("asyncore: handle_received on a channel that reads for itself");
}

void dispatcher::handle_accept() {
    if (auto pair = accept()) handle_accepted(std::move(pair->first), std::move(pair->second));
}

void dispatcher::handle_accepted(class socket sock, address) {
    sock.close();
    log_info("unhandled accepted event", "warning");
}

void dispatcher::handle_close() {
    log_info("unhandled close event", "warning");
    close();
}

void dispatcher::handle_shutdown() { close(); }

void dispatcher::handle_error() {
    std::string self;
    try {
        self = repr();
    } catch (...) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "<repr() failed for object at %p>", static_cast<void*>(this));
        self = buf;
    }
    // Python says "uncaptured python exception"; what happened is that a handler failed and the channel closes.
    log_info("closing channel " + self + ": " + compact_exception(), "error");
    handle_close();
}

void dispatcher::handle_read_event() {
    if (accepting_) {
        // Listening sockets never connect; their read event means a connection is waiting.
        handle_accept();
    } else if (!connected_) {
        if (connecting_) handle_connect_event();
        handle_read();
    } else {
        handle_read();
    }
}

void dispatcher::handle_connect_event() {
    int err = socket_.getsockopt_int(SOL_SOCKET, SO_ERROR);
    if (err != 0) throw std::system_error(err, std::system_category(), "connect");
    handle_connect();
    connected_ = true;
    connecting_ = false;
    refresh_interest();
}

void dispatcher::handle_write_event() {
    if (accepting_) return; // a listening socket has nothing to write; pretend it did not happen
    if (!connected_ && connecting_) handle_connect_event();
    handle_write();
}

void dispatcher::handle_expt_event() {
    // An exceptional condition is either a socket error (then the peer is as good as gone) or OOB data.
    if (socket_.getsockopt_int(SOL_SOCKET, SO_ERROR) != 0)
        fire_close();
    else
        handle_expt();
}

void dispatcher::create_socket(int family, int type) {
    set_socket(asyncore::socket(family, type));
}

void dispatcher::set_socket(class socket sock, socket_map* map) {
    auto self = pin();
    if (registered()) map_->detach(*this);
    socket_ = std::move(sock);
    fileno_ = socket_.fileno();
    closing_ = false;
    add_channel(map);
}

void dispatcher::set_reuse_addr() {
    try {
        socket_.setsockopt_int(SOL_SOCKET, SO_REUSEADDR, socket_.getsockopt_int(SOL_SOCKET, SO_REUSEADDR) | 1);
    } catch (const std::system_error&) {
        // As Python: a platform without SO_REUSEADDR just goes without.
    }
}

void dispatcher::listen(int backlog) {
    accepting_ = true;
    socket_.listen(backlog);
    refresh_interest();
}

void dispatcher::bind(const address& addr) {
    addr_ = addr;
    socket_.bind(addr);
}

void dispatcher::connect(const address& addr) {
    connected_ = false;
    connecting_ = true;
    refresh_interest();
    int err = socket_.connect_ex(addr);
    // A connect that completes at once (Unix sockets, some loopback cases) is reported like one in progress: on
    // the first event. Python calls handle_connect here, but connect() is usually called from a constructor,
    // where C++ would run the base class's handle_connect instead of the subclass's.
    if (err == 0 || err == EISCONN || err == EINPROGRESS || err == EALREADY || err == EWOULDBLOCK) {
        addr_ = addr;
        return;
    }
    throw std::system_error(err, std::system_category(), "connect to " + addr.to_string());
}

std::optional<std::pair<class socket, address>> dispatcher::accept() { return socket_.accept(); }

std::size_t dispatcher::sent_or_closed(std::ptrdiff_t rc, const char* what) {
    if (rc >= 0) return static_cast<std::size_t>(rc);
    int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) return 0;
    if (is_disconnect_errno(err)) {
        fire_close();
        return 0;
    }
    throw std::system_error(err, std::system_category(), what);
}

std::size_t dispatcher::send(std::string_view data) {
    return sent_or_closed(socket_.send_some(data.data(), data.size()), "send");
}

std::size_t dispatcher::sendv(const iovec* iov, int iovcnt) {
    return sent_or_closed(socket_.sendv_some(iov, iovcnt), "writev");
}

std::size_t dispatcher::send_file(int file_fd, std::uint64_t offset, std::size_t count) {
    return sent_or_closed(socket_.sendfile_some(file_fd, offset, count), "sendfile");
}

std::size_t dispatcher::recv(char* buf, std::size_t n) {
    auto got = socket_.recv_some(buf, n);
    if (got > 0) return static_cast<std::size_t>(got);
    if (got == 0) {
        // A closed connection is signalled by a read event and recv returning 0.
        if (n != 0) fire_close();
        return 0;
    }
    int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) return 0;
    if (is_disconnect_errno(err)) {
        fire_close();
        return 0;
    }
    throw std::system_error(err, std::system_category(), "recv");
}

std::string dispatcher::recv(std::size_t n) {
    std::string out(n, '\0');
    out.resize(recv(out.data(), n));
    return out;
}

void dispatcher::close() {
    auto self = pin();
    connected_ = false;
    accepting_ = false;
    connecting_ = false;
    del_channel();
    fileno_ = -1;
    try {
        socket_.close();
    } catch (const std::system_error& e) {
        if (e.code().value() != ENOTCONN && e.code().value() != EBADF) throw;
    }
}

void dispatcher::fire_close() {
    if (closing_) {
        // Told once already and still open: a handle_close that never closes would be told again on every pass,
        // so the library closes the channel itself.
        if (socket_.valid()) close();
        return;
    }
    closing_ = true;
    handle_close();
}

void dispatcher::add_channel(socket_map* map) {
    if (map && map != map_) {
        if (registered()) map_->detach(*this);
        map_ = map;
    }
    map_->attach(*this);
}

void dispatcher::del_channel(socket_map* map) {
    auto self = pin();
    (map ? map : map_)->detach(*this);
}

void dispatcher::refresh_interest() noexcept {
    if (registered()) map_->mark_dirty(*this);
}

void dispatcher::set_interest_every_pass(bool on) {
    every_pass_ = on;
    if (registered()) map_->set_every_pass(*this, on);
}

unsigned dispatcher::wanted_interest() {
    if (fileno_ < 0) return 0;
    unsigned events = 0;
    if (readable()) events |= POLLIN | POLLPRI;
    // Listening sockets are never asked to write.
    if (!accepting_ && writable()) events |= POLLOUT;
    return events;
}

void dispatcher::log(std::string_view message) {
    std::string line;
    line.reserve(5 + message.size());
    line.append("log: ").append(message);
    asyncore::log(log_level::info, line);
}

namespace {
// Any other type (Python's log_info takes any string, "debug" included) is info: ignore_log_types, not the level,
// decides what log_info hides, as in Python.
log_level level_of(std::string_view type) noexcept {
    if (type == "error") return log_level::error;
    if (type == "warning") return log_level::warning;
    return log_level::info;
}
} // namespace

void dispatcher::log_info(std::string_view message, std::string_view type) {
    if (ignore_log_types.contains(type)) return;
    std::string line;
    line.reserve(type.size() + 2 + message.size());
    line.append(type).append(": ").append(message);
    asyncore::log(level_of(type), line);
}

std::string dispatcher::repr() const {
    std::string out = "<" + detail::demangle(typeid(*this).name());
    if (accepting_ && addr_)
        out += " listening";
    else if (connected_)
        out += " connected";
    if (addr_) out += " " + addr_->to_string();
    char buf[32];
    std::snprintf(buf, sizeof buf, " at %p>", static_cast<const void*>(this));
    return out + buf;
}

} // namespace asyncore
