// Device dispatch for ops: one contract, one function per device. Each op
// defines a dispatcher with its CPU function; slayer/cuda registers the CUDA
// function of the same signature at static initialisation. Every dispatcher
// also enters a global registry, which the conformance test walks so that no
// op escapes it.
//
//   // psp.cc
//   OpDispatch<PspForwardFn>& PspForwardDispatch() {
//     static auto* d = new OpDispatch<PspForwardFn>("psp_forward", &cpu::PspForward);
//     return *d;
//   }
//   absl::Status PspForward(const Tensor& x, ...) {
//     return PspForwardDispatch()(x.device(), x, ...);
//   }
//   // slayer/cuda/psp.cu
//   static bool registered = (PspForwardDispatch().Register(Device::kCuda, &cuda::PspForward), true);
#ifndef SLAYER_OPS_DISPATCH_H_
#define SLAYER_OPS_DISPATCH_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "slayer/core/tensor.h"

namespace slayer {
namespace ops {

// Names of every dispatcher created so far (registration order).
std::vector<std::string>& RegisteredOpNames();

template <typename Signature>
class OpDispatch;

// Ops return absl::Status; `Fn` is a plain function pointer type.
template <typename... Args>
class OpDispatch<absl::Status (*)(Args...)> {
 public:
  using Fn = absl::Status (*)(Args...);
  OpDispatch(std::string name, Fn cpu) : name_(std::move(name)) {
    fns_[0] = cpu;
    RegisteredOpNames().push_back(name_);
  }
  void Register(Device device, Fn fn) { fns_[static_cast<int>(device)] = fn; }
  bool Has(Device device) const { return fns_[static_cast<int>(device)] != nullptr; }
  // The registered implementation, or null.
  Fn Lookup(Device device) const { return fns_[static_cast<int>(device)]; }
  const std::string& name() const { return name_; }

  absl::Status operator()(Device device, Args... args) const {
    Fn fn = fns_[static_cast<int>(device)];
    if (fn == nullptr) {
      return absl::UnimplementedError(absl::StrCat(
          "op '", name_, "' has no implementation for device '", DeviceName(device),
          "'", device == Device::kCuda ? " (is //slayer/cuda linked?)" : ""));
    }
    return fn(std::forward<Args>(args)...);
  }

 private:
  std::string name_;
  Fn fns_[2] = {nullptr, nullptr};
};

// Fails unless all tensors are on `device` (names them in the message).
absl::Status CheckSameDevice(Device device,
                             std::initializer_list<std::pair<const char*, const Tensor*>> tensors);

}  // namespace ops
}  // namespace slayer

#endif  // SLAYER_OPS_DISPATCH_H_
