// A small per-subcommand flag parser for the `slayer` tool (Abseil flags are
// process-global, which does not suit one binary with many subcommands).
//
//   CommandFlags flags("events", "FILE [--format F] [--to OUT.npy]",
//                      "Summarises or converts an event file.");
//   std::string format = "auto", to;
//   flags.String("format", &format, "auto|bs1|bs2|bs3|aedat|npy");
//   flags.String("to", &to, "write an N x 4 int64 .npy of (x, y, p, t_us)");
//   int exit_code;
//   if (!flags.Parse(args, &exit_code)) return exit_code;   // --help or error
//   const std::vector<std::string>& files = flags.positional();
#ifndef SLAYER_TOOLS_COMMAND_FLAGS_H_
#define SLAYER_TOOLS_COMMAND_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace slayer {
namespace tools {

class CommandFlags {
 public:
  CommandFlags(std::string command, std::string usage, std::string summary);

  void String(const std::string& name, std::string* value, const std::string& help);
  void Int(const std::string& name, int64_t* value, const std::string& help);
  void Double(const std::string& name, double* value, const std::string& help);
  void Bool(const std::string& name, bool* value, const std::string& help);

  // Accepts --name=value, --name value, --flag / --noflag for bools and
  // positional arguments. On --help prints usage to stdout and sets exit 0;
  // on a bad flag prints a clear error to stderr and sets exit 2. Returns
  // true when the command should run.
  bool Parse(const std::vector<std::string>& args, int* exit_code);
  // Bad positional counts and the like: prints "slayer <cmd>: msg" + usage hint.
  int Fail(const std::string& message) const;

  const std::vector<std::string>& positional() const { return positional_; }
  bool was_set(const std::string& name) const;
  std::string Usage() const;

 private:
  enum class Kind { kString, kInt, kDouble, kBool };
  struct Flag {
    std::string name;
    Kind kind;
    void* value;
    std::string help;
    std::string default_text;
    bool set = false;
  };
  Flag* Find(const std::string& name);
  bool Assign(Flag* flag, const std::string& text, std::string* error);

  std::string command_, usage_, summary_;
  std::vector<Flag> flags_;
  std::vector<std::string> positional_;
};

}  // namespace tools
}  // namespace slayer

#endif  // SLAYER_TOOLS_COMMAND_FLAGS_H_
