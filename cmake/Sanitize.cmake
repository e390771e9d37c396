# DWCP_SANITIZE=address,undefined (any -fsanitize= list): builds every C/C++ target with those
# sanitizers. Meant for a build directory of its own (scripts/test-sanitize.sh: build-asan), where
# only the unit tier is built (target dwcp_unit_tests) and run (ctest -L '^unit$').
set(DWCP_SANITIZE "" CACHE STRING "Sanitizers for every C/C++ target, e.g. address,undefined (empty: none)")

if(DWCP_SANITIZE)
  # Any report fails the test: UBSan aborts instead of printing and going on. -g1 and the -O level
  # come after the build type's -O2 -g, so they win: line tables are enough for the reports' stacks.
  # -O0 compiles the unit tier in about 30 % less CPU than -O1 (CI's cold run pays it; the tests
  # take seconds either way); fuzzers want executions per second, so -O1 there.
  if(DWCP_BUILD_FUZZERS)
    set(dwcp_sanitize_opt -O1)
  else()
    set(dwcp_sanitize_opt -O0)
  endif()
  add_compile_options(-fsanitize=${DWCP_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer
                      ${dwcp_sanitize_opt} -g1)
  add_link_options(-fsanitize=${DWCP_SANITIZE})
  message(STATUS "Sanitizers: ${DWCP_SANITIZE}")
endif()

# DWCP_BUILD_FUZZERS: the libFuzzer targets (tests/fuzz, tests/top; aggregate target dwcp_fuzzers),
# in a clang build directory of their own (tests/fuzz/build.sh makes it, with DWCP_SANITIZE set).
# Every object gets libFuzzer's coverage instrumentation; only the fuzz targets link libFuzzer.
if(DWCP_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "DWCP_BUILD_FUZZERS needs clang (libFuzzer): tests/fuzz/build.sh configures such a build")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
