// ctrack_ct_fill N [ZONE]: inserts N filler entries into the current namespace's conntrack table
// (for scripts/bench-status.py, run it under `ip netns exec`). Prints how many were accepted.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "testing/ct_filler.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: ctrack_ct_fill N [ZONE]\n");
    return 2;
  }
  uint64_t n = std::strtoull(argv[1], nullptr, 10);
  uint16_t zone = argc > 2 ? static_cast<uint16_t>(std::atoi(argv[2])) : 0;
  std::string err;
  uint64_t got = ctrack::testing::InsertFillers(n, zone, &err);
  std::printf("%llu\n", static_cast<unsigned long long>(got));
  if (got != n) {
    std::fprintf(stderr, "ctrack_ct_fill: %llu of %llu inserted: %s\n",
                 static_cast<unsigned long long>(got), static_cast<unsigned long long>(n),
                 err.c_str());
    return 1;
  }
  return 0;
}
