# Run by the install_consumer test (see CMakeLists.txt) as cmake -D... -P run.cmake:
#   1. cmake --install BUILD_DIR --prefix PREFIX
#   2. configure CONSUMER_SOURCE_DIR in CONSUMER_BINARY_DIR with CMAKE_PREFIX_PATH=PREFIX
#   3. build it, 4. run its app.
# Any failing step is a FATAL_ERROR, which makes cmake -P exit non-zero and the test fail.
cmake_minimum_required(VERSION 3.25)

foreach(var BUILD_DIR PREFIX CONSUMER_SOURCE_DIR CONSUMER_BINARY_DIR GENERATOR CXX_COMPILER)
  if("${${var}}" STREQUAL "")
    message(FATAL_ERROR "run.cmake needs -D${var}=...")
  endif()
endforeach()

# run_step(NAME COMMAND...): runs the command, output straight to the test log, and stops on a non-zero result.
# RESULT_VARIABLE is a number, or a message such as "Segmentation fault" when the child died of a signal.
function(run_step name)
  message(STATUS "install_consumer: ${name}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result)
  if(NOT "${result}" STREQUAL "0")
    string(REPLACE ";" " " command "${ARGN}")
    message(FATAL_ERROR "install_consumer: ${name} failed (${result}):\n  ${command}")
  endif()
endfunction()

# Left-overs of an earlier run would let a broken install pass: start from nothing.
file(REMOVE_RECURSE "${PREFIX}" "${CONSUMER_BINARY_DIR}")

set(config_args)
if(NOT "${CONFIG}" STREQUAL "")
  set(config_args --config "${CONFIG}")
endif()

run_step("install" "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" ${config_args})

set(configure_args
  -S "${CONSUMER_SOURCE_DIR}" -B "${CONSUMER_BINARY_DIR}" -G "${GENERATOR}"
  "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
  "-DCMAKE_PREFIX_PATH=${PREFIX}"
  # The package registries could hand find_package the build tree instead of the install.
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
if(NOT "${MAKE_PROGRAM}" STREQUAL "")
  list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(NOT MULTI_CONFIG AND NOT "${CONFIG}" STREQUAL "")
  list(APPEND configure_args "-DCMAKE_BUILD_TYPE=${CONFIG}")
endif()
if(SANITIZE)
  # The installed library is instrumented, so whatever links it needs the sanitizer runtimes too.
  list(APPEND configure_args
    "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined"
    "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined")
endif()
run_step("configure the consumer" "${CMAKE_COMMAND}" ${configure_args})

# A copy installed elsewhere (/usr/local) would otherwise pass unnoticed: the package found must be this one.
file(STRINGS "${CONSUMER_BINARY_DIR}/CMakeCache.txt" found_dir REGEX "^asynchat_DIR:")
string(REGEX REPLACE "^asynchat_DIR:[A-Z]+=" "" found_dir "${found_dir}")
file(REAL_PATH "${PREFIX}" real_prefix)
if(EXISTS "${found_dir}")
  file(REAL_PATH "${found_dir}" found_dir)
endif()
string(FIND "${found_dir}" "${real_prefix}/" at)
if(NOT at EQUAL 0)
  message(FATAL_ERROR "install_consumer: find_package(asynchat) used '${found_dir}', not the package in ${PREFIX}")
endif()

run_step("build the consumer" "${CMAKE_COMMAND}" --build "${CONSUMER_BINARY_DIR}" ${config_args})

if(MULTI_CONFIG)
  set(app "${CONSUMER_BINARY_DIR}/${CONFIG}/app")
else()
  set(app "${CONSUMER_BINARY_DIR}/app")
endif()
run_step("run the consumer" "${app}")
message(STATUS "install_consumer: the installed package builds and runs a consumer")
