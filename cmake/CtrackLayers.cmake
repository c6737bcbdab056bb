# The build's layers (see the top-level CMakeLists.txt). A layer's sources can include the private
# headers of the folders it owns and of the folders it is allowed to see, and nothing else: its
# include root holds links to exactly those folders.

# ctrack_layer_includes(TARGET ROOT DIR...): gives TARGET the private include root
# ${CMAKE_BINARY_DIR}/layers/ROOT with a link to src/DIR for each DIR, so "DIR/x.h" resolves for
# the listed folders only. An entry naming one header ("parse/bytes.h") links that header alone.
function(ctrack_layer_includes target root)
  set(dir ${CMAKE_BINARY_DIR}/layers/${root})
  file(MAKE_DIRECTORY ${dir})
  foreach(sub ${ARGN})
    if(sub MATCHES "/")
      get_filename_component(parent ${dir}/${sub} DIRECTORY)
      file(MAKE_DIRECTORY ${parent})
    endif()
    if(EXISTS ${PROJECT_SOURCE_DIR}/src/${sub} AND NOT EXISTS ${dir}/${sub})
      file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/${sub} ${dir}/${sub} SYMBOLIC)
    endif()
  endforeach()
  target_include_directories(${target} PRIVATE ${dir})
endfunction()

# ctrack_layer(NAME DIRS dir... [SEES dir...]): a static library of the sources in src/<DIRS>,
# with the public API and the private headers of DIRS and SEES on its include path.
function(ctrack_layer name)
  cmake_parse_arguments(L "" "" "DIRS;SEES" ${ARGN})
  set(sources)
  foreach(sub ${L_DIRS})
    file(GLOB_RECURSE s CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${sub}/*.cc)
    list(APPEND sources ${s})
  endforeach()
  add_library(${name} STATIC ${sources})
  target_include_directories(${name} PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
                                            $<INSTALL_INTERFACE:include>)
  ctrack_layer_includes(${name} ${name} ${L_DIRS} ${L_SEES})
  ctrack_set_warnings(${name})
endfunction()
