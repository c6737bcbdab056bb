# cmake -DCTRACK=bin -DHELP2MAN=help2man -DOUT=dir -DVERSION=x.y.z -P CtrackMan.cmake
# Writes OUT/ctrack.1 and OUT/ctrack-COMMAND.1 for every command listed by `ctrack --help` (lines
# "  NAME  description" after "Commands:", two spaces or more between).
file(MAKE_DIRECTORY ${OUT})
execute_process(COMMAND ${CTRACK} --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ctrack --help failed: ${rc}")
endif()
string(REPLACE ";" "," help "${help}")  # keep CMake's list separator out of the text
string(REGEX MATCHALL "\n  [a-z][a-z0-9-]*  +[^\n]*" lines "${help}")
set(commands)
foreach(line ${lines})
  string(REGEX REPLACE "^\n  ([a-z][a-z0-9-]*)  +(.*)$" "\\1" name "${line}")
  string(REGEX REPLACE "^\n  ([a-z][a-z0-9-]*)  +(.*)$" "\\2" what "${line}")
  list(APPEND commands ${name})
  set(what_${name} "${what}")
endforeach()
set(see_also "")
foreach(c ${commands})
  string(APPEND see_also ".BR ctrack-${c} (1),\n")
endforeach()
file(WRITE ${OUT}/see-also.h2m "[SEE ALSO]\n${see_also}.BR conntrack (8)\n")
execute_process(
  COMMAND ${HELP2MAN} --no-info --no-discard-stderr --section=1 --source=ctrack
          --version-string=${VERSION} --include=${OUT}/see-also.h2m
          --name=user-space\ Linux\ connection\ tracking --output=${OUT}/ctrack.1 ${CTRACK}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "help2man ctrack failed")
endif()
foreach(c ${commands})
  # help2man runs "PROGRAM OPTION"; a wrapper script makes `ctrack c` look like one program.
  set(wrapper ${OUT}/ctrack-${c})
  file(WRITE ${wrapper} "#!/bin/sh\nexec '${CTRACK}' ${c} \"$@\"\n")
  file(CHMOD ${wrapper} PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)
  execute_process(
    COMMAND ${HELP2MAN} --no-info --no-discard-stderr --section=1 --source=ctrack
            --version-string=${VERSION} "--name=${what_${c}}"
            --output=${OUT}/ctrack-${c}.1 ${wrapper}
    RESULT_VARIABLE rc)
  file(REMOVE ${wrapper})
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "help2man ctrack ${c} failed")
  endif()
endforeach()
