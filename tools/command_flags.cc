#include "tools/command_flags.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace slayer {
namespace tools {

CommandFlags::CommandFlags(std::string command, std::string usage, std::string summary)
    : command_(std::move(command)), usage_(std::move(usage)), summary_(std::move(summary)) {}

void CommandFlags::String(const std::string& name, std::string* value, const std::string& help) {
  flags_.push_back({name, Kind::kString, value, help, *value});
}
void CommandFlags::Int(const std::string& name, int64_t* value, const std::string& help) {
  flags_.push_back({name, Kind::kInt, value, help, absl::StrCat(*value)});
}
void CommandFlags::Double(const std::string& name, double* value, const std::string& help) {
  flags_.push_back({name, Kind::kDouble, value, help, absl::StrCat(*value)});
}
void CommandFlags::Bool(const std::string& name, bool* value, const std::string& help) {
  flags_.push_back({name, Kind::kBool, value, help, *value ? "true" : "false"});
}

CommandFlags::Flag* CommandFlags::Find(const std::string& name) {
  for (Flag& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

bool CommandFlags::was_set(const std::string& name) const {
  for (const Flag& f : flags_) {
    if (f.name == name) return f.set;
  }
  return false;
}

bool CommandFlags::Assign(Flag* flag, const std::string& text, std::string* error) {
  switch (flag->kind) {
    case Kind::kString:
      *static_cast<std::string*>(flag->value) = text;
      return true;
    case Kind::kInt: {
      int64_t v;
      if (!absl::SimpleAtoi(text, &v)) {
        *error = absl::StrCat("--", flag->name, " expects an integer, got '", text, "'");
        return false;
      }
      *static_cast<int64_t*>(flag->value) = v;
      return true;
    }
    case Kind::kDouble: {
      double v;
      if (!absl::SimpleAtod(text, &v) || !std::isfinite(v)) {
        *error = absl::StrCat("--", flag->name, " expects a finite number, got '", text, "'");
        return false;
      }
      *static_cast<double*>(flag->value) = v;
      return true;
    }
    case Kind::kBool: {
      bool v;
      if (!absl::SimpleAtob(text, &v)) {
        *error = absl::StrCat("--", flag->name, " expects true or false, got '", text, "'");
        return false;
      }
      *static_cast<bool*>(flag->value) = v;
      return true;
    }
  }
  return false;
}

std::string CommandFlags::Usage() const {
  std::string out = absl::StrCat("usage: slayer ", command_, " ", usage_, "\n\n", summary_, "\n");
  if (!flags_.empty()) absl::StrAppend(&out, "\nflags:\n");
  for (const Flag& f : flags_) {
    std::string lhs = absl::StrCat("  --", f.name);
    if (f.kind != Kind::kBool) absl::StrAppend(&lhs, "=", f.kind == Kind::kString ? "S" : "N");
    absl::StrAppend(&out, absl::StrFormat("%-26s %s", lhs, f.help));
    if (!f.default_text.empty()) absl::StrAppend(&out, " (default: ", f.default_text, ")");
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppend(&out, "  --help                     show this help\n");
  return out;
}

int CommandFlags::Fail(const std::string& message) const {
  std::fprintf(stderr, "slayer %s: %s\nrun 'slayer %s --help' for usage\n", command_.c_str(),
               message.c_str(), command_.c_str());
  return 2;
}

bool CommandFlags::Parse(const std::vector<std::string>& args, int* exit_code) {
  *exit_code = 0;
  bool only_positional = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (only_positional || arg.size() < 2 || arg[0] != '-' || arg == "-") {
      positional_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positional = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      std::fputs(Usage().c_str(), stdout);
      return false;
    }
    std::string body = arg.substr(arg[1] == '-' ? 2 : 1);
    std::string name = body, value;
    bool has_value = false;
    if (size_t eq = body.find('='); eq != std::string::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    Flag* flag = Find(name);
    if (flag == nullptr && !has_value && name.rfind("no", 0) == 0) {
      Flag* negated = Find(name.substr(2));
      if (negated != nullptr && negated->kind == Kind::kBool) {
        *static_cast<bool*>(negated->value) = false;
        negated->set = true;
        continue;
      }
    }
    if (flag == nullptr) {
      *exit_code = Fail(absl::StrCat("unknown flag '--", name, "'"));
      return false;
    }
    if (!has_value) {
      if (flag->kind == Kind::kBool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        *exit_code = Fail(absl::StrCat("flag '--", name, "' needs a value"));
        return false;
      }
    }
    std::string error;
    if (!Assign(flag, value, &error)) {
      *exit_code = Fail(error);
      return false;
    }
    flag->set = true;
  }
  return true;
}

}  // namespace tools
}  // namespace slayer
