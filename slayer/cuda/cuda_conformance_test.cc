// The CUDA backend against the shared conformance table (slayer/ops/
// conformance.h): every case runs on the GPU and on the CPU, forward and
// backward, and every output must be within the case's atol + rtol*|cpu|.
// The registration checks need no GPU (registration is static), so they are
// real checks on every machine: each op in ops::RegisteredOpNames() must
// have a CUDA implementation. Without a device the numeric cases skip with
// the runtime's reason.
#include <cctype>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "slayer/cuda/test_util.h"
#include "slayer/ops/conformance.h"
#include "slayer/ops/conv.h"
#include "slayer/ops/delay.h"
#include "slayer/ops/dense.h"
#include "slayer/ops/dispatch.h"
#include "slayer/ops/dropout.h"
#include "slayer/ops/loss.h"
#include "slayer/ops/pool.h"
#include "slayer/ops/psp.h"
#include "slayer/ops/spike.h"

namespace slayer {
namespace cuda {
namespace {

namespace conformance = ops::conformance;

// Every dispatcher this backend knows, by registry name: whether a CUDA
// function is registered. An op added to slayer/ops without a line here
// fails EveryRegisteredOpHasACudaImplementation.
std::map<std::string, bool> CudaRegistrations() {
  std::map<std::string, bool> known;
  auto add = [&](const auto& dispatch) { known[dispatch.name()] = dispatch.Has(Device::kCuda); };
  add(ops::PspForwardDispatch());
  add(ops::PspBackwardDispatch());
  add(ops::SpikeForwardDispatch());
  add(ops::SpikeBackwardDispatch());
  add(ops::DenseForwardDispatch());
  add(ops::DenseBackwardDispatch());
  add(ops::Conv2dForwardDispatch());
  add(ops::Conv2dBackwardDispatch());
  add(ops::PoolForwardDispatch());
  add(ops::PoolBackwardDispatch());
  add(ops::DelayForwardDispatch());
  add(ops::DelayBackwardDispatch());
  add(ops::ShiftForwardDispatch());
  add(ops::ShiftBackwardDispatch());
  add(ops::ClampDelaysDispatch());
  add(ops::DropoutForwardDispatch());
  add(ops::DropoutBackwardDispatch());
  add(ops::SpikeTimeLossDispatch());
  add(ops::NumSpikesLossDispatch());
  add(ops::SpikeRateLossDispatch());
  return known;
}

TEST(CudaRegistration, EveryRegisteredOpHasACudaImplementation) {
  const std::map<std::string, bool> known = CudaRegistrations();
  const std::vector<std::string>& names = ops::RegisteredOpNames();
  ASSERT_FALSE(names.empty()) << "no op is registered: are the op libraries linked?";
  for (const std::string& name : names) {
    auto it = known.find(name);
    if (it == known.end()) {
      ADD_FAILURE() << "op '" << name << "' is registered but slayer/cuda does not know it: "
                    << "implement it for CUDA, register it, and list its dispatcher in "
                    << "CudaRegistrations()";
      continue;
    }
    EXPECT_TRUE(it->second) << "op '" << name << "' has no CUDA implementation registered";
  }
}

TEST(CudaRegistration, EveryRegisteredOpHasAConformanceCase) {
  const std::vector<std::string> missing = conformance::OpsWithoutCase();
  for (const std::string& name : missing) ADD_FAILURE() << "op '" << name << "' has no case";
}

std::vector<std::string> CaseNames() {
  std::vector<std::string> names;
  for (const conformance::ConformanceCase& c : conformance::ConformanceCases()) {
    names.push_back(c.name);
  }
  return names;
}

class CudaConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaConformance, MatchesCpu) {
  SLAYER_SKIP_WITHOUT_CUDA();
  const conformance::ConformanceCase* c = conformance::FindCase(GetParam());
  ASSERT_NE(c, nullptr) << GetParam();
  const absl::Status s = conformance::CompareWithCpu(*c, Device::kCuda);
  EXPECT_TRUE(s.ok()) << c->name << " (" << ShapeString(c->shape) << "): " << s;
}

INSTANTIATE_TEST_SUITE_P(Cases, CudaConformance, ::testing::ValuesIn(CaseNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace cuda
}  // namespace slayer
