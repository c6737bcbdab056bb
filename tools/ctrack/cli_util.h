// Pieces shared by the CLI's subcommands.
#ifndef CTRACK_TOOLS_CLI_UTIL_H_
#define CTRACK_TOOLS_CLI_UTIL_H_

#include <ctrack/packet.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ctrack::cli {

// Packet times from a kernel-ct verdicts.tsv (column t_replay): one entry per row, nullopt for
// '-' (the packet takes the previous packet's time). Returns "" or a one-line error naming the
// file (and line).
std::string LoadReplayTimes(const std::string& path, std::vector<std::optional<Timestamp>>* out);

// "packets, rate, elapsed" on one rewritten stderr line, at most every 300 ms; only when `on`
// (callers pass "stderr is a terminal and not --quiet"). Tick reads the clock: per-packet
// callers call it every few thousand packets.
class Progress {
 public:
  Progress(const char* command, bool on);
  void Tick(uint64_t packets, const char* what = nullptr);
  void Note(const char* what);
  // Clears the line.
  void Done();
  // Leaves a last count on the line.
  void Done(uint64_t packets);

 private:
  using Clock = std::chrono::steady_clock;
  void Print(uint64_t packets, const char* what);
  const char* command_;
  bool on_;
  bool printed_ = false;
  Clock::time_point start_, last_;
};

// The value of flag argv[*i] (advancing *i), for the command named `command` ("ctrack watch").
// A missing value, or a number outside [lo, hi], ends the process with one line and exit 2.
const char* FlagValue(const char* command, int argc, char** argv, int* i);
double FlagNumber(const char* command, int argc, char** argv, int* i, double lo, double hi);

}  // namespace ctrack::cli

#endif  // CTRACK_TOOLS_CLI_UTIL_H_
