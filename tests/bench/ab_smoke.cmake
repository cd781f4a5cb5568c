cmake_minimum_required(VERSION 3.25)
# Runs one round of `bench/run --ab` on one case (ping-pong, 10 connections, 64 B): our epoll backend as the
# subject, REFERENCE beside it. Checks the A/B CSV's header, that its one row rests on one round in which both ran
# (the --raw file has both runs), that both ratio columns hold a positive number, that the verdict plumbing says
# "met" against goals no ratio can miss (msgs/s >= 0x, CPU <= 1e9x), and that nothing counted an error. It asserts
# no speed. Called by CTest with PYTHON, RUNNER, ASYNCHAT, LOADGEN, BUILD_DIR, REFERENCE, OUT and RAW defined.
file(REMOVE "${OUT}" "${RAW}")
execute_process(
  COMMAND "${PYTHON}" "${RUNNER}" --ab "asynchat-cpp/epoll,${REFERENCE}" --quick --runs 1 --duration 0.3
          --warmup 0.1 --scenarios pingpong --connections 10 --sizes 64 --goal-msgs 0 --goal-cpu 1e9 --no-build
          --build-dir "${BUILD_DIR}" --asynchat "${ASYNCHAT}" --loadgen "${LOADGEN}" --out "${OUT}" --raw "${RAW}"
  RESULT_VARIABLE status
  OUTPUT_VARIABLE table
  TIMEOUT 50)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "bench/run --ab exited with ${status}")
endif()
foreach(file IN ITEMS "${OUT}" "${RAW}")
  if(NOT EXISTS "${file}")
    message(FATAL_ERROR "bench/run --ab wrote no ${file}")
  endif()
endforeach()

file(STRINGS "${OUT}" lines)
list(LENGTH lines count)
if(NOT count EQUAL 2)
  message(FATAL_ERROR "${OUT}: expected the header and one row, got ${count} lines")
endif()
list(GET lines 0 header)
set(expected "subject,reference,scenario,connections,idle,size,depth,rounds,subject_msgs_per_s,")
string(APPEND expected "reference_msgs_per_s,msgs_ratio,msgs_ratio_min,msgs_ratio_q1,msgs_ratio_q3,msgs_ratio_max,")
string(APPEND expected "subject_cpu_us_per_msg,reference_cpu_us_per_msg,cpu_ratio,cpu_ratio_min,cpu_ratio_q1,")
string(APPEND expected "cpu_ratio_q3,cpu_ratio_max,errors,other_cpu_pct_max,goal_msgs_ratio,goal_cpu_ratio,verdict,")
string(APPEND expected "note")
if(NOT header STREQUAL expected)
  message(FATAL_ERROR "unexpected header: ${header}")
endif()

# Columns from 0: rounds 7, msgs_ratio 10, cpu_ratio 17, errors 22, verdict 26; only the last (note) is free text.
list(GET lines 1 row)
string(REPLACE "," ";" fields "${row}")
list(GET fields 0 subject)
list(GET fields 1 reference)
list(GET fields 7 rounds)
list(GET fields 10 msgs_ratio)
list(GET fields 17 cpu_ratio)
list(GET fields 22 errors)
list(GET fields 26 verdict)
if(NOT subject STREQUAL "asynchat-cpp/epoll" OR NOT reference MATCHES "^${REFERENCE}(/|$)")
  message(FATAL_ERROR "the row is not asynchat-cpp/epoll against ${REFERENCE}: ${row}")
endif()
if(NOT rounds STREQUAL "1" OR NOT errors STREQUAL "0")
  message(FATAL_ERROR "expected 1 round and 0 errors: ${row}")
endif()
foreach(ratio IN ITEMS "${msgs_ratio}" "${cpu_ratio}")
  if(NOT ratio MATCHES "^[0-9]+\\.[0-9]+$" OR ratio STREQUAL "0.000")
    message(FATAL_ERROR "a ratio column holds no positive number: ${row}")
  endif()
endforeach()
if(NOT verdict STREQUAL "met")
  message(FATAL_ERROR "the verdict against goals no ratio can miss is not 'met': ${row}")
endif()

file(STRINGS "${RAW}" runs)
list(LENGTH runs count)
if(NOT count EQUAL 3)
  message(FATAL_ERROR "${RAW}: expected the header and the round's two runs, got ${count} lines")
endif()
string(FIND "${table}" "| ping-pong, 10 conns, 64 B |" at)
if(at EQUAL -1)
  message(FATAL_ERROR "no table row for the case on stdout:\n${table}")
endif()
message(STATUS "bench_ab_smoke: asynchat-cpp/epoll / ${REFERENCE} msgs/s ${msgs_ratio}, CPU ${cpu_ratio}")
