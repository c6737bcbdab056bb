#include <cstdio>

#include "ctrack/commands.h"

namespace ctrack::cli {

int SoakMain(int argc, char** argv) {
  (void)argc;
  (void)argv;
  std::fprintf(stderr, "ctrack soak: not built yet\n");
  return 2;
}

}  // namespace ctrack::cli
