#include "slayer/layers/network.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "slayer/core/thread_pool.h"
#include "slayer/ops/dense.h"
#include "slayer/ops/gemm.h"
#include "slayer/ops/loss.h"
#include "slayer/ops/psp.h"
#include "slayer/ops/spike.h"

namespace slayer {
namespace layers {
namespace {

config::NetworkSpec Spec(const std::string& text) {
  absl::StatusOr<proto::Network> net = config::ParseNetworkText(text, "test");
  EXPECT_TRUE(net.ok()) << net.status();
  absl::StatusOr<config::NetworkSpec> spec = config::BuildNetworkSpec(*net);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return *spec;
}

Tensor RandomSpikes(Shape shape, float density, uint64_t seed) {
  Rng rng(seed);
  Tensor t = Tensor::Zeros(shape);
  for (float& v : t.span()) v = rng.Uniform() < density ? 1.0f : 0.0f;
  return t;
}

TEST(NetworkTest, ParametersAreNamedAndInitialised) {
  auto net = Network::Create(Spec(R"pb(
    simulation { ts_ms: 1 sample_ms: 20 }
    arch: "8x8x2-4c3-2a-6"
  )pb"), 1);
  ASSERT_TRUE(net.ok()) << net.status();
  std::vector<Param*> ps = (*net)->params();
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_EQ(ps[0]->name, "conv1/weight");
  EXPECT_EQ(ps[0]->value.shape(), Shape({4, 2, 3, 3}));
  EXPECT_EQ(ps[1]->name, "fc1/weight");
  EXPECT_EQ(ps[1]->value.shape(), Shape({6, 4 * 3 * 3}));
  // uniform in ±weight_scale/sqrt(fan_in)
  const float conv_bound = 100.0f / std::sqrt(18.0f), fc_bound = 10.0f / 6.0f;
  float conv_max = 0, fc_max = 0;
  for (float v : ps[0]->value.span()) conv_max = std::max(conv_max, std::fabs(v));
  for (float v : ps[1]->value.span()) fc_max = std::max(fc_max, std::fabs(v));
  EXPECT_LE(conv_max, conv_bound);
  EXPECT_GT(conv_max, 0.7f * conv_bound);
  EXPECT_LE(fc_max, fc_bound);
  EXPECT_GT(fc_max, 0.7f * fc_bound);
  // Same seed, same parameters.
  auto again = Network::Create((*net)->spec(), 1);
  EXPECT_EQ((*again)->params()[1]->value.data()[5], ps[1]->value.data()[5]);
}

TEST(NetworkTest, ForwardShapesAndInputCheck) {
  auto net = Network::Create(Spec(R"pb(
    simulation { ts_ms: 1 sample_ms: 30 }
    arch: "6x6x2-3c3-2a-5"
  )pb"), 2);
  ASSERT_TRUE(net.ok());
  Tensor x = RandomSpikes({3, 2, 6, 6, 30}, 0.2f, 1);
  ASSERT_TRUE((*net)->Forward(x, true).ok());
  EXPECT_EQ((*net)->output().shape(), Shape({3, 5, 1, 1, 30}));
  for (const auto& layer : (*net)->layers()) EXPECT_NE(layer->potential(), nullptr);
  absl::Status bad = (*net)->Forward(Tensor::Zeros({3, 2, 6, 6, 29}), true);
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("[N,2,6,6,30]"), std::string::npos) << bad.message();
}

// With spiking disabled the network is linear in every weight, so the
// backward pass must match finite differences of L = <g, output>.
TEST(NetworkTest, LinearChainGradientMatchesFiniteDifferences) {
  auto net = Network::Create(Spec(R"pb(
    simulation { ts_ms: 1 sample_ms: 12 }
    neuron { srm { tau_sr_ms: 2 } }
    input_shape: [ 2, 5, 5 ]
    layer { conv { filters: 3 kernel: 3 padding: 1 weight_scale: 1 } spiking: false }
    layer { pool { kernel: 2 } spiking: false }
    layer { dense { units: 4 weight_scale: 1 } spiking: false }
  )pb"), 3);
  ASSERT_TRUE(net.ok()) << net.status();
  Network& n = **net;
  Tensor x = RandomSpikes({2, 2, 5, 5, 12}, 0.3f, 2);
  ASSERT_TRUE(n.Forward(x, true).ok());
  Rng rng(4);
  Tensor g = Tensor::Zeros(n.output().shape());
  for (float& v : g.span()) v = rng.Uniform(-1, 1);
  ASSERT_TRUE(n.Backward(g).ok());
  auto loss = [&]() {
    EXPECT_TRUE(n.Forward(x, true).ok());
    double l = 0;
    for (int64_t i = 0; i < g.numel(); ++i) l += double(g.data()[i]) * n.output().data()[i];
    return l;
  };
  for (Param* p : n.params()) {
    Tensor analytic = p->grad.Clone();
    for (int64_t i = 0; i < p->value.numel(); i += std::max<int64_t>(1, p->value.numel() / 7)) {
      float old = p->value.data()[i];
      const float h = 1e-2f;
      p->value.data()[i] = old + h;
      double lp = loss();
      p->value.data()[i] = old - h;
      double lm = loss();
      p->value.data()[i] = old;
      double fd = (lp - lm) / (2 * h);
      EXPECT_NEAR(analytic.data()[i], fd, 1e-2 + 1e-2 * std::fabs(fd)) << p->name << "[" << i << "]";
    }
  }
}

TEST(NetworkTest, SpikingChainLearnsTheTargetCounts) {
  // A sanity check of the composed surrogate gradient: plain gradient
  // descent on the num_spikes loss halves it.
  auto net = Network::Create(Spec(R"pb(
    simulation { ts_ms: 1 sample_ms: 50 }
    arch: "20-10-2"
  )pb"), 5);
  ASSERT_TRUE(net.ok());
  Network& n = **net;
  Tensor x = RandomSpikes({4, 20, 1, 1, 50}, 0.1f, 3);
  std::vector<int> labels = {0, 1, 0, 1};
  ops::CountTarget region;
  region.start_step = 0;
  region.stop_step = 50;
  region.true_value = 20;
  region.false_value = 3;
  auto eval = [&](Tensor* grad) {
    EXPECT_TRUE(n.Forward(x, true).ok());
    float loss = 0;
    Tensor local;
    EXPECT_TRUE(ops::NumSpikesLoss(n.output(), labels, region, n.kernels().eps, n.ts(), &loss,
                                   grad ? grad : &local)
                    .ok());
    return loss;
  };
  Tensor grad;
  const float before = eval(nullptr);
  for (int it = 0; it < 40; ++it) {
    eval(&grad);
    ASSERT_TRUE(n.Backward(grad).ok());
    for (Param* p : n.params()) {
      for (int64_t i = 0; i < p->value.numel(); ++i) p->value.data()[i] -= 0.005f * p->grad.data()[i];
    }
  }
  const float after = eval(nullptr);
  EXPECT_LT(after, 0.5f * before);
}

TEST(NetworkTest, InputEventsGiveTheSameStepAsScanning) {
  // A loader's events of the input (0/1, scaled inside by 1/Ts: Ts 1 and
  // 0.5) reach the first dense layer: outputs and gradients are those of
  // scanning the input. A first layer that is not dense takes none.
  for (const char* ts : {"1", "0.5"}) {
    const config::NetworkSpec spec = Spec(absl::StrCat(
        "simulation { ts_ms: ", ts, " sample_ms: 30 } arch: \"4x3x2-16-5\""));
    auto a = Network::Create(spec, 3);
    auto b = Network::Create(spec, 3);
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_TRUE((*a)->TakesInputEvents());
    const int64_t steps = spec.steps;
    Tensor x = RandomSpikes({3, 2, 4, 3, steps}, 0.05f, 9);
    std::vector<ops::SampleEvents> events(3);
    for (int64_t n = 0; n < 3; ++n) {
      ops::RecordSampleEvents(x.data() + n * 24 * steps, 24, steps, &events[n]);
    }
    for (int step = 0; step < 2; ++step) {  // twice: the hand-over is taken each time
      ASSERT_TRUE((*a)->Forward(x, true, 0, events).ok());
      ASSERT_TRUE((*b)->Forward(x, true).ok());
      const Tensor& ya = (*a)->output();
      const Tensor& yb = (*b)->output();
      ASSERT_EQ(ya.shape(), yb.shape());
      for (int64_t i = 0; i < ya.numel(); ++i) ASSERT_EQ(ya.data()[i], yb.data()[i]) << ts;
      Tensor grad = RandomSpikes(ya.shape(), 0.5f, 10 + step);
      ASSERT_TRUE((*a)->Backward(grad).ok());
      ASSERT_TRUE((*b)->Backward(grad).ok());
      for (size_t p = 0; p < (*a)->params().size(); ++p) {
        const Tensor& ga = (*a)->params()[p]->grad;
        const Tensor& gb = (*b)->params()[p]->grad;
        for (int64_t i = 0; i < ga.numel(); ++i) ASSERT_EQ(ga.data()[i], gb.data()[i]) << ts;
      }
    }
    // The first layer's potentials, which its one pass leaves as panels,
    // are the ops' u as rows when asked for.
    const Tensor* u = (*a)->layers()[0]->potential();
    ASSERT_NE(u, nullptr);
    ops::DenseNeuron neuron;
    neuron.eps = (*a)->kernels().eps;
    neuron.nu = (*a)->kernels().nu;
    neuron.theta = spec.srm.theta();
    neuron.ts = (*a)->ts();
    Tensor scaled = x.Clone();
    for (float& v : scaled.span()) v /= (*a)->ts();
    Tensor u_ops, s_ops, scratch;
    ASSERT_TRUE(ops::cpu::DenseSpikingForward(scaled, (*a)->params()[0]->value, neuron, &u_ops,
                                              &s_ops, nullptr, &scratch)
                    .ok());
    ASSERT_EQ(u->shape(), u_ops.shape());
    for (int64_t i = 0; i < u->numel(); ++i) ASSERT_EQ(u->data()[i], u_ops.data()[i]) << ts;
    // The first layer computes from the events it is given: those of
    // another input, handed with x, give that input's output.
    Tensor x2 = RandomSpikes(x.shape(), 0.05f, 19);
    std::vector<ops::SampleEvents> events2(3);
    for (int64_t n = 0; n < 3; ++n) {
      ops::RecordSampleEvents(x2.data() + n * 24 * steps, 24, steps, &events2[n]);
    }
    ASSERT_TRUE((*a)->Forward(x, false, 0, events2).ok());
    ASSERT_TRUE((*b)->Forward(x2, false).ok());
    const Tensor* ua = (*a)->layers()[0]->potential();
    const Tensor* ub = (*b)->layers()[0]->potential();
    ASSERT_TRUE(ua != nullptr && ub != nullptr);
    int64_t nonzero = 0;
    for (int64_t i = 0; i < ua->numel(); ++i) {
      ASSERT_EQ(ua->data()[i], ub->data()[i]) << ts;
      nonzero += ua->data()[i] != 0.0f;
    }
    ASSERT_GT(nonzero, 0);
    for (int64_t i = 0; i < (*a)->output().numel(); ++i) {
      ASSERT_EQ((*a)->output().data()[i], (*b)->output().data()[i]) << ts;
    }
    // Events for another batch size are an error naming them.
    absl::Status s = (*a)->Forward(x, true, 0, absl::MakeConstSpan(events).subspan(1));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(s.message()).find("input events"), std::string::npos) << s;
  }
  auto conv = Network::Create(Spec(R"pb(
    simulation { ts_ms: 1 sample_ms: 10 }
    arch: "6x6x1-2c3-4"
  )pb"), 1);
  ASSERT_TRUE(conv.ok());
  EXPECT_FALSE((*conv)->TakesInputEvents());
}

TEST(NetworkTest, HiddenSpikesAreWrittenWhenAskedFor) {
  // The hidden dense layers' one pass leaves their spikes as the next
  // layer's events; output() writes them: they are the three ops' spikes,
  // and asking for them (or not) between Forward and Backward changes
  // neither the output nor the gradients.
  const config::NetworkSpec spec =
      Spec(R"pb(simulation { ts_ms: 1 sample_ms: 80 } arch: "4x3x2-40-36-10")pb");
  auto a = Network::Create(spec, 6);
  auto b = Network::Create(spec, 6);
  ASSERT_TRUE(a.ok() && b.ok());
  Tensor x = RandomSpikes({3, 2, 4, 3, 80}, 0.05f, 16);
  ASSERT_TRUE((*a)->Forward(x, true).ok());
  ASSERT_TRUE((*b)->Forward(x, true).ok());
  ops::DenseNeuron neuron;
  neuron.eps = (*a)->kernels().eps;
  neuron.nu = (*a)->kernels().nu;
  neuron.theta = spec.srm.theta();
  neuron.ts = (*a)->ts();
  Tensor in = x, u, s, scratch;
  int64_t spikes = 0;
  for (int l = 0; l < 3; ++l) {
    ASSERT_TRUE(ops::DenseForward(in, (*a)->params()[l]->value, &scratch).ok());
    ASSERT_TRUE(ops::PspForward(scratch, neuron.eps, neuron.ts, &u).ok());
    ASSERT_TRUE(ops::SpikeForward(&u, neuron.nu, neuron.theta, neuron.ts, &s).ok());
    const Tensor& out = (*a)->layers()[l]->output();
    ASSERT_EQ(out.shape(), s.shape());
    for (int64_t i = 0; i < s.numel(); ++i) {
      ASSERT_EQ(out.data()[i], s.data()[i]) << "layer " << l << " [" << i << "]";
      if (l < 2) spikes += s.data()[i] != 0.0f;
    }
    in = s.Clone();
  }
  ASSERT_GT(spikes, 0) << "no hidden spikes: the case tests nothing";
  for (int64_t i = 0; i < (*a)->output().numel(); ++i) {
    ASSERT_EQ((*a)->output().data()[i], (*b)->output().data()[i]);
  }
  Tensor grad = RandomSpikes((*a)->output().shape(), 0.5f, 17);
  ASSERT_TRUE((*a)->Backward(grad).ok());
  ASSERT_TRUE((*b)->Backward(grad).ok());
  for (size_t p = 0; p < (*a)->params().size(); ++p) {
    const Tensor& ga = (*a)->params()[p]->grad;
    const Tensor& gb = (*b)->params()[p]->grad;
    for (int64_t i = 0; i < ga.numel(); ++i) {
      ASSERT_EQ(ga.data()[i], gb.data()[i]) << (*a)->params()[p]->name << " " << i;
    }
  }
}

TEST(NetworkTest, NetworkBackwardEqualsTheLayersOneAfterTheOther) {
  // Network::Backward lets a dense 10-output layer hand W^T grad_z to the
  // dense layer before it without storing the product, and dense layers
  // pass input gradients to dense layers before them as panels: the
  // gradients equal those of the layers' own Backward calls one after the
  // other (rows), with two layers (the factor only) and four (the factor,
  // then as panels through a plain dense layer to the first).
  // The fp32 GEMM (the AMX one's rounding is compared in the next test).
  ops::internal::SetAmxGemmEnabled(false);
  struct Restore {
    ~Restore() { ops::internal::SetAmxGemmEnabled(true); }
  } restore;
  for (const char* arch : {"4x3x2-64-10", "4x3x2-40-36-34-10"}) {
    SCOPED_TRACE(arch);
    const config::NetworkSpec spec =
        Spec(absl::StrCat("simulation { ts_ms: 1 sample_ms: 60 } arch: \"", arch, "\""));
    auto a = Network::Create(spec, 4);
    auto b = Network::Create(spec, 4);
    ASSERT_TRUE(a.ok() && b.ok());
    Tensor x = RandomSpikes({3, 2, 4, 3, 60}, 0.05f, 12);
    ASSERT_TRUE((*a)->Forward(x, true).ok());
    ASSERT_TRUE((*b)->Forward(x, true).ok());
    Tensor grad = RandomSpikes((*a)->output().shape(), 0.5f, 13);
    ASSERT_TRUE((*a)->Backward(grad).ok());
    const auto& layers = (*b)->layers();
    std::vector<Tensor> between(layers.size());
    const Tensor* g = &grad;
    for (size_t l = layers.size(); l-- > 0;) {
      ASSERT_TRUE(layers[l]->Backward(*g, l > 0 ? &between[l] : nullptr).ok());
      if (l > 0) {
        ASSERT_EQ(between[l].shape(), layers[l - 1]->output().shape());
      }
      g = &between[l];
    }
    for (size_t p = 0; p < (*a)->params().size(); ++p) {
      const Tensor& ga = (*a)->params()[p]->grad;
      const Tensor& gb = (*b)->params()[p]->grad;
      double largest = 0.0;
      for (int64_t i = 0; i < gb.numel(); ++i) {
        largest = std::max(largest, std::abs(double{gb.data()[i]}));
      }
      ASSERT_GT(largest, 0.0) << "no gradient: the case tests nothing";
      for (int64_t i = 0; i < ga.numel(); ++i) {
        ASSERT_NEAR(ga.data()[i], gb.data()[i], 1e-6 * largest)
            << (*a)->params()[p]->name << " " << i;
      }
    }
  }
}

TEST(NetworkTest, AmxInputGradientsStayWithinBf16x3OfFp32) {
  // Where the CPU has AMX, the input gradients passed as panels between
  // dense layers are multiplied in bf16x3 (ops/gemm.h): every parameter's
  // gradient stays within 1e-4 of its largest magnitude of the fp32
  // kernel's, and the first layer's differs from it (the tile path ran: on
  // 2 threads fc2 is wide enough, 8 panels, and its input sparse enough for
  // the one pass that hands fc1 the panels).
  if (!ops::internal::AmxGemmAvailable()) {
    GTEST_SKIP() << "no AMX-BF16 on this CPU or OS (or $SLAYER_GEMM=fp32/eigen): nothing to "
                    "compare";
  }
  struct Restore {
    ~Restore() { ops::internal::SetAmxGemmEnabled(true); }
  } restore;
  ThreadPool::SetDefaultThreads(2);
  if (ThreadPool::Default().num_threads() != 2) {
    GTEST_SKIP() << "SLAYER_THREADS fixes the thread count: the case needs 2 threads";
  }
  const config::NetworkSpec spec =
      Spec("simulation { ts_ms: 1 sample_ms: 60 } arch: \"10x10x2-256-256-10\"");
  std::vector<Tensor> grads[2];
  for (const bool amx : {false, true}) {
    ops::internal::SetAmxGemmEnabled(amx);
    auto net = Network::Create(spec, 4);
    ASSERT_TRUE(net.ok());
    Tensor x = RandomSpikes({3, 2, 10, 10, 60}, 0.01f, 12);
    ASSERT_TRUE((*net)->Forward(x, true).ok());
    // The num_spikes loss's gradient, as in training.
    ops::CountTarget region;
    region.start_step = 0;
    region.stop_step = 60;
    region.true_value = 12;
    region.false_value = 2;
    float loss = 0;
    Tensor grad;
    ASSERT_TRUE(ops::NumSpikesLoss((*net)->output(), {0, 3, 7}, region, (*net)->kernels().eps,
                                   (*net)->ts(), &loss, &grad)
                    .ok());
    ASSERT_TRUE((*net)->Backward(grad).ok());
    for (const Param* p : (*net)->params()) grads[amx].push_back(p->grad.Clone());
  }
  bool any_differs = false;
  for (size_t p = 0; p < grads[0].size(); ++p) {
    const Tensor& want = grads[0][p];
    const Tensor& got = grads[1][p];
    double largest = 0.0;
    for (float v : want.span()) largest = std::max(largest, std::abs(double{v}));
    if (p == 0) {
      ASSERT_GT(largest, 0.0) << "no gradient in fc1: the case tests nothing";
    }
    for (int64_t i = 0; i < want.numel(); ++i) {
      ASSERT_NEAR(got.data()[i], want.data()[i], 1e-4 * largest) << "parameter " << p << " " << i;
      any_differs = any_differs || got.data()[i] != want.data()[i];
    }
  }
  EXPECT_TRUE(any_differs) << "AMX on and off gave identical gradients: the tile path did not run";
}

TEST(NetworkTest, ExportImportRoundTripAndErrors) {
  config::NetworkSpec spec = Spec(R"pb(
    simulation { ts_ms: 1 sample_ms: 10 }
    input_shape: [ 4 ]
    layer { dense { units: 3 } }
    layer { delay { max_delay_ms: 5 init_max_ms: 3 } }
    layer { dense { units: 2 } }
  )pb");
  auto a = Network::Create(spec, 1);
  auto b = Network::Create(spec, 2);
  ASSERT_TRUE(a.ok() && b.ok());
  absl::StatusOr<NpzMap> exported = (*a)->ExportParams();
  ASSERT_TRUE(exported.ok());
  EXPECT_EQ(exported->size(), 3u);
  EXPECT_TRUE(exported->count("delay1/delay"));
  ASSERT_TRUE((*b)->ImportParams(*exported, "a.npz").ok());
  EXPECT_EQ((*b)->FindParam("fc2/weight")->value.data()[1],
            (*a)->FindParam("fc2/weight")->value.data()[1]);

  NpzMap missing = *exported;
  missing.erase("fc1/weight");
  absl::Status s = (*b)->ImportParams(missing, "p.npz");
  EXPECT_NE(s.message().find("fc1/weight"), std::string::npos);
  EXPECT_NE(s.message().find("p.npz"), std::string::npos);

  NpzMap wrong = *exported;
  wrong["fc1/weight"] = NpyArray::FromTensor(Tensor::Zeros({4, 3}));
  s = (*b)->ImportParams(wrong, "p.npz");
  EXPECT_NE(s.message().find("expected shape [3,4]"), std::string::npos) << s.message();

  NpzMap nan = *exported;
  Tensor w = Tensor::Zeros({3, 4});
  w.data()[2] = std::numeric_limits<float>::quiet_NaN();
  nan["fc1/weight"] = NpyArray::FromTensor(w);
  s = (*b)->ImportParams(nan, "p.npz");
  EXPECT_NE(s.message().find("non-finite"), std::string::npos) << s.message();

  NpzMap extra = *exported;
  extra["fc9/weight"] = NpyArray::FromTensor(Tensor::Zeros({1}));
  EXPECT_TRUE((*b)->ImportParams(extra, "p.npz").ok());
  EXPECT_FALSE((*b)->ImportParams(extra, "p.npz", /*strict=*/true).ok());
}

TEST(NetworkTest, DropoutIsIdentityInEvalAndSeededInTraining) {
  config::NetworkSpec spec = Spec(R"pb(
    simulation { ts_ms: 1 sample_ms: 20 }
    input_shape: [ 30 ]
    layer { dense { units: 40 } }
    layer { dropout { p: 0.5 } }
    layer { dense { units: 3 } }
  )pb");
  auto net = Network::Create(spec, 7);
  ASSERT_TRUE(net.ok());
  Network& n = **net;
  Tensor x = RandomSpikes({2, 30, 1, 1, 20}, 0.3f, 9);
  ASSERT_TRUE(n.Forward(x, false).ok());
  const Tensor& hidden = n.layers()[0]->output();
  const Tensor& dropped = n.layers()[1]->output();
  for (int64_t i = 0; i < hidden.numel(); ++i) EXPECT_EQ(hidden.data()[i], dropped.data()[i]);
  ASSERT_TRUE(n.Forward(x, true, /*step=*/3).ok());
  Tensor first = n.layers()[1]->output().Clone();
  ASSERT_TRUE(n.Forward(x, true, /*step=*/3).ok());
  for (int64_t i = 0; i < first.numel(); ++i) {
    ASSERT_EQ(first.data()[i], n.layers()[1]->output().data()[i]);
  }
}

}  // namespace
}  // namespace layers
}  // namespace slayer
