#include <cstdio>

#include "ctrack/commands.h"

namespace ctrack::cli {

int SimulateMain(int argc, char** argv) {
  (void)argc;
  (void)argv;
  std::fprintf(stderr, "ctrack simulate: not built yet\n");
  return 2;
}

}  // namespace ctrack::cli
