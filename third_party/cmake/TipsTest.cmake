# tips_add_test_binary(NAME LABELS unit|integration|gpu SOURCES a_test.cpp ...): one GoogleTest binary for a
# group of test files (compiled in unity batches when TIPS_UNITY is on); ctest gets one test per TEST().
# Every file of a group must stand alone (its helpers in an anonymous or its own named namespace, no
# file-scope `using namespace` that could make another file's names ambiguous): the batches concatenate them.
include(GoogleTest)
function(tips_add_test_binary name)
  cmake_parse_arguments(T "" "LABELS" "SOURCES" ${ARGN})
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE tips GTest::gtest GTest::gtest_main)
  if(TIPS_PCH)
    target_precompile_headers(${name} REUSE_FROM tips)
  endif()
  target_compile_definitions(${name} PRIVATE TIPS_SOURCE_DIR="${PROJECT_SOURCE_DIR}" TIPS_PYTHON="${TIPS_PYTHON}"
                                             TIPS_BINARY_DIR="${PROJECT_BINARY_DIR}")
  gtest_discover_tests(${name} PROPERTIES LABELS "${T_LABELS}" DISCOVERY_TIMEOUT 120)
endfunction()
