# Compile flags shared by every quotaflow target, and the helpers that register libraries,
# tests and benchmarks so that each layer's CMakeLists.txt stays a few lines long.

add_library(quotaflow_flags INTERFACE)
target_compile_options(quotaflow_flags INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                       -Wnon-virtual-dtor -Wimplicit-fallthrough)
if(QUOTAFLOW_WERROR)
  target_compile_options(quotaflow_flags INTERFACE -Werror)
endif()
if(QUOTAFLOW_SANITIZE)
  target_compile_options(quotaflow_flags INTERFACE -fsanitize=${QUOTAFLOW_SANITIZE}
                         -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(quotaflow_flags INTERFACE -fsanitize=${QUOTAFLOW_SANITIZE})
endif()

# quotaflow_library(NAME SOURCES ... [DEPS ...]): one static library per layer, seeing the public
# headers in include/ and the private ones under src/.
function(quotaflow_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC quotaflow_flags ${ARG_DEPS})
endfunction()

# quotaflow_test(NAME SOURCES ... [DEPS ...] [LABELS ...]): a gtest binary registered with ctest.
# Label `concurrency` marks the tests that CI also runs under ThreadSanitizer; label `throughput`
# marks assertions on speed, which run only in the Release job, never under sanitizers.
function(quotaflow_test name)
  if(NOT QUOTAFLOW_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  # Where tests find tests/*.py helpers, and ../shared when QUOTAFLOW_SHARED is unset (a binary run
  # by hand); see src/aws/testdata.h.
  target_compile_definitions(${name} PRIVATE QUOTAFLOW_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  set(properties ENVIRONMENT "QUOTAFLOW_SHARED=${PROJECT_SOURCE_DIR}/../shared")
  if(ARG_LABELS)  # an empty LABELS value would swallow the next property name
    list(APPEND properties LABELS "${ARG_LABELS}")
  endif()
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST PROPERTIES ${properties})
endfunction()

# quotaflow_benchmark(NAME SOURCES ... [DEPS ...]): a Google Benchmark binary in bench/.
function(quotaflow_benchmark name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} benchmark::benchmark)
endfunction()
