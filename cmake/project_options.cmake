# Warnings and sanitizers for the project's own targets only: a consumer of the installed package
# inherits none of them.
add_library(asynchat_project_options INTERFACE)
target_compile_options(asynchat_project_options INTERFACE -Wall -Wextra -Werror)
# GCC 12 at -O2 reports impossible overlaps inside std::string's own operator+ (GCC bugs 105329, 105651): a
# false positive in the standard library, not in our code, so only that warning is silenced, only on GCC 12.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
   AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(asynchat_project_options INTERFACE -Wno-restrict)
endif()
if(ASYNCHAT_SANITIZE)
  target_compile_options(asynchat_project_options INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(asynchat_project_options INTERFACE -fsanitize=address,undefined)
endif()
# The fuzz build (tests/fuzz): every layer gets libFuzzer's coverage instrumentation (fuzzer-no-link: the
# fuzzer's main is linked into the fuzz targets only) and the sanitizers whose reports count as crashes.
if(ASYNCHAT_FUZZ)
  target_compile_options(asynchat_project_options INTERFACE
    -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(asynchat_project_options INTERFACE -fsanitize=address,undefined)
endif()

# asynchat_layer(NAME SOURCES... [INCLUDE_DIRS DIR...]) declares the library target for one layer with its alias
# asynchat::NAME. Its public headers are under include/ (or each INCLUDE_DIRS folder, for a layer made of several
# folders such as protocols/), installed together into one include tree.
function(asynchat_layer name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "INCLUDE_DIRS")
  if(NOT arg_INCLUDE_DIRS)
    set(arg_INCLUDE_DIRS include)
  endif()
  add_library(asynchat_${name} ${arg_UNPARSED_ARGUMENTS})
  add_library(asynchat::${name} ALIAS asynchat_${name})
  set_target_properties(asynchat_${name} PROPERTIES EXPORT_NAME ${name} OUTPUT_NAME asynchat_${name})
  foreach(dir IN LISTS arg_INCLUDE_DIRS)
    target_include_directories(asynchat_${name} PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/${dir}>)
    install(DIRECTORY ${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  endforeach()
  target_include_directories(asynchat_${name} PUBLIC $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(asynchat_${name} PRIVATE $<BUILD_INTERFACE:asynchat_project_options>)
  target_compile_features(asynchat_${name} PUBLIC cxx_std_20)
  set_property(GLOBAL APPEND PROPERTY ASYNCHAT_LAYERS asynchat_${name})
endfunction()
