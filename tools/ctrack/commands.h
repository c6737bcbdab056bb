// Subcommands of the ctrack CLI. Each takes the arguments after its name and returns the exit
// status.
#ifndef CTRACK_TOOLS_COMMANDS_H_
#define CTRACK_TOOLS_COMMANDS_H_

namespace ctrack::cli {

int GenMain(int argc, char** argv);
int ReplayMain(int argc, char** argv);
int BenchMain(int argc, char** argv);
int SimulateMain(int argc, char** argv);
int SoakMain(int argc, char** argv);
int StatusMain(int argc, char** argv);
int SnapshotMain(int argc, char** argv);
int WatchMain(int argc, char** argv);
int ExporterMain(int argc, char** argv);
int ExporterBenchMain(int argc, char** argv);

}  // namespace ctrack::cli

#endif  // CTRACK_TOOLS_COMMANDS_H_
