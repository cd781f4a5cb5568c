cmake_minimum_required(VERSION 3.25)
# Runs bench/run --quick on the epoll backend alone, then checks the CSV: the fixed header, at least one measured
# row, and no error anywhere. Called by CTest with PYTHON, RUNNER, ASYNCHAT, LOADGEN and OUT defined.
file(REMOVE "${OUT}")
execute_process(
  COMMAND "${PYTHON}" "${RUNNER}" --quick --duration 0.3 --warmup 0.1 --backends epoll --no-peers --no-build
          --asynchat "${ASYNCHAT}" --loadgen "${LOADGEN}" --out "${OUT}"
  RESULT_VARIABLE status
  TIMEOUT 50)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "bench/run exited with ${status}")
endif()
if(NOT EXISTS "${OUT}")
  message(FATAL_ERROR "bench/run wrote no ${OUT}")
endif()

file(STRINGS "${OUT}" lines)
list(LENGTH lines count)
if(count LESS 2)
  message(FATAL_ERROR "${OUT} has no data row")
endif()
list(GET lines 0 header)
set(expected "impl,backend,scenario,connections,idle,size,depth,msgs_per_s,mb_per_s,p50_us,p99_us,server_cpu_us_per_msg,errors,runs")
string(FIND "${header}" "${expected}" at)
if(NOT at EQUAL 0)
  message(FATAL_ERROR "unexpected header: ${header}")
endif()

# errors is column 12 and runs column 13 (from 0); only the last column (note) may hold free text.
list(REMOVE_AT lines 0)
set(measured 0)
foreach(line IN LISTS lines)
  string(REPLACE "," ";" fields "${line}")
  list(GET fields 12 errors)
  list(GET fields 13 runs)
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
message(STATUS "bench_quick_smoke: ${measured} cases measured, no errors")
