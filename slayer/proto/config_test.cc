#include "slayer/proto/config.h"

#include <string>

#include "gtest/gtest.h"

namespace slayer {
namespace config {
namespace {

NetworkSpec MustBuild(const std::string& text) {
  absl::StatusOr<proto::Network> net = ParseNetworkText(text, "test.pbtxt");
  EXPECT_TRUE(net.ok()) << net.status();
  absl::StatusOr<NetworkSpec> spec = BuildNetworkSpec(*net);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *spec : NetworkSpec();
}

absl::Status BuildError(const std::string& text) {
  absl::StatusOr<proto::Network> net = ParseNetworkText(text, "test.pbtxt");
  if (!net.ok()) return net.status();
  return BuildNetworkSpec(*net).status();
}

void ExpectErrorMentions(const absl::Status& s, const std::string& what) {
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(what), absl::string_view::npos)
      << "message '" << s.message() << "' should mention '" << what << "'";
}

TEST(ConfigTest, SpecExampleParses) {
  NetworkSpec spec = MustBuild(R"pb(
    simulation { ts_ms: 1 sample_ms: 300 }
    neuron { srm { theta: 10 tau_sr_ms: 10 tau_ref_ms: 1 scale_ref: 2 tau_rho: 1 scale_rho: 1 } }
    arch: "34x34x2-500-500-10"
  )pb");
  EXPECT_EQ(spec.steps, 300);
  EXPECT_EQ(spec.input_shape, Shape({2, 34, 34}));
  ASSERT_EQ(spec.layers.size(), 3u);
  EXPECT_EQ(spec.layers[0].layer.name(), "fc1");
  EXPECT_EQ(spec.layers[2].layer.name(), "fc3");
  EXPECT_EQ(spec.layers[1].out_shape, Shape({500, 1, 1}));
  EXPECT_TRUE(spec.layers[2].spiking);
  EXPECT_FLOAT_EQ(spec.srm.epsilon_ref(), 1e-4f);
}

TEST(ConfigTest, NmnistCnnShorthandShapes) {
  NetworkSpec spec = MustBuild(R"pb(arch: "34x34x2-12c5-2a-64c5-2a-10o")pb");
  ASSERT_EQ(spec.layers.size(), 5u);
  EXPECT_EQ(spec.layers[0].layer.name(), "conv1");
  EXPECT_EQ(spec.layers[0].out_shape, Shape({12, 30, 30}));
  EXPECT_EQ(spec.layers[1].layer.name(), "pool1");
  EXPECT_EQ(spec.layers[1].out_shape, Shape({12, 15, 15}));
  EXPECT_FLOAT_EQ(spec.layers[1].layer.pool().weight(), 11.0f);
  EXPECT_EQ(spec.layers[2].out_shape, Shape({64, 11, 11}));
  EXPECT_EQ(spec.layers[3].out_shape, Shape({64, 5, 5}));
  EXPECT_EQ(spec.layers[4].layer.name(), "fc1");
  EXPECT_EQ(spec.layers[4].out_shape, Shape({10, 1, 1}));
}

TEST(ConfigTest, PoissonAndGestureShorthands) {
  NetworkSpec p = MustBuild(R"pb(simulation { ts_ms: 0.1 sample_ms: 50 } arch: "250-25-1")pb");
  EXPECT_EQ(p.steps, 500);
  EXPECT_EQ(p.input_shape, Shape({250, 1, 1}));
  EXPECT_EQ(p.output_shape(), Shape({1, 1, 1}));

  NetworkSpec g = MustBuild(R"pb(arch: "128x128x2-4a-16c5-2a-32c3-2a-512-11")pb");
  ASSERT_EQ(g.layers.size(), 7u);
  EXPECT_EQ(g.layers[0].out_shape, Shape({2, 32, 32}));
  EXPECT_EQ(g.layers[1].out_shape, Shape({16, 28, 28}));
  EXPECT_EQ(g.layers[2].out_shape, Shape({16, 14, 14}));
  EXPECT_EQ(g.layers[3].out_shape, Shape({32, 12, 12}));
  EXPECT_EQ(g.layers[4].out_shape, Shape({32, 6, 6}));
  EXPECT_EQ(g.layers[5].out_shape, Shape({512, 1, 1}));
  EXPECT_EQ(g.layers[6].out_shape, Shape({11, 1, 1}));

  NetworkSpec m = MustBuild(R"pb(arch: "28x28-12c5-2a-64c5-2a-10o")pb");
  EXPECT_EQ(m.input_shape, Shape({1, 28, 28}));
  EXPECT_EQ(m.layers[3].out_shape, Shape({64, 4, 4}));
}

TEST(ConfigTest, ExplicitLayersWithNamesAndDelays) {
  NetworkSpec spec = MustBuild(R"pb(
    input_shape: [ 2, 34, 34 ]
    layer { conv { filters: 8 kernel: 3 padding: 1 } }
    layer { pool { kernel: 3 } }
    layer { name: "hidden" dense { units: 20 } }
    layer { delay { max_delay_ms: 10 } }
    layer { dropout { p: 0.2 } }
    layer { dense { units: 4 } }
    layer { delay_shift { shift_ms: 1 } }
  )pb");
  ASSERT_EQ(spec.layers.size(), 7u);
  EXPECT_EQ(spec.layers[0].out_shape, Shape({8, 34, 34}));
  EXPECT_EQ(spec.layers[1].out_shape, Shape({8, 11, 11}));  // any k, floor
  EXPECT_EQ(spec.layers[2].layer.name(), "hidden");
  EXPECT_EQ(spec.layers[3].layer.name(), "delay1");
  EXPECT_EQ(spec.layers[3].out_shape, Shape({20, 1, 1}));
  EXPECT_FALSE(spec.layers[3].spiking);
  EXPECT_EQ(spec.layers[5].layer.name(), "fc1");
  EXPECT_EQ(spec.layers[6].layer.name(), "shift1");
}

TEST(ConfigTest, ErrorsNameTheField) {
  ExpectErrorMentions(BuildError(R"pb(simulation { ts_ms: -1 } arch: "10-2")pb"),
                      "simulation.ts_ms");
  ExpectErrorMentions(BuildError(R"pb(simulation { ts_ms: -1 } arch: "10-2")pb"), "-1");
  ExpectErrorMentions(BuildError(R"pb(neuron { srm { theta: 0 } } arch: "10-2")pb"),
                      "neuron.srm.theta");
  ExpectErrorMentions(BuildError(R"pb(arch: "34x34x2-12q5-10")pb"), "token 2 '12q5'");
  ExpectErrorMentions(BuildError(R"pb(arch: "34x34x2-10o-10")pb"), "output");
  ExpectErrorMentions(BuildError(R"pb(arch: "4x4-12c5-10")pb"), "does not fit");
  ExpectErrorMentions(BuildError(R"pb(input_shape: [ 3 ] layer { dense { units: 0 } })pb"),
                      "layer[0].dense.units");
  ExpectErrorMentions(
      BuildError(R"pb(input_shape: [ 3, 4, 4 ] layer { conv { filters: 4 kernel: 1 groups: 2 } })pb"),
      "layer[0].conv.groups");
  ExpectErrorMentions(BuildError(R"pb(input_shape: [ 3 ] layer { dropout { p: 1.5 } })pb"),
                      "layer[0].dropout.p");
  ExpectErrorMentions(BuildError(R"pb(
    input_shape: [ 3 ]
    layer { name: "a" dense { units: 2 } }
    layer { name: "a" dense { units: 2 } }
  )pb"),
                      "already used");
  ExpectErrorMentions(BuildError(R"pb(input_shape: [ 3 ])pb"), "no layers");
  ExpectErrorMentions(BuildError(R"pb(arch: "10-2" layer { dense { units: 2 } })pb"),
                      "not both");
}

TEST(ConfigTest, ParseErrorsCarryLineAndColumn) {
  absl::StatusOr<proto::Network> net =
      ParseNetworkText("simulation { ts_ms: 1 }\narch: 12\nbogus_field: 3\n", "m.pbtxt");
  ASSERT_FALSE(net.ok());
  ExpectErrorMentions(net.status(), "m.pbtxt:");
  absl::StatusOr<proto::Network> net2 = ParseNetworkText("nonsense_field: 1", "x.pbtxt");
  ExpectErrorMentions(net2.status(), "nonsense_field");
}

TEST(ConfigTest, TrainingValidation) {
  NetworkSpec spec = MustBuild(R"pb(arch: "10-2")pb");
  auto parse = [](const std::string& text) {
    absl::StatusOr<proto::Training> t = ParseTrainingText(text, "t.pbtxt");
    EXPECT_TRUE(t.ok()) << t.status();
    return *t;
  };
  proto::Training ok = parse(R"pb(
    data { synthetic {} }
    loss { num_spikes { start_ms: 0 stop_ms: 300 true_count: 60 false_count: 10 } }
    optimizer { adam { lr: 0.01 } }
    batch_size: 8
  )pb");
  EXPECT_TRUE(ValidateTraining(ok, spec).ok()) << ValidateTraining(ok, spec);

  proto::Training bad = ok;
  bad.set_batch_size(0);
  ExpectErrorMentions(ValidateTraining(bad, spec), "batch_size");
  bad = ok;
  bad.mutable_loss()->mutable_num_spikes()->set_stop_ms(400);
  ExpectErrorMentions(ValidateTraining(bad, spec), "loss.num_spikes");
  bad = ok;
  bad.mutable_optimizer()->mutable_adam()->set_beta1(1.0f);
  ExpectErrorMentions(ValidateTraining(bad, spec), "optimizer.adam.beta1");
  bad = ok;
  bad.clear_data();
  ExpectErrorMentions(ValidateTraining(bad, spec), "data");
  bad = ok;
  bad.mutable_data()->mutable_image()->set_train_images("x");
  ExpectErrorMentions(ValidateTraining(bad, spec), "data.image.train_labels");
  bad = ok;
  proto::ImageData* image = bad.mutable_data()->mutable_image();
  image->set_train_images("a");
  image->set_train_labels("b");
  image->set_test_images("c");
  image->set_test_labels("d");
  EXPECT_TRUE(ValidateTraining(bad, spec).ok()) << ValidateTraining(bad, spec);
  image->set_spatial_jitter(-1);
  ExpectErrorMentions(ValidateTraining(bad, spec), "data.image.spatial_jitter");
  NetworkSpec images = MustBuild(R"pb(arch: "28x28-10")pb");
  image->set_spatial_jitter(28);
  ExpectErrorMentions(ValidateTraining(bad, images),
                      "data.image.spatial_jitter: must be in [0, 28)");
  image->set_spatial_jitter(27);
  EXPECT_TRUE(ValidateTraining(bad, images).ok()) << ValidateTraining(bad, images);
  bad = ok;
  bad.set_lr_decay(1.5f);
  ExpectErrorMentions(ValidateTraining(bad, spec), "lr_decay");
  bad = ok;
  bad.clear_loss();
  ExpectErrorMentions(ValidateTraining(bad, spec), "loss");
}

}  // namespace
}  // namespace config
}  // namespace slayer
