// The backend registry. Adding a backend (kqueue, io_uring) is one new file in pollers/ defining its factory,
// and its line in the table below.
#include <algorithm>
#include <stdexcept>

#include "asyncore/poller.hpp"

namespace asyncore {

namespace pollers {
std::unique_ptr<poller> make_select();
std::unique_ptr<poller> make_poll();
#ifdef __linux__
std::unique_ptr<poller> make_epoll();
#endif
#ifdef ASYNCHAT_HAVE_IO_URING
std::unique_ptr<poller> make_io_uring();
std::string io_uring_unavailable();
#endif
} // namespace pollers

namespace {

std::vector<backend_info>& registry() {
    static std::vector<backend_info> backends{
        {"select", pollers::make_select},
        {"poll", pollers::make_poll},
#ifdef __linux__
        {"epoll", pollers::make_epoll},
#endif
#ifdef ASYNCHAT_HAVE_IO_URING
        {"io_uring", pollers::make_io_uring, pollers::io_uring_unavailable},
#endif
    };
    return backends;
}

// "" when the backend can run here.
std::string unavailable(const backend_info& b) {
    return b.unavailable ? b.unavailable() : std::string();
}

} // namespace

std::vector<std::string> backend_names() {
    std::vector<std::string> names;
    for (const auto& b : registry())
        if (unavailable(b).empty()) names.emplace_back(b.name);
    return names;
}

std::string_view default_backend() noexcept {
#ifdef __linux__
    return "epoll";
#else
    return "poll";
#endif
}

void register_backend(backend_info info) {
    auto& r = registry();
    if (std::any_of(r.begin(), r.end(), [&](const backend_info& b) { return b.name == info.name; }))
        throw std::invalid_argument("asyncore: backend already registered: " + std::string(info.name));
    r.push_back(info);
}

std::unique_ptr<poller> make_poller(std::string_view name) {
    if (name.empty()) name = default_backend();
    for (const auto& b : registry()) {
        if (b.name != name) continue;
        if (auto why = unavailable(b); !why.empty())
            throw std::invalid_argument("asyncore: " + std::string(name) + " unavailable: " + why);
        return b.create();
    }
    std::string known;
    for (const auto& name : backend_names()) known += (known.empty() ? "" : ", ") + name;
    throw std::invalid_argument("asyncore: unknown backend '" + std::string(name) + "' (known: " + known + ")");
}

} // namespace asyncore
