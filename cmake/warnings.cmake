# Compiler warnings for our own targets.
function(moe_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter
                                           -Wno-missing-field-initializers)
endfunction()

# moe_add_test(NAME SOURCES... LIBS... LABELS...)
function(moe_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE MOE_TEST_DATA_DIR="${MOE_TEST_DATA_DIR}"
                                             MOE_DEMO_MODEL_DIR="${MOE_DEMO_MODEL_DIR}"
                                             MOE_BINARY_DIR="${CMAKE_BINARY_DIR}")
  moe_set_warnings(${name})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  gtest_discover_tests(${name} PROPERTIES LABELS "${ARG_LABELS}" DISCOVERY_TIMEOUT 60)
endfunction()
