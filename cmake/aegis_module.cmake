include(GoogleTest)

# aegis_module(NAME <name> [DEPS <module>...] [EXTERNAL <target>...] [PRIVATE_EXTERNAL <target>...])
#
# Declares module <name> from the current directory:
#   include/aegis/<name>/*.hpp  the only headers other modules may see
#   src/*.cpp                   the implementation (private)
#   src/*_test.cpp              GoogleTest unit tests, built into aegis_<name>_tests and run by ctest
#   fuzz/<target>_fuzz.cpp      libFuzzer targets (fuzz preset), seeds in fuzz/<target>_seeds/
# DEPS names other Aegis modules; scripts/check-layering checks both these declarations and
# every #include against the dependency graph of docs/DESIGN (§3).
# Every public header also gets a generated translation unit that includes it alone, so a
# header that is not self-contained fails the build.

set(AEGIS_WARNING_FLAGS
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
    -Woverloaded-virtual -Wcast-qual -Wformat=2 -Wimplicit-fallthrough -Wundef)
if(AEGIS_WERROR)
  list(APPEND AEGIS_WARNING_FLAGS -Werror)
endif()

if(AEGIS_BUILD_FUZZERS)
  # Instrument everything for coverage; only the fuzz executables link libFuzzer's main.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

if(AEGIS_SANITIZERS)
  add_compile_options(-fsanitize=${AEGIS_SANITIZERS} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${AEGIS_SANITIZERS})
  if(AEGIS_SANITIZERS MATCHES "thread")
    # g++ 12 warns (-Wtsan) that ThreadSanitizer does not model the std::atomic_thread_fence Asio
    # places around handler invocation; the hand-off it orders already goes through the
    # scheduler's mutex, which TSan does see. Every unit that instantiates Asio (libs/net, the
    # CLI's HTTPS client, benchmarks) needs it, so it is set for the whole TSan build.
    add_compile_options(-Wno-tsan)
  endif()
endif()

function(aegis_module_enabled name out)
  if(AEGIS_MODULES STREQUAL "all" OR name IN_LIST AEGIS_MODULES)
    set(${out} TRUE PARENT_SCOPE)
  else()
    set(${out} FALSE PARENT_SCOPE)
  endif()
endfunction()

macro(aegis_add_module_dir dir)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/CMakeLists.txt)
    add_subdirectory(${dir})
  endif()
endmacro()

function(aegis_target_defaults target)
  target_compile_options(${target} PRIVATE ${AEGIS_WARNING_FLAGS})
  # OpenSSL 3 API only: anything deprecated is a compile error.
  target_compile_definitions(${target} PRIVATE OPENSSL_API_COMPAT=30000 OPENSSL_NO_DEPRECATED)
endfunction()

function(aegis_module)
  cmake_parse_arguments(M "" "NAME" "DEPS;EXTERNAL;PRIVATE_EXTERNAL;TEST_EXTERNAL" ${ARGN})
  aegis_module_enabled(${M_NAME} enabled)
  if(NOT enabled)
    return()
  endif()
  set(lib aegis_${M_NAME})
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/*.cpp)
  file(GLOB tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/*_test.cpp)
  file(GLOB_RECURSE headers CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/include/aegis/${M_NAME}/*.hpp)
  if(tests)
    list(REMOVE_ITEM sources ${tests})
  endif()

  # One TU per public header proves each header compiles on its own.
  set(header_tus "")
  foreach(h IN LISTS headers)
    file(RELATIVE_PATH rel ${CMAKE_CURRENT_SOURCE_DIR}/include ${h})
    string(MAKE_C_IDENTIFIER ${rel} id)
    set(tu ${CMAKE_CURRENT_BINARY_DIR}/header_check/${id}.cpp)
    file(CONFIGURE OUTPUT ${tu} CONTENT "#include <${rel}>\n")
    list(APPEND header_tus ${tu})
  endforeach()

  add_library(${lib} STATIC ${sources} ${header_tus})
  add_library(aegis::${M_NAME} ALIAS ${lib})
  target_include_directories(${lib} PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
                                     PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  aegis_target_defaults(${lib})
  foreach(dep IN LISTS M_DEPS)
    target_link_libraries(${lib} PUBLIC aegis_${dep})
  endforeach()
  target_link_libraries(${lib} PUBLIC ${M_EXTERNAL} PRIVATE ${M_PRIVATE_EXTERNAL})
  set_property(GLOBAL APPEND PROPERTY AEGIS_DECLARED_MODULES "${M_NAME}:${M_DEPS}")

  if(AEGIS_BUILD_TESTS AND tests)
    set(test_exe ${lib}_tests)
    add_executable(${test_exe} ${tests})
    aegis_target_defaults(${test_exe})
    target_include_directories(${test_exe} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
    target_link_libraries(${test_exe} PRIVATE ${lib} ${M_PRIVATE_EXTERNAL} ${M_TEST_EXTERNAL}
                                              GTest::gtest GTest::gmock GTest::gtest_main)
    target_compile_definitions(${test_exe} PRIVATE
      AEGIS_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
      AEGIS_SHARED_DIR="${PROJECT_SOURCE_DIR}/../shared")
    gtest_discover_tests(${test_exe} DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 60
                         PROPERTIES LABELS ${M_NAME})
  endif()

  if(AEGIS_BUILD_FUZZERS)
    file(GLOB fuzzers CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/*_fuzz.cpp)
    foreach(f IN LISTS fuzzers)
      get_filename_component(fname ${f} NAME_WE)
      add_executable(${fname} ${f})
      aegis_target_defaults(${fname})
      target_include_directories(${fname} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
      target_link_libraries(${fname} PRIVATE ${lib} ${M_PRIVATE_EXTERNAL})
      target_link_options(${fname} PRIVATE -fsanitize=fuzzer)
      set_property(GLOBAL APPEND PROPERTY AEGIS_FUZZERS
                   "${CMAKE_CURRENT_BINARY_DIR}/${fname}|${CMAKE_CURRENT_SOURCE_DIR}/fuzz/${fname}_seeds")
      set_target_properties(${fname} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/fuzzers)
    endforeach()
  endif()
endfunction()
