#include "ctrack/cli_util.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string_view>

namespace ctrack::cli {

std::string LoadReplayTimes(const std::string& path, std::vector<std::optional<Timestamp>>* out) {
  std::ifstream in(path);
  if (!in) return path + ": " + std::strerror(errno);
  std::string line;
  int col = -1;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::vector<std::string_view> cells;
    std::string_view rest(line);
    while (true) {
      size_t tab = rest.find('\t');
      cells.push_back(rest.substr(0, tab));
      if (tab == std::string_view::npos) break;
      rest.remove_prefix(tab + 1);
    }
    if (!line.empty() && line[0] == '#') {
      for (size_t i = 0; i < cells.size(); ++i) {
        if (cells[i] == "t_replay") col = static_cast<int>(i);
      }
      continue;
    }
    if (col < 0) return path + ": no header line with a t_replay column";
    if (static_cast<size_t>(col) >= cells.size()) {
      return path + ":" + std::to_string(lineno) + ": missing t_replay column";
    }
    std::string_view cell = cells[col];
    if (cell == "-") {
      out->push_back(std::nullopt);
      continue;
    }
    double secs = 0;
    auto [p, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), secs);
    if (ec != std::errc() || p != cell.data() + cell.size() || !(secs >= 0)) {
      return path + ":" + std::to_string(lineno) + ": bad t_replay '" + std::string(cell) + "'";
    }
    out->push_back(static_cast<Timestamp>(std::llround(secs * 1e9)));
  }
  if (col < 0) return path + ": no header line with a t_replay column";
  return "";
}

Progress::Progress(const char* command, bool on)
    : command_(command), on_(on), start_(Clock::now()), last_(start_) {}

void Progress::Tick(uint64_t packets, const char* what) {
  if (!on_) return;
  auto now = Clock::now();
  if (now - last_ < std::chrono::milliseconds(300)) return;
  last_ = now;
  Print(packets, what);
}

void Progress::Print(uint64_t packets, const char* what) {
  double s = std::chrono::duration<double>(Clock::now() - start_).count();
  std::fprintf(stderr, "\r%s: %s%s%llu packets, %.0f packets/s, %.1f s\033[K", command_,
               what ? what : "", what ? " " : "", static_cast<unsigned long long>(packets),
               s > 0 ? static_cast<double>(packets) / s : 0.0, s);
  printed_ = true;
}

void Progress::Note(const char* what) {
  if (!on_) return;
  double s = std::chrono::duration<double>(Clock::now() - start_).count();
  std::fprintf(stderr, "\r%s: %s, %.1f s\033[K", command_, what, s);
  printed_ = true;
}

void Progress::Done() {
  if (on_ && printed_) std::fputs("\r\033[K", stderr);
}

void Progress::Done(uint64_t packets) {
  if (!on_ || !printed_) return;
  Print(packets, nullptr);
  std::fputc('\n', stderr);
}

const char* FlagValue(const char* command, int argc, char** argv, int* i) {
  if (*i + 1 >= argc) {
    std::fprintf(stderr, "%s: %s needs a value\n", command, argv[*i]);
    std::exit(2);
  }
  return argv[++*i];
}

double FlagNumber(const char* command, int argc, char** argv, int* i, double lo, double hi) {
  const char* name = argv[*i];
  const char* v = FlagValue(command, argc, argv, i);
  char* end = nullptr;
  double d = std::strtod(v, &end);
  if (!*v || *end || !std::isfinite(d) || d < lo || d > hi) {
    std::fprintf(stderr, "%s: %s: '%s' is not a number in [%g, %g]\n", command, name, v, lo, hi);
    std::exit(2);
  }
  return d;
}

}  // namespace ctrack::cli
