#pragma once
// Internal to the core layer: the loop's access to dispatcher internals and shared helpers.
#include <string>
#include <system_error>

#include "asyncore/loop.hpp"

#include "asyncore/dispatcher.hpp"
#include "invariant.hpp"

namespace asyncore::detail {

std::string demangle(const char* mangled);

struct loop_access {
    static void fire_close(dispatcher& d) { d.fire_close(); }
    static std::uint64_t generation(const dispatcher& d) noexcept { return d.generation_; }
};

// Runs one step of event delivery under the loop's error rules (see loop.hpp). Defined in loop.cpp.
template <class F> void guarded(dispatcher& d, F&& step);
void deliver_error(dispatcher& d);
void deliver_disconnect_or_error(dispatcher& d, const std::system_error& e);

template <class F> void guarded(dispatcher& d, F&& step) {
    try {
        step();
    } catch (const exit_now&) {
        throw;
    } catch (const std::system_error& e) {
        deliver_disconnect_or_error(d, e);
    } catch (...) {
        deliver_error(d);
    }
}

} // namespace asyncore::detail
