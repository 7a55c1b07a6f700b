#include "slayer/ops/dispatch.h"

namespace slayer {
namespace ops {

std::vector<std::string>& RegisteredOpNames() {
  static auto* names = new std::vector<std::string>();
  return *names;
}

absl::Status CheckSameDevice(Device device,
                             std::initializer_list<std::pair<const char*, const Tensor*>> tensors) {
  for (const auto& [name, t] : tensors) {
    if (t != nullptr && !t->empty() && t->device() != device) {
      return absl::InvalidArgumentError(absl::StrCat(name, " is on ", DeviceName(t->device()),
                                                     ", expected ", DeviceName(device)));
    }
  }
  return absl::OkStatus();
}

}  // namespace ops
}  // namespace slayer
