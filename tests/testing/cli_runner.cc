#include "testing/cli_runner.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace ctrack::testing {

namespace fs = std::filesystem;

fs::path ScratchDir() {
  static const fs::path dir = [] {
    std::string tmpl = (fs::temp_directory_path() / "ctrack_test_XXXXXX").string();
    char* d = mkdtemp(tmpl.data());
    return fs::path(d != nullptr ? d : "/tmp");
  }();
  return dir;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char ch : s) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return q + "'";
}

const std::string& CtrackBin() {
  static const std::string bin = [] {
    const char* env = std::getenv("CTRACK_BIN");
    if (env != nullptr && *env != '\0') return std::string(env);
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    fs::path guess = self.parent_path().parent_path() / "ctrack";
    return !ec && fs::exists(guess) ? guess.string() : std::string();
  }();
  return bin;
}

RunResult RunCtrack(const std::string& args) {
  fs::path out = ScratchDir() / "stdout", err = ScratchDir() / "stderr";
  std::string cmd = ShellQuote(CtrackBin()) + " " + args + " >" + ShellQuote(out.string()) + " 2>" +
                    ShellQuote(err.string()) + " </dev/null";
  int rc = std::system(cmd.c_str());
  RunResult r;
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = ReadAll(out);
  r.err = ReadAll(err);
  return r;
}

}  // namespace ctrack::testing
