// ctrack: command-line front end. Each subcommand lives in its own file and is listed in
// kCommands; main() only dispatches.
#include <ctrack/version.h>

#include <cstdio>
#include <cstring>

#include "ctrack/commands.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int argc, char** argv);  // arguments after the subcommand name
  const char* help;
};

constexpr Command kCommands[] = {
    {"replay", ctrack::cli::ReplayMain,
     "replay captures through the tracker; print the table, counters, verdicts"},
    {"gen", ctrack::cli::GenMain, "write a synthetic capture"},
    {"simulate", ctrack::cli::SimulateMain,
     "what-if replay: occupancy, drops, who filled the table, sizing, policies"},
    {"bench", ctrack::cli::BenchMain, "measure tracking speed and memory"},
    {"soak", ctrack::cli::SoakMain, "flood a full table for a while and watch resident memory"},
    {"status", ctrack::cli::StatusMain,
     "the running kernel's table on one screen: fill, drops, who fills it, what to change"},
    {"snapshot", ctrack::cli::SnapshotMain,
     "save the running kernel's table and counters to a file for simulate"},
    {"watch", ctrack::cli::WatchMain, "live view of the kernel's table: rates, time to full, tops"},
    {"exporter", ctrack::cli::ExporterMain,
     "Prometheus/OpenMetrics exporter of the kernel's table"},
    {"exporter-bench", ctrack::cli::ExporterBenchMain,
     "scrape latency, RSS and abuse of the exporter on a namespace table"},
};

void Usage(std::FILE* f) {
  std::fprintf(
      f,
      "usage: ctrack COMMAND [ARGS...]\n"
      "A user-space Linux nf_conntrack (connection tracking) for packet captures, and a reader of\n"
      "the running kernel's table.\n"
      "Commands:\n");
  for (const Command& c : kCommands) std::fprintf(f, "  %-10s  %s\n", c.name, c.help);
  std::fprintf(f, "Run 'ctrack COMMAND --help' for the options of a command.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    Usage(stderr);
    return 2;
  }
  if (std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "--help") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    Usage(stdout);
    return 0;
  }
  if (std::strcmp(argv[1], "--version") == 0) {
    std::printf("ctrack %s\n", CTRACK_VERSION_STRING);
    return 0;
  }
  for (const Command& c : kCommands) {
    if (std::strcmp(argv[1], c.name) == 0) return c.run(argc - 2, argv + 2);
  }
  std::fprintf(stderr, "ctrack: unknown command '%s' (try 'ctrack --help')\n", argv[1]);
  return 2;
}
