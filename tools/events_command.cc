#include <cstdio>

#include "tools/command_flags.h"
#include "tools/commands.h"

namespace slayer {
namespace tools {

int RunEventsCommand(const std::vector<std::string>& args) {
  CommandFlags flags("events", "[flags]", "Not implemented yet.");
  int exit_code;
  if (!flags.Parse(args, &exit_code)) return exit_code;
  std::fprintf(stderr, "slayer events: not implemented yet\n");
  return 2;
}

}  // namespace tools
}  // namespace slayer
