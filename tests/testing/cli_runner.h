// Running the ctrack binary from tests: a scratch directory, the binary's path, one call.
#ifndef CTRACK_TESTING_CLI_RUNNER_H_
#define CTRACK_TESTING_CLI_RUNNER_H_

#include <filesystem>
#include <string>

namespace ctrack::testing {

// A per-process scratch directory (created once).
std::filesystem::path ScratchDir();
std::string ReadAll(const std::filesystem::path& p);
// Single-quotes `s` for /bin/sh.
std::string ShellQuote(const std::string& s);
// CTRACK_BIN, else the `ctrack` binary of the build tree this test binary belongs to; empty when
// neither exists.
const std::string& CtrackBin();

struct RunResult {
  int status = -1;  // exit status, or -1 if it did not exit normally
  std::string out, err;
};
// Runs `ctrack ARGS` (ARGS already shell-quoted as needed) with no standard input.
RunResult RunCtrack(const std::string& args);

}  // namespace ctrack::testing

#endif  // CTRACK_TESTING_CLI_RUNNER_H_
