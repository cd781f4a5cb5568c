#include "asyncore/file_dispatcher.hpp"

namespace asyncore {

file_dispatcher::file_dispatcher(int fd, socket_map* map) : dispatcher(map) {
    connected_ = true;
    set_file(fd);
}

void file_dispatcher::set_file(int fd) {
    set_socket(file_wrapper(fd));
    // The dup shares the file description, so this makes the caller's fd non-blocking too, as in Python.
    sock().set_blocking(false);
}

} // namespace asyncore
