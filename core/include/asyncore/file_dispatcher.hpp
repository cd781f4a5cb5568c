#pragma once
// Python's asyncore.file_dispatcher: a dispatcher over a pipe, tty or other fd (stdin, a child's stdout).
// The fd is dup'd (see file_wrapper) and made non-blocking; the caller still owns and closes its own.
#include "dispatcher.hpp"

namespace asyncore {

class file_dispatcher : public dispatcher {
public:
    explicit file_dispatcher(int fd, socket_map* map = nullptr);
    void set_file(int fd);
};

} // namespace asyncore
