#include "slayer/train/datasets.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "slayer/core/random.h"
#include "slayer/core/status.h"
#include "slayer/data/dvs_gesture.h"
#include "slayer/data/encoder.h"
#include "slayer/data/image_dataset.h"
#include "slayer/data/nmnist.h"

namespace slayer {
namespace train {
namespace {

absl::Status Field(const std::string& field, const absl::Status& s) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(field, ": ", s.message()));
}

absl::Status CheckSampleShape(const data::Dataset& ds, const config::NetworkSpec& spec,
                              const std::string& what) {
  Shape want = {spec.input_shape[0], spec.input_shape[1], spec.input_shape[2], spec.steps};
  if (ds.sample_shape() != want) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": samples are ", ShapeString(ds.sample_shape()),
        " [C,H,W,T] but the network takes ", ShapeString(want),
        " (check the arch input and simulation.sample_ms / ts_ms)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<data::Dataset>> Limit(std::unique_ptr<data::Dataset> base,
                                                     int limit, TrainingData* keep) {
  if (limit <= 0 || limit >= base->size()) return base;
  std::vector<int64_t> idx(limit);
  for (int i = 0; i < limit; ++i) idx[i] = i;
  SLAYER_ASSIGN_OR_RETURN(std::unique_ptr<data::SubsetDataset> subset,
                          data::SubsetDataset::Create(base.get(), std::move(idx)));
  keep->keep_alive.push_back(std::move(base));
  return std::unique_ptr<data::Dataset>(std::move(subset));
}

// Event samples shaped for the network's input and time steps.
data::EventTensorOptions EventOptions(const config::NetworkSpec& spec, bool sum_binning,
                                      int random_shift_ms) {
  data::EventTensorOptions t;
  t.channels = spec.input_shape[0];
  t.height = spec.input_shape[1];
  t.width = spec.input_shape[2];
  t.ts_ms = spec.ts_ms;
  t.num_steps = spec.steps;
  t.binning = sum_binning ? data::Binning::kSum : data::Binning::kOr;
  t.max_time_shift = static_cast<int64_t>(std::llround(random_shift_ms / spec.ts_ms));
  return t;
}

}  // namespace

PoissonProblem MakePoissonProblem(const proto::PoissonData& options,
                                  const config::NetworkSpec& spec) {
  const int64_t n = std::max(1, options.samples());
  const int64_t T = spec.steps;
  const Shape& in = spec.input_shape;
  const int64_t outputs = NumElements(spec.output_shape());
  PoissonProblem p;
  p.inputs = Tensor::Zeros({n, in[0], in[1], in[2], T});
  p.targets = Tensor::Zeros({n, outputs, 1, 1, T});
  Rng rng(options.seed(), /*stream=*/77);
  const double p_in = options.input_rate_hz() * spec.ts_ms * 1e-3;
  const double p_out = options.target_rate_hz() * spec.ts_ms * 1e-3;
  for (float& v : p.inputs.span()) v = rng.Bernoulli(p_in) ? 1.0f : 0.0f;
  for (float& v : p.targets.span()) v = rng.Bernoulli(p_out) ? 1.0f : 0.0f;
  return p;
}

absl::StatusOr<TrainingData> MakeTrainingData(const proto::Training& config,
                                              const config::NetworkSpec& spec) {
  TrainingData out;
  const proto::Data& d = config.data();
  switch (d.source_case()) {
    case proto::Data::kImage: {
      const proto::ImageData& im = d.image();
      data::ImageEncoderOptions enc;
      enc.encoding = im.encoding() == proto::ImageData::POISSON
                         ? data::ImageEncoding::kPoisson
                         : data::ImageEncoding::kIntegrateAndFire;
      enc.ts_ms = spec.ts_ms;
      enc.sample_ms = spec.sample_ms;
      enc.if_gain = im.if_gain();
      enc.poisson_max_prob = im.poisson_max_prob();
      data::ImageAugmentation augment;
      augment.max_jitter = im.spatial_jitter();
      augment.horizontal_flip = im.horizontal_flip();
      absl::StatusOr<std::unique_ptr<data::ImageDataset>> train =
          data::MakeImageDataset(im.train_images(), im.train_labels(), enc);
      SLAYER_RETURN_IF_ERROR(Field("data.image.train_images", train.status()));
      SLAYER_RETURN_IF_ERROR(Field("data.image.spatial_jitter", (*train)->SetAugmentation(augment)));
      if (im.augment_from_epoch() > 0 || im.augment_until_epoch() > 0) {
        data::ImageDataset* images = train->get();  // owned by `out` below
        const int from = im.augment_from_epoch(), until = im.augment_until_epoch();
        out.start_epoch = [images, augment, from, until](int epoch) {
          const bool on = epoch >= from && (until == 0 || epoch <= until);
          // Validated above: both settings are accepted.
          images->SetAugmentation(on ? augment : data::ImageAugmentation()).IgnoreError();
        };
        out.start_epoch(1);  // until the trainer starts an epoch
      }
      absl::StatusOr<std::unique_ptr<data::ImageDataset>> test =
          data::MakeImageDataset(im.test_images(), im.test_labels(), enc);
      SLAYER_RETURN_IF_ERROR(Field("data.image.test_images", test.status()));
      SLAYER_ASSIGN_OR_RETURN(out.train, Limit(*std::move(train), im.train_limit(), &out));
      SLAYER_ASSIGN_OR_RETURN(out.test, Limit(*std::move(test), im.test_limit(), &out));
      break;
    }
    case proto::Data::kNmnist: {
      const proto::NmnistData& nm = d.nmnist();
      data::NmnistOptions opt;
      opt.tensor = EventOptions(spec, nm.sum_binning(), nm.random_shift_ms());
      opt.tensor.max_jitter = nm.spatial_jitter();
      opt.num_classes = static_cast<int>(NumElements(spec.output_shape()));
      absl::StatusOr<std::unique_ptr<data::NmnistDataset>> train =
          data::NmnistDataset::Open(nm.train_dir(), nm.train_list(), opt);
      SLAYER_RETURN_IF_ERROR(Field("data.nmnist.train_dir", train.status()));
      out.train = *std::move(train);
      if (!nm.test_dir().empty()) {
        opt.tensor.max_time_shift = 0;
        opt.tensor.max_jitter = 0;
        absl::StatusOr<std::unique_ptr<data::NmnistDataset>> test =
            data::NmnistDataset::Open(nm.test_dir(), nm.test_list(), opt);
        SLAYER_RETURN_IF_ERROR(Field("data.nmnist.test_dir", test.status()));
        out.test = *std::move(test);
      }
      break;
    }
    case proto::Data::kGesture: {
      const proto::GestureData& g = d.gesture();
      data::DvsGestureOptions opt;
      opt.tensor = EventOptions(spec, g.sum_binning(), g.random_shift_ms());
      opt.num_classes = static_cast<int>(NumElements(spec.output_shape()));
      absl::StatusOr<std::unique_ptr<data::EventSampleDataset>> train =
          data::MakeDvsGestureSplit(g.root(), /*train=*/true, opt);
      SLAYER_RETURN_IF_ERROR(Field("data.gesture.root", train.status()));
      opt.tensor.max_time_shift = 0;
      absl::StatusOr<std::unique_ptr<data::EventSampleDataset>> test =
          data::MakeDvsGestureSplit(g.root(), /*train=*/false, opt);
      SLAYER_RETURN_IF_ERROR(Field("data.gesture.root", test.status()));
      out.train = *std::move(train);
      out.test = *std::move(test);
      break;
    }
    case proto::Data::kPoisson: {
      PoissonProblem p = MakePoissonProblem(d.poisson(), spec);
      const int64_t n = p.inputs.dim(0);
      for (int64_t i = 0; i < n; ++i) {
        Tensor t = p.targets.Slice(i, i + 1);
        out.targets.push_back(t.Reshape({t.dim(1), 1, 1, t.dim(4)}));
      }
      std::vector<int> labels(n, 0);
      SLAYER_ASSIGN_OR_RETURN(std::unique_ptr<data::InMemoryDataset> train,
                              data::InMemoryDataset::Create(p.inputs, labels, 1));
      out.train = std::move(train);
      break;
    }
    case proto::Data::kSynthetic: {
      const proto::SyntheticData& s = d.synthetic();
      data::SyntheticOptions opt;
      opt.sample_shape = {spec.input_shape[0], spec.input_shape[1], spec.input_shape[2],
                          spec.steps};
      opt.num_classes = static_cast<int>(NumElements(spec.output_shape()));
      opt.seed = s.seed();
      opt.rate_on = std::min(1.0, 4.0 * s.density());
      opt.rate_off = s.density();
      opt.num_samples = s.train_samples();
      SLAYER_ASSIGN_OR_RETURN(std::unique_ptr<data::InMemoryDataset> train,
                              data::MakeSyntheticDataset(opt));
      opt.num_samples = s.test_samples();
      opt.seed = s.seed() + 1;
      SLAYER_ASSIGN_OR_RETURN(std::unique_ptr<data::InMemoryDataset> test,
                              data::MakeSyntheticDataset(opt));
      out.train = std::move(train);
      out.test = std::move(test);
      break;
    }
    default:
      return absl::InvalidArgumentError(
          "data: expected one of image, nmnist, gesture, poisson, synthetic");
  }
  SLAYER_RETURN_IF_ERROR(CheckSampleShape(*out.train, spec, "data (train)"));
  if (out.test) SLAYER_RETURN_IF_ERROR(CheckSampleShape(*out.test, spec, "data (test)"));
  const int64_t classes = NumElements(spec.output_shape());
  if (!config.loss().has_spike_time() && out.train->num_classes() > classes) {
    return absl::InvalidArgumentError(absl::StrCat("data has ", out.train->num_classes(),
                                                   " classes but the output layer has ",
                                                   classes, " neurons"));
  }
  if (config.loss().has_spike_time() && out.targets.empty()) {
    return absl::InvalidArgumentError(
        "loss.spike_time needs target spike trains: use data { poisson { ... } }");
  }
  return out;
}

}  // namespace train
}  // namespace slayer
