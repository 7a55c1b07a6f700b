// The op conformance suite: one table of cases (op, shapes, seed, tolerance)
// that every device implementation must reproduce. A case builds seeded
// inputs on the host, runs its ops forward and backward on a device and
// returns every output on the host; a device conforms when each output is
// within atol + rtol*|cpu| of the CPU's. The CPU backward itself is checked
// against finite differences, and a test walks RegisteredOpNames() so that no
// registered op escapes the table (OpsWithoutCase()).
//
//   // e.g. in a CUDA test (tag it requires-gpu):
//   for (const ConformanceCase& c : ConformanceCases()) {
//     absl::Status s = CompareWithCpu(c, Device::kCuda);
//     EXPECT_TRUE(s.ok()) << c.name << ": " << s;
//   }
//   // or, to look at the numbers:
//   SLAYER_ASSIGN_OR_RETURN(Outputs gpu, RunConformance(*FindCase("psp/tau10_T300"),
//                                                       Device::kCuda));
#ifndef SLAYER_OPS_CONFORMANCE_H_
#define SLAYER_OPS_CONFORMANCE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "slayer/core/tensor.h"

namespace slayer {
namespace ops {
namespace conformance {

// |got - cpu| <= atol + rtol * |cpu|, element-wise.
struct Tolerance {
  double atol = 1e-5;
  double rtol = 1e-5;
};

// One output of a case run, on the host ("y", "grad_x", "loss", ...).
struct NamedTensor {
  std::string name;
  Tensor value;
};
using Outputs = std::vector<NamedTensor>;

struct ConformanceCase {
  std::string name;              // unique: "<family>/<variant>", e.g. "conv2d/stride2_pad1"
  std::vector<std::string> ops;  // the registered op names the case runs
  Shape shape;                   // the main input's shape (for messages)
  uint64_t seed = 1;             // inputs are drawn from it
  Tolerance tolerance;           // device against CPU
  // Runs every op of the case on `device` (inputs copied there) and returns
  // all outputs copied back to the host. Unimplemented when an op has no
  // implementation for the device.
  std::function<absl::StatusOr<Outputs>(Device)> run;
  // Checks the CPU backward against finite differences (or, for the spike
  // surrogate, against its formula in double); OK when there is nothing to
  // check (e.g. clamp_delays).
  std::function<absl::Status()> check_gradients;
};

// Every case, in a fixed order.
const std::vector<ConformanceCase>& ConformanceCases();
// The case called `name`, or null.
const ConformanceCase* FindCase(const std::string& name);

// Runs `c` on `device`.
absl::StatusOr<Outputs> RunConformance(const ConformanceCase& c, Device device);
// Runs `c` on `device` and on the CPU and compares every output within the
// case's tolerance; the error names the case, the output and the worst
// element.
absl::Status CompareWithCpu(const ConformanceCase& c, Device device);
// Compares two runs output by output (same names, shapes, values within tol).
absl::Status CompareOutputs(const Outputs& got, const Outputs& want, const Tolerance& tolerance,
                            const std::string& what);
// The CPU gradient checks of `c`.
absl::Status CheckCpuGradients(const ConformanceCase& c);

// Names in RegisteredOpNames() that no case runs (should be empty).
std::vector<std::string> OpsWithoutCase();

}  // namespace conformance
}  // namespace ops
}  // namespace slayer

#endif  // SLAYER_OPS_CONFORMANCE_H_
