# Warnings on our own targets only; -Werror when CTRACK_WERROR is on (CI).
function(ctrack_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow)
  if(CTRACK_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

if(CTRACK_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(CTRACK_DCHECK_ON=1)
endif()

# ctrack_add_test(NAME SOURCES...): a GoogleTest binary registered with ctest.
function(ctrack_add_test name)
  add_executable(${name} ${ARGN})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE ctrack_tools ctrack_io ${CTRACK_HOST_LIB} ctrack GTest::gtest
                                        GTest::gtest_main)
  ctrack_set_warnings(${name})
  # A live test that times a sender on a fixed schedule against a forecast runs alone: under
  # ctest -j the other tests take the CPUs its sender and the exporter need, and the arrival rate
  # drifts from the schedule it checks against.
  set(serial "ExporterNetns.ForecastAtHalfFull*")
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 TEST_FILTER "-${serial}"
    PROPERTIES ENVIRONMENT "CTRACK_SHARED=${CTRACK_SHARED_DIR}")
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 TEST_FILTER "${serial}"
    PROPERTIES ENVIRONMENT "CTRACK_SHARED=${CTRACK_SHARED_DIR}" RUN_SERIAL TRUE)
endfunction()
