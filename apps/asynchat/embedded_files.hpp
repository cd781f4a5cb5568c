#pragma once
// The bundled site of `asynchat serve all` (apps/asynchat/site/), compiled into the program by
// cmake/embed_files.cmake so that the command serves it from any working directory.
#include <span>
#include <string_view>

namespace asynchat_cli {

struct embedded_file {
    std::string_view path;  // "/index.html"
    std::string_view bytes;
};

std::span<const embedded_file> embedded_files();

} // namespace asynchat_cli
