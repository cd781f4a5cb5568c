cmake_minimum_required(VERSION 3.25)
# Runs `bench/run http --quick` on the 1 KiB file and the epoll backend alone (nginx and Python's http.server
# beside it), then checks the CSV: the fixed header, at least one measured row (Python's http.server is always
# there), no error anywhere (wrk's socket errors, non-2xx responses, a body that differs from the file, a server
# that would not start or stop). Called by CTest with PYTHON, RUNNER, ASYNCHAT, WRK and OUT defined.
file(REMOVE "${OUT}")
execute_process(
  COMMAND "${PYTHON}" "${RUNNER}" http --quick --duration 1 --warmup 0 --sizes 1024 --backends epoll --no-build
          --asynchat "${ASYNCHAT}" --wrk "${WRK}" --out "${OUT}"
  RESULT_VARIABLE status
  TIMEOUT 50)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "bench/run http exited with ${status}")
endif()
if(NOT EXISTS "${OUT}")
  message(FATAL_ERROR "bench/run http wrote no ${OUT}")
endif()

file(STRINGS "${OUT}" lines)
list(LENGTH lines count)
if(count LESS 2)
  message(FATAL_ERROR "${OUT} has no data row")
endif()
list(GET lines 0 header)
set(expected "impl,backend,scenario,connections,size,requests_per_s,mb_per_s,p50_us,p99_us,")
string(APPEND expected "server_cpu_us_per_req,errors,runs")
string(FIND "${header}" "${expected}" at)
if(NOT at EQUAL 0)
  message(FATAL_ERROR "unexpected header: ${header}")
endif()

# errors is column 10 and runs column 11 (from 0); only the last column (note) may hold free text.
list(REMOVE_AT lines 0)
set(measured 0)
foreach(line IN LISTS lines)
  string(REPLACE "," ";" fields "${line}")
  list(GET fields 10 errors)
  list(GET fields 11 runs)
  if(NOT errors STREQUAL "0")
    message(FATAL_ERROR "a case counted errors: ${line}")
  endif()
  if(runs GREATER 0)
    math(EXPR measured "${measured} + 1")
  endif()
endforeach()
if(measured EQUAL 0)
  message(FATAL_ERROR "no case was measured: ${lines}")
endif()
message(STATUS "bench_http_quick_smoke: ${measured} servers measured, no errors")
