#include "slayer/ops/loss.h"

#include <algorithm>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "slayer/ops/psp.h"
#include "slayer/ops/srm_kernel.h"
#include "slayer/ops/status_testing.h"
#include "slayer/ops/test_util.h"

namespace slayer {
namespace ops {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<float> Values(const Tensor& t) { return {t.span().begin(), t.span().end()}; }

TEST(SpikeTimeLossTest, HandComputed) {
  // eps = {0, 1}: psp delays by one step; Ts 1.
  Tensor s = Tensor::FromVector({1, 1, 1, 1, 3}, {1, 0, 0});
  Tensor target = Tensor::Zeros({1, 1, 1, 1, 3});
  float loss = -1;
  Tensor grad;
  SLAYER_ASSERT_OK(SpikeTimeLoss(s, target, {0.0f, 1.0f}, 1.0f, &loss, &grad));
  // e = [0, 1, 0], E = 1/2 * 1 * 1.
  EXPECT_FLOAT_EQ(loss, 0.5f);
  // dE/ds[t] = Ts * sum_k eps[k] * Ts * e[t+k] = e[t+1].
  EXPECT_THAT(Values(grad), ElementsAre(1, 0, 0));
}

TEST(SpikeTimeLossTest, GradientMatchesFiniteDifferencesAndSumsTheBatch) {
  const float ts = 0.5f;
  const std::vector<float> eps = AlphaKernel(2.0f, 1.0f, ts, 0.01f, 40);
  Tensor s = testing::RandomSpikes({3, 4, 1, 1, 40}, 0.1f, ts, 1);
  Tensor target = testing::RandomSpikes(s.shape(), 0.1f, ts, 2);
  float loss;
  Tensor grad;
  SLAYER_ASSERT_OK(SpikeTimeLoss(s, target, eps, ts, &loss, &grad));
  testing::GradientCheckOptions options;
  options.step = 0.5;  // quadratic: central differences are exact
  options.atol = 2e-3;
  SLAYER_EXPECT_OK(testing::CheckGradient(
      "spike_time wrt spikes", s,
      [&](const Tensor& v) -> absl::StatusOr<double> {
        float l;
        SLAYER_RETURN_IF_ERROR(SpikeTimeLoss(v, target, eps, ts, &l, nullptr));
        return l;
      },
      grad, options));
  double per_sample = 0.0;
  for (int64_t n = 0; n < 3; ++n) {
    float l;
    SLAYER_ASSERT_OK(SpikeTimeLoss(s.Slice(n, n + 1), target.Slice(n, n + 1), eps, ts, &l,
                                   nullptr));
    per_sample += l;
  }
  EXPECT_NEAR(loss, per_sample, 1e-5 * per_sample);
}

TEST(NumSpikesLossTest, HandComputed) {
  // T 4, R = [1, 3), eps = {0, 1}, Ts 1, label 0, true count 1, false 0.
  Tensor s = Tensor::FromVector({1, 2, 1, 1, 4}, {0, 1, 1, 0, 1, 0, 0, 1});
  CountTarget region;
  region.start_step = 1;
  region.stop_step = 3;
  region.true_value = 1;
  region.false_value = 0;
  const std::vector<int> labels = {0};
  float loss;
  Tensor grad;
  SLAYER_ASSERT_OK(NumSpikesLoss(s, labels, region, {0.0f, 1.0f}, 1.0f, &loss, &grad));
  // Neuron 0: count 2 vs 1 -> e_c = 0.5 in R, no spikes outside R:
  //   e = [0, .5, .5, 0], E = 0.25.
  // Neuron 1: count 0 vs 0, spikes outside R at t = 0, 3 -> e = psp = [0, 1, 0, 0]
  //   (t = 3's response falls outside T), E = 0.5.
  EXPECT_FLOAT_EQ(loss, 0.75f);
  // grad[t] = e[t+1].
  EXPECT_THAT(Values(grad), ElementsAre(0.5f, 0.5f, 0, 0, 1, 0, 0, 0));
}

TEST(NumSpikesLossTest, GradientMatchesFiniteDifferencesWithDetachedTargets) {
  const float ts = 1.0f;
  const std::vector<float> eps = AlphaKernel(3.0f, 1.0f, ts, 0.01f, 50);
  Tensor s = testing::RandomSpikes({2, 3, 1, 1, 50}, 0.2f, ts, 1);
  CountTarget region;
  region.start_step = 10;
  region.stop_step = 40;
  region.true_value = 8;
  region.false_value = 2;
  const std::vector<int> labels = {2, 0};
  float loss;
  Tensor grad;
  SLAYER_ASSERT_OK(NumSpikesLoss(s, labels, region, eps, ts, &loss, &grad));
  // The loss with s_des = s0 * 1_R and the count error of s0 frozen, as
  // SLAYER detaches them: E(s) = 1/2 Ts sum (psp(s - s_des) + e_c 1_R)^2.
  const int64_t steps = 50, width = 30;
  Tensor s_des = Tensor::Zeros(s.shape());
  std::vector<double> count_error(6);
  for (int64_t r = 0; r < 6; ++r) {
    double count = 0;
    for (int64_t t = region.start_step; t < region.stop_step; ++t) {
      s_des.data()[r * steps + t] = s.data()[r * steps + t];
      count += ts * s.data()[r * steps + t];
    }
    const double desired = (r % 3 == labels[r / 3]) ? region.true_value : region.false_value;
    count_error[r] = (count - desired) / width;
  }
  auto frozen = [&](const Tensor& v) -> absl::StatusOr<double> {
    Tensor diff = v.Clone();
    for (int64_t i = 0; i < diff.numel(); ++i) diff.data()[i] -= s_des.data()[i];
    Tensor e;
    SLAYER_RETURN_IF_ERROR(PspForward(diff, eps, ts, &e));
    double total = 0;
    for (int64_t r = 0; r < 6; ++r)
      for (int64_t t = 0; t < steps; ++t) {
        const bool inside = t >= region.start_step && t < region.stop_step;
        const double et = e.data()[r * steps + t] + (inside ? count_error[r] : 0.0);
        total += 0.5 * ts * et * et;
      }
    return total;
  };
  absl::StatusOr<double> at_s0 = frozen(s);
  SLAYER_ASSERT_OK(at_s0);
  EXPECT_NEAR(loss, *at_s0, 1e-5 * *at_s0);
  testing::GradientCheckOptions options;
  options.step = 0.5;
  options.atol = 2e-3;
  SLAYER_EXPECT_OK(testing::CheckGradient("num_spikes wrt spikes", s, frozen, grad, options));
}

TEST(NumSpikesLossTest, EachRowAsIfAlone) {
  // Rows go through the filter eight at a time: a sample's loss and
  // gradient are the same, bit for bit, in a batch (its rows in other
  // blocks) as alone; for num_spikes and spike_time.
  const float ts = 1.0f;
  const std::vector<float> eps = AlphaKernel(3.0f, 1.0f, ts, 0.01f, 80);
  Tensor s = testing::RandomSpikes({3, 10, 1, 1, 80}, 0.1f, ts, 4);
  CountTarget region;
  region.start_step = 5;
  region.stop_step = 70;
  region.true_value = 12;
  region.false_value = 3;
  const std::vector<int> labels = {7, 0, 3};
  float loss = 0;
  Tensor grad;
  SLAYER_ASSERT_OK(NumSpikesLoss(s, labels, region, eps, ts, &loss, &grad));
  // Sample n of a [3, 10, 1, 1, 80] tensor, alone.
  const auto sample = [](const Tensor& t, int64_t n) {
    Tensor one = Tensor::Zeros({1, 10, 1, 1, 80});
    std::copy(t.data() + n * 800, t.data() + (n + 1) * 800, one.data());
    return one;
  };
  // Each sample alone (`alone` gives its loss and gradient) against the
  // batch's loss and gradient.
  const auto expect_as_alone = [&](const char* what, const auto& alone) {
    double sum = 0;
    for (int64_t n = 0; n < 3; ++n) {
      float one_loss = 0;
      Tensor one_grad;
      SLAYER_ASSERT_OK(alone(n, &one_loss, &one_grad));
      for (int64_t i = 0; i < 800; ++i) {
        ASSERT_EQ(one_grad.data()[i], grad.data()[n * 800 + i])
            << what << ", sample " << n << " [" << i << "]";
      }
      sum += one_loss;
    }
    EXPECT_NEAR(loss, sum, 1e-6 * sum) << what;
  };
  expect_as_alone("num spikes", [&](int64_t n, float* one_loss, Tensor* one_grad) {
    return NumSpikesLoss(sample(s, n), std::vector<int>{labels[n]}, region, eps, ts, one_loss,
                         one_grad);
  });
  // The same for SpikeTimeLoss, against a target spike train.
  Tensor target = testing::RandomSpikes(s.shape(), 0.05f, ts, 5);
  SLAYER_ASSERT_OK(SpikeTimeLoss(s, target, eps, ts, &loss, &grad));
  expect_as_alone("spike time", [&](int64_t n, float* one_loss, Tensor* one_grad) {
    return SpikeTimeLoss(sample(s, n), sample(target, n), eps, ts, one_loss, one_grad);
  });
}

TEST(SpikeRateLossTest, HandComputedAndFiniteDifferences) {
  const float ts = 0.5f;
  // 4 steps, R = [0, 4): 2 spikes in 2 ms = 1 spike/ms; desired 0.5 (label 1).
  Tensor s = Tensor::FromVector({1, 2, 4}, {2, 0, 2, 0, 0, 0, 0, 0});
  CountTarget region;
  region.start_step = 0;
  region.stop_step = 4;
  region.true_value = 2.0f;
  region.false_value = 0.5f;
  const std::vector<int> labels = {1};
  float loss;
  Tensor grad;
  SLAYER_ASSERT_OK(SpikeRateLoss(s, labels, region, ts, &loss, &grad));
  // Neuron 0: (1 - 0.5)^2 / 2 = 0.125; neuron 1: (0 - 2)^2 / 2 = 2.
  EXPECT_FLOAT_EQ(loss, 2.125f);
  EXPECT_THAT(Values(grad), ElementsAre(0.125f, 0.125f, 0.125f, 0.125f, -0.5f, -0.5f, -0.5f,
                                        -0.5f));
  Tensor r = testing::RandomSpikes({3, 5, 30}, 0.3f, ts, 4);
  region.start_step = 5;
  region.stop_step = 25;
  const std::vector<int> labels3 = {4, 0, 2};
  SLAYER_ASSERT_OK(SpikeRateLoss(r, labels3, region, ts, &loss, &grad));
  testing::GradientCheckOptions options;
  options.step = 0.5;
  options.atol = 1e-4;
  SLAYER_EXPECT_OK(testing::CheckGradient(
      "spike_rate wrt spikes", r,
      [&](const Tensor& v) -> absl::StatusOr<double> {
        float l;
        SLAYER_RETURN_IF_ERROR(SpikeRateLoss(v, labels3, region, ts, &l, nullptr));
        return l;
      },
      grad, options));
}

TEST(ClassifierTest, CountsAndArgmaxWithTiesToLowestIndex) {
  const float ts = 0.5f;
  Tensor s = Tensor::Zeros({2, 3, 1, 1, 6});
  // Sample 0: neuron 1 spikes 3 times in R = [1, 5), neuron 2 twice, and
  // neuron 0 four times but only once inside R.
  for (int t : {1, 2, 4}) s.at({0, 1, 0, 0, t}) = 1 / ts;
  for (int t : {2, 3}) s.at({0, 2, 0, 0, t}) = 1 / ts;
  for (int t : {0, 1, 5}) s.at({0, 0, 0, 0, t}) = 1 / ts;
  // Sample 1: neurons 1 and 2 tie with one spike each.
  s.at({1, 1, 0, 0, 3}) = 1 / ts;
  s.at({1, 2, 0, 0, 1}) = 1 / ts;
  absl::StatusOr<Tensor> counts = SpikeCounts(s, 1, 5, ts);
  SLAYER_ASSERT_OK(counts);
  EXPECT_EQ(counts->shape(), Shape({2, 3}));
  EXPECT_THAT(Values(*counts), ElementsAre(1, 3, 2, 0, 1, 1));
  EXPECT_THAT(PredictClasses(*counts), ElementsAre(1, 1));
  EXPECT_THAT(PredictClasses(Tensor::Zeros({1, 4})), ElementsAre(0));
  std::vector<bool> tied;
  EXPECT_THAT(PredictClasses(*counts, &tied), ElementsAre(1, 1));
  EXPECT_THAT(tied, ElementsAre(false, true));
  // A tie below the maximum is no tie; one at the maximum after it is.
  Tensor rows = Tensor::Zeros({3, 4});
  const float values[] = {5, 5, 7, 1, 7, 5, 5, 1, 5, 7, 5, 7};
  std::copy(values, values + 12, rows.data());
  EXPECT_THAT(PredictClasses(rows, &tied), ElementsAre(2, 0, 1));
  EXPECT_THAT(tied, ElementsAre(false, false, true));
}

TEST(LossTest, BadArgumentsAreInvalidArgument) {
  Tensor s = Tensor::Zeros({2, 3, 1, 1, 10});
  float loss;
  Tensor grad;
  CountTarget region;
  region.start_step = 0;
  region.stop_step = 10;
  absl::Status st = NumSpikesLoss(s, std::vector<int>{0}, region, {}, 1.0f, &loss, &grad);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("1 labels for a batch of 2"));
  st = NumSpikesLoss(s, std::vector<int>{0, 3}, region, {}, 1.0f, &loss, &grad);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("labels[1] = 3, expected a class in [0, 3)"));
  region.stop_step = 11;
  st = SpikeRateLoss(s, std::vector<int>{0, 1}, region, 1.0f, &loss, &grad);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("target region [0, 11)"));
  st = SpikeTimeLoss(s, Tensor::Zeros({2, 3, 1, 1, 9}), {}, 1.0f, &loss, &grad);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("target (like spikes): expected shape"));
  st = SpikeTimeLoss(s, s, {}, 1.0f, nullptr, &grad);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SpikeCounts(s, 5, 5, 1.0f).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ops
}  // namespace slayer
