// The subcommands of the `slayer` tool. Each takes the arguments after its
// name and returns the process exit code (0 ok, 1 runtime failure such as bad
// input data, 2 usage error).
#ifndef SLAYER_TOOLS_COMMANDS_H_
#define SLAYER_TOOLS_COMMANDS_H_

#include <string>
#include <vector>

namespace slayer {
namespace tools {

int RunTrainCommand(const std::vector<std::string>& args);
int RunEvalCommand(const std::vector<std::string>& args);
int RunInspectCommand(const std::vector<std::string>& args);
int RunEventsCommand(const std::vector<std::string>& args);
int RunBenchCommand(const std::vector<std::string>& args);
int RunDevicesCommand(const std::vector<std::string>& args);

}  // namespace tools
}  // namespace slayer

#endif  // SLAYER_TOOLS_COMMANDS_H_
