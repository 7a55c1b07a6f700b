// Runs the conformance table on the CPU: every case twice (the CPU must be
// deterministic), every CPU backward against finite differences, and checks
// that every registered op has a case. Device tests (slayer/cuda) run the
// same table against their device.
#include "slayer/ops/conformance.h"

#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "slayer/ops/dispatch.h"
#include "slayer/ops/status_testing.h"

namespace slayer {
namespace ops {
namespace conformance {
namespace {

std::vector<std::string> CaseNames() {
  std::vector<std::string> names;
  for (const ConformanceCase& c : ConformanceCases()) names.push_back(c.name);
  return names;
}

class ConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  const ConformanceCase& Case() const { return *FindCase(GetParam()); }
};

TEST_P(ConformanceTest, CpuIsDeterministic) { SLAYER_EXPECT_OK(CompareWithCpu(Case(), Device::kCpu)); }

TEST_P(ConformanceTest, CpuBackwardMatchesFiniteDifferences) {
  SLAYER_EXPECT_OK(CheckCpuGradients(Case()));
}

TEST_P(ConformanceTest, OutputsAreFinite) {
  absl::StatusOr<Outputs> outputs = RunConformance(Case(), Device::kCpu);
  SLAYER_ASSERT_OK(outputs);
  ASSERT_FALSE(outputs->empty());
  for (const NamedTensor& t : *outputs) {
    for (float v : t.value.span()) ASSERT_TRUE(std::isfinite(v)) << t.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, ConformanceTest, ::testing::ValuesIn(CaseNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

TEST(ConformanceRegistryTest, EveryRegisteredOpHasACase) {
  EXPECT_THAT(OpsWithoutCase(), ::testing::IsEmpty())
      << "add a case to slayer/ops/conformance.cc for each op listed";
  // And the registry is complete: the ops of the SLAYER contracts are all there.
  EXPECT_GE(RegisteredOpNames().size(), 20u);
}

TEST(ConformanceRegistryTest, CasesNameRegisteredOpsAndAreUnique) {
  const std::set<std::string> registered(RegisteredOpNames().begin(), RegisteredOpNames().end());
  std::set<std::string> names;
  for (const ConformanceCase& c : ConformanceCases()) {
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate case " << c.name;
    EXPECT_FALSE(c.ops.empty()) << c.name;
    for (const std::string& op : c.ops) {
      EXPECT_EQ(registered.count(op), 1u) << c.name << " names unregistered op " << op;
    }
  }
}

TEST(ConformanceRegistryTest, MissingDeviceIsUnimplementedNotACrash) {
  // This binary links no CUDA backend: the first copy to the device fails
  // with a clear error instead of running anything.
  const ConformanceCase* c = FindCase("psp/tau10_T300");
  ASSERT_NE(c, nullptr);
  if (GetDeviceBackend(Device::kCuda) != nullptr) GTEST_SKIP() << "a CUDA backend is linked";
  absl::Status s = CompareWithCpu(*c, Device::kCuda);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("psp/tau10_T300 on cuda"));
}

TEST(ConformanceRegistryTest, ComparisonCatchesADifference) {
  Outputs a = {{"y", Tensor::FromVector({2}, {1.0f, 2.0f})}};
  Outputs b = {{"y", Tensor::FromVector({2}, {1.0f, 2.1f})}};
  absl::Status s = CompareOutputs(a, b, Tolerance{1e-3, 1e-3}, "test");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("worst at flat index 1"));
  SLAYER_EXPECT_OK(CompareOutputs(a, a, Tolerance{0, 0}, "same"));
}

}  // namespace
}  // namespace conformance
}  // namespace ops
}  // namespace slayer
