#pragma once
// ASYNCORE_ASSERT(condition, "what must hold"): the invariants of the core layer, checked in debug builds
// (NDEBUG unset: the debug preset) and compiled out of release ones. A failure names the invariant, the condition
// and the place on stderr, then aborts: it is a bug in the library (or a backend), never a user's error to handle.
// Internal to core, and free of the channel headers, so that a backend (core/src/pollers) can use it too.
#include <cstdio>
#include <cstdlib>

#ifdef NDEBUG
// Unevaluated, so that what only the check uses is still used.
#define ASYNCORE_ASSERT(condition, what) static_cast<void>(sizeof(static_cast<bool>(condition)))
#else
#define ASYNCORE_ASSERT(condition, what)                                                                        \
    ((condition) ? static_cast<void>(0) : ::asyncore::detail::invariant_failed(what, #condition, __FILE__, __LINE__))

namespace asyncore::detail {
[[noreturn]] inline void invariant_failed(const char* what, const char* condition, const char* file, int line) {
    // Not through the log facility: a user's sink may itself be what is broken, and this must get out.
    std::fprintf(stderr, "asyncore: invariant failed: %s (%s) at %s:%d\n", what, condition, file, line);
    std::fflush(stderr);
    std::abort();
}
} // namespace asyncore::detail
#endif
