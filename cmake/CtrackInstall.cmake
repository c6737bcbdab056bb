# Installation: the engine library and its public headers, a CMake package (find_package(ctrack
# CONFIG) gives ctrack::ctrack), a pkg-config file, the `ctrack` binary, its man pages and a bash
# completion. examples/embed/ is built against the installed tree by scripts/embed_check.sh (CI).
#
# Only the engine is installed as a library: it depends on the C++ standard library and threads
# and nothing else (tests/unit/engine_deps_test checks its archive). The I/O, tools and host layers
# are the CLI's own and have no public headers.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The version header, from project(VERSION ...). Written only when its text changes, so that a
# re-configure does not rebuild what includes it.
configure_file(${PROJECT_SOURCE_DIR}/cmake/version.h.in
               ${CMAKE_BINARY_DIR}/include/ctrack/version.h @ONLY)
target_include_directories(ctrack PUBLIC $<BUILD_INTERFACE:${CMAKE_BINARY_DIR}/include>)

install(TARGETS ctrack EXPORT ctrackTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/ctrack
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")
install(FILES ${CMAKE_BINARY_DIR}/include/ctrack/version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ctrack)

set(CTRACK_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/ctrack)
install(EXPORT ctrackTargets NAMESPACE ctrack:: DESTINATION ${CTRACK_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/ctrackConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/ctrackConfig.cmake
                              INSTALL_DESTINATION ${CTRACK_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/ctrackConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/ctrackConfig.cmake ${CMAKE_BINARY_DIR}/ctrackConfigVersion.cmake
        DESTINATION ${CTRACK_CMAKE_DIR})

file(RELATIVE_PATH CTRACK_PC_TO_PREFIX /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
configure_file(${PROJECT_SOURCE_DIR}/cmake/ctrack.pc.in ${CMAKE_BINARY_DIR}/ctrack.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/ctrack.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

install(TARGETS ctrack_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/scripts/ctrack-completion.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME ctrack)
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR})

# Man pages: ctrack(1) and ctrack-COMMAND(1) for every command `ctrack --help` lists, generated
# from the binary's own --help by help2man (Debian package help2man), so they cannot drift from
# the code. Built by the `man` target, which `all` includes when help2man is present.
find_program(HELP2MAN help2man)
if(HELP2MAN)
  set(CTRACK_MAN_DIR ${CMAKE_BINARY_DIR}/man)
  add_custom_command(
    OUTPUT ${CTRACK_MAN_DIR}/ctrack.1
    COMMAND ${CMAKE_COMMAND} -DCTRACK=$<TARGET_FILE:ctrack_cli> -DHELP2MAN=${HELP2MAN}
            -DOUT=${CTRACK_MAN_DIR} -DVERSION=${PROJECT_VERSION}
            -P ${PROJECT_SOURCE_DIR}/cmake/CtrackMan.cmake
    DEPENDS ctrack_cli ${PROJECT_SOURCE_DIR}/cmake/CtrackMan.cmake
    COMMENT "Generating man pages with help2man")
  add_custom_target(man ALL DEPENDS ${CTRACK_MAN_DIR}/ctrack.1)
  install(DIRECTORY ${CTRACK_MAN_DIR}/ DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
          FILES_MATCHING PATTERN "*.1")
else()
  message(STATUS "help2man not found: no man pages (scripts/deps.sh installs it)")
endif()
