cmake_minimum_required(VERSION 3.25)
# Runs `bench/run tls --quick` on one backend (epoll): HTTPS keep-alive and one new connection per request under
# wrk beside nginx (when installed), and the 16 KiB echo over TLS beside the plaintext echo, each for a second. Then
# checks the CSV: the fixed header, at least one measured row per scenario, no error anywhere (wrk's socket errors,
# a wrong body, a session that was not the pinned TLS 1.3 suite, a session ticket, an echoed byte that differs),
# and that every measured TLS row names the pinned suite. It asserts no speed. Called by CTest with PYTHON,
# RUNNER, ASYNCHAT, LOADGEN, WRK and OUT defined.
file(REMOVE "${OUT}")
execute_process(
  COMMAND "${PYTHON}" "${RUNNER}" tls --quick --duration 1 --warmup 0 --backends epoll --no-build
          --asynchat "${ASYNCHAT}" --loadgen "${LOADGEN}" --wrk "${WRK}" --out "${OUT}"
  RESULT_VARIABLE status
  TIMEOUT 80)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "bench/run tls exited with ${status}")
endif()
if(NOT EXISTS "${OUT}")
  message(FATAL_ERROR "bench/run tls wrote no ${OUT}")
endif()

file(STRINGS "${OUT}" lines)
list(GET lines 0 header)
set(expected "impl,backend,scenario,connections,size,ops_per_s,mb_per_s,p50_us,p99_us,server_cpu_us_per_op,")
string(APPEND expected "errors,runs,ops_spread_pct,client_cpu_us_per_op,other_cpu_pct,tls,note")
if(NOT header STREQUAL expected)
  message(FATAL_ERROR "unexpected header: ${header}")
endif()

# Columns from 0: impl 0, scenario 2, errors 10, runs 11, tls 15; only the last column (note) may hold free text.
list(REMOVE_AT lines 0)
set(measured "")
foreach(line IN LISTS lines)
  string(REPLACE "," ";" fields "${line}")
  list(GET fields 0 impl)
  list(GET fields 2 scenario)
  list(GET fields 10 errors)
  list(GET fields 11 runs)
  list(GET fields 15 tls)
  if(NOT errors STREQUAL "0")
    message(FATAL_ERROR "a case counted errors: ${line}")
  endif()
  if(runs GREATER 0)
    list(APPEND measured "${scenario}")
    if(impl STREQUAL "asynchat-cpp-plaintext")
      if(NOT tls STREQUAL "plaintext")
        message(FATAL_ERROR "a plaintext row says it used TLS: ${line}")
      endif()
    elseif(NOT tls MATCHES "^TLSv1\\.3 TLS_AES_128_GCM_SHA256 ")
      message(FATAL_ERROR "a TLS row did not use the pinned suite: ${line}")
    endif()
  endif()
endforeach()
foreach(scenario IN ITEMS https https-close echo)
  list(FIND measured "${scenario}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "no measured row for ${scenario}: ${lines}")
  endif()
endforeach()
list(LENGTH measured count)
message(STATUS "bench_tls_quick_smoke: ${count} rows measured, no errors")
