// `slayer`: train, evaluate and inspect spiking networks with SLAYER.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "tools/commands.h"

namespace {

struct Subcommand {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>&);
};

constexpr Subcommand kSubcommands[] = {
    {"train", "train a network (default: Fashion-MNIST MLP)", slayer::tools::RunTrainCommand},
    {"eval", "evaluate parameters on a data set", slayer::tools::RunEvalCommand},
    {"inspect", "one sample forward and backward, everything to .npz",
     slayer::tools::RunInspectCommand},
    {"events", "summarise or convert an event file", slayer::tools::RunEventsCommand},
    {"bench", "forward and training throughput on synthetic input",
     slayer::tools::RunBenchCommand},
    {"devices", "list CUDA devices", slayer::tools::RunDevicesCommand},
};

void PrintUsage(FILE* out) {
  std::fprintf(out,
               "usage: slayer <command> [flags]\n\n"
               "SLAYER spiking neural networks: Spike Layer Error Reassignment in Time.\n\n"
               "commands:\n");
  for (const Subcommand& c : kSubcommands) std::fprintf(out, "  %-9s %s\n", c.name, c.summary);
  std::fprintf(out, "\nrun 'slayer <command> --help' for a command's flags\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(stderr);
    return 2;
  }
  const std::string command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    PrintUsage(stdout);
    return 0;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  for (const Subcommand& c : kSubcommands) {
    if (command == c.name) return c.run(args);
  }
  std::fprintf(stderr, "slayer: unknown command '%s'\n\n", command.c_str());
  PrintUsage(stderr);
  return 2;
}
