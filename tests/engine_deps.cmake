# cmake -DNM=nm -DLIB=libctrack.a -DLINKS=a,b -P engine_deps.cmake
# Fails when the archive LIB calls into a capture library, files, sockets, the console or the
# system clock (undefined symbols, read with nm), or when its link interface LINKS (comma-separated)
# holds anything but threads. The engine takes bytes and timestamps from its caller and nothing
# else (docs/style.md, "Packet parsing kept apart"; include/ctrack/conntrack.h).
execute_process(COMMAND ${NM} -u ${LIB} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nm -u ${LIB} failed")
endif()
set(forbidden
  "pcap_[a-z_]*"
  # C files, descriptors and sockets.
  "fopen(64)?" "fdopen" "freopen(64)?" "fread" "fwrite" "fgets" "fputs" "fprintf" "printf"
  "puts" "putchar" "perror" "open(64)?" "openat(64)?" "creat(64)?" "read" "write" "pread(64)?"
  "pwrite(64)?" "readv" "writev" "mmap(64)?" "ioctl" "socket" "connect" "bind" "listen"
  "accept4?" "recv(from|msg)?" "send(to|msg)?"
  # C++ streams: the console and files.
  "_ZSt4cout" "_ZSt4cerr" "_ZSt4clog" "_ZNSt[0-9]+basic_[io]?fstream.*" "_ZNSt[0-9]+basic_filebuf.*"
  "_ZNSt[0-9]+basic_[io]fstream.*"
  # Clocks: time is the caller's (every call carries its timestamp).
  "clock_gettime" "gettimeofday" "time" "_ZNSt6chrono3_V212(system|steady)_clock3nowEv")
string(REPLACE "\n" ";" lines "${out}")
set(bad)
foreach(line ${lines})
  string(REGEX REPLACE "^ *U +" "" sym "${line}")
  string(REGEX REPLACE "@.*$" "" sym "${sym}")
  foreach(f ${forbidden})
    if(sym MATCHES "^(${f})$")
      list(APPEND bad ${sym})
    endif()
  endforeach()
endforeach()
if(bad)
  list(REMOVE_DUPLICATES bad)
  message(FATAL_ERROR "${LIB} uses I/O or clocks: ${bad}")
endif()
string(REPLACE "," ";" links "${LINKS}")
foreach(l ${links})
  if(NOT l STREQUAL "Threads::Threads" AND NOT l STREQUAL "")
    message(FATAL_ERROR "${LIB} links ${l}; the engine may link only threads")
  endif()
endforeach()
message(STATUS "${LIB}: no I/O, no clock, links only threads")
