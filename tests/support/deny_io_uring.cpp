// deny_io_uring PROGRAM ARGS...: runs PROGRAM with io_uring_setup(2) failing with EPERM, as a kernel with
// io_uring_disabled=2 or a container's seccomp profile refuses it, so that the tests can see the io_uring backend
// step aside. A seccomp filter (no privilege needed once no_new_privs is set) is inherited across execve.
// Exit 77 (ctest's SKIP_RETURN_CODE) where the filter cannot be installed.
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: deny_io_uring PROGRAM [ARGS...]\n");
        return 2;
    }
#if !defined(NATIVE_AUDIT_ARCH) || !defined(__NR_io_uring_setup)
    std::fprintf(stderr, "deny_io_uring: no seccomp filter for this architecture\n");
    return 77;
#else
    sock_filter filter[] = {
        // Another architecture's system call numbers mean something else: let those through untouched.
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_AUDIT_ARCH, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog program{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
        std::fprintf(stderr, "deny_io_uring: cannot install the seccomp filter: %s\n", std::strerror(errno));
        return 77;
    }
    ::execvp(argv[1], argv + 1);
    std::fprintf(stderr, "deny_io_uring: %s: %s\n", argv[1], std::strerror(errno));
    return 127;
#endif
}
