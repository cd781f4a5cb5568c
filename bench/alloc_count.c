/* An LD_PRELOAD library that counts a server's heap allocations, for bench/run_echo_cost's "allocations per
 * message". malloc, calloc, realloc (of a new block or a resize), aligned_alloc, posix_memalign and memalign are
 * counted and forwarded to glibc's own (__libc_*); C++'s operator new reaches malloc, so it is counted too.
 *
 * SIGUSR2 writes "allocations N\n" to the file named by $ALLOC_COUNT_FILE (truncated each time): the runner
 * signals before and after the load generator's window and divides the difference by the messages echoed. A
 * signal handler may only make async-signal-safe calls: the number is formatted by hand and written with write(2).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);
extern void __libc_free(void*);

static atomic_ulong allocations;

static void count(void) { atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed); }

void* malloc(size_t n) { count(); return __libc_malloc(n); }
void* calloc(size_t n, size_t m) { count(); return __libc_calloc(n, m); }
void* realloc(void* p, size_t n) { count(); return __libc_realloc(p, n); }
void free(void* p) { __libc_free(p); }
void* memalign(size_t a, size_t n) { count(); return __libc_memalign(a, n); }
void* aligned_alloc(size_t a, size_t n) { count(); return __libc_memalign(a, n); }
int posix_memalign(void** out, size_t a, size_t n) {
    count();
    void* p = __libc_memalign(a, n);
    if (!p) return 12; /* ENOMEM */
    *out = p;
    return 0;
}

static void report(int sig) {
    (void)sig;
    const char* path = getenv("ALLOC_COUNT_FILE");
    if (!path) return;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    char buf[48] = "allocations ";
    char digits[24];
    unsigned long v = atomic_load(&allocations);
    int n = 0;
    do { digits[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    int at = 12;
    while (n) buf[at++] = digits[--n];
    buf[at++] = '\n';
    (void)!write(fd, buf, (size_t)at);
    close(fd);
}

__attribute__((constructor)) static void install(void) {
    struct sigaction sa = {0};
    sa.sa_handler = report;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, NULL);
}
