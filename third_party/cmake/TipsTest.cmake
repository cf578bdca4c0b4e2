# tips_add_test(NAME src.cpp LABELS unit|integration|gpu): one GoogleTest binary per test file.
include(GoogleTest)
function(tips_add_test name source)
  cmake_parse_arguments(T "" "" "LABELS" ${ARGN})
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  add_executable(${name} ${source})
  target_link_libraries(${name} PRIVATE tips GTest::gtest GTest::gtest_main)
  # Test bodies are thin drivers of libtips (built -O3); -O1 cuts their compile time, the CI's largest share,
  # and keeps the library's precompiled header valid (-O0 would not: GCC ties a PCH to __OPTIMIZE__).
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_BUILD_TYPE MATCHES "^(Release|RelWithDebInfo)$")
    target_compile_options(${name} PRIVATE -O1)
  endif()
  if(TIPS_PCH)
    target_precompile_headers(${name} REUSE_FROM tips)
  endif()
  target_compile_definitions(${name} PRIVATE TIPS_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                                             TIPS_BINARY_DIR="${PROJECT_BINARY_DIR}")
  gtest_discover_tests(${name} PROPERTIES LABELS "${T_LABELS}" DISCOVERY_TIMEOUT 120)
endfunction()
