#include "slayer/proto/config.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "slayer/core/file.h"
#include "slayer/core/status.h"

namespace slayer {
namespace config {
namespace {

class CollectErrors : public google::protobuf::io::ErrorCollector {
 public:
  explicit CollectErrors(std::string source) : source_(std::move(source)) {}
  void AddError(int line, int column, const std::string& message) override {
    if (first_.empty()) {
      first_ = absl::StrCat(source_, ":", line + 1, ":", column + 1, ": ", message);
    }
  }
  void AddWarning(int, int, const std::string&) override {}
  const std::string& first() const { return first_; }

 private:
  std::string source_;
  std::string first_;
};

template <typename Message>
absl::StatusOr<Message> ParseText(absl::string_view text, const std::string& source) {
  Message message;
  CollectErrors errors(source);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &message)) {
    return absl::InvalidArgumentError(
        errors.first().empty() ? absl::StrCat(source, ": cannot parse") : errors.first());
  }
  return message;
}

absl::Status FieldError(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

template <typename T>
absl::Status RequireAtLeast(const std::string& field, T value, T min) {
  if (!(value >= min)) {
    return FieldError(field, absl::StrCat("must be >= ", min, ", got ", value));
  }
  return absl::OkStatus();
}

absl::Status RequirePositive(const std::string& field, double value) {
  if (!(value > 0) || !std::isfinite(value)) {
    return FieldError(field, absl::StrCat("must be a finite number > 0, got ", value));
  }
  return absl::OkStatus();
}

absl::Status RequireNonNegative(const std::string& field, double value) {
  if (!(value >= 0) || !std::isfinite(value)) {
    return FieldError(field, absl::StrCat("must be a finite number >= 0, got ", value));
  }
  return absl::OkStatus();
}

int64_t ConvOut(int64_t in, int k, int stride, int pad, int dilation) {
  return (in + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
}

std::string DefaultPrefix(const proto::Layer& layer) {
  switch (layer.kind_case()) {
    case proto::Layer::kDense: return "fc";
    case proto::Layer::kConv: return "conv";
    case proto::Layer::kPool: return "pool";
    case proto::Layer::kDropout: return "dropout";
    case proto::Layer::kDelay: return "delay";
    case proto::Layer::kDelayShift: return "shift";
    default: return "layer";
  }
}

}  // namespace

absl::StatusOr<proto::Network> ParseNetworkText(absl::string_view text,
                                                const std::string& source) {
  return ParseText<proto::Network>(text, source);
}

absl::StatusOr<proto::Training> ParseTrainingText(absl::string_view text,
                                                  const std::string& source) {
  return ParseText<proto::Training>(text, source);
}

absl::StatusOr<proto::Network> ReadNetworkFile(const std::string& path) {
  SLAYER_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseNetworkText(text, path);
}

absl::StatusOr<proto::Training> ReadTrainingFile(const std::string& path) {
  SLAYER_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  SLAYER_ASSIGN_OR_RETURN(proto::Training training, ParseTrainingText(text, path));
  if (training.has_model()) {
    if (training.has_network()) {
      return FieldError(path + ": model",
                        "give either 'model' (a file) or an inline 'network', not both");
    }
    std::string model = training.model();
    if (!model.empty() && model[0] != '/') {
      size_t slash = path.rfind('/');
      if (slash != std::string::npos) model = path.substr(0, slash + 1) + model;
    }
    absl::StatusOr<proto::Network> network = ReadNetworkFile(model);
    if (!network.ok()) {
      return absl::Status(network.status().code(),
                          absl::StrCat(path, ": model: ", network.status().message()));
    }
    *training.mutable_network() = *std::move(network);
  }
  return training;
}

absl::Status ExpandArch(absl::string_view arch, Shape* input_shape,
                        std::vector<proto::Layer>* layers) {
  std::vector<std::string> tokens =
      absl::StrSplit(absl::StripAsciiWhitespace(arch), '-');
  if (tokens.size() < 2) {
    return FieldError("arch", absl::StrCat("'", arch,
                                           "' needs an input and at least one layer, e.g. "
                                           "\"34x34x2-500-10\""));
  }
  // Input: N, HxW or HxWxC.
  {
    std::vector<std::string> dims = absl::StrSplit(tokens[0], 'x');
    std::vector<int64_t> v;
    for (const std::string& d : dims) {
      int64_t n;
      if (!absl::SimpleAtoi(d, &n) || n < 1) {
        return FieldError("arch", absl::StrCat("input '", tokens[0],
                                               "': expected N, HxW or HxWxC with positive "
                                               "integers"));
      }
      v.push_back(n);
    }
    if (v.size() == 1) {
      *input_shape = {v[0], 1, 1};
    } else if (v.size() == 2) {
      *input_shape = {1, v[0], v[1]};
    } else if (v.size() == 3) {
      *input_shape = {v[2], v[0], v[1]};
    } else {
      return FieldError("arch", absl::StrCat("input '", tokens[0], "': at most 3 dimensions"));
    }
  }
  layers->clear();
  for (size_t i = 1; i < tokens.size(); ++i) {
    std::string tok = absl::AsciiStrToLower(absl::StripAsciiWhitespace(tokens[i]));
    const std::string where = absl::StrCat("arch: token ", i + 1, " '", tokens[i], "'");
    if (!tok.empty() && tok.back() == 'o') {
      if (i + 1 != tokens.size()) {
        return FieldError(where, "'o' marks the output layer and may only end the arch");
      }
      tok.pop_back();
    }
    proto::Layer layer;
    int64_t a = 0, b = 0;
    size_t c = tok.find('c');
    if (absl::SimpleAtoi(tok, &a) && a >= 1) {
      layer.mutable_dense()->set_units(static_cast<int32_t>(a));
    } else if (c != std::string::npos && absl::SimpleAtoi(tok.substr(0, c), &a) &&
               absl::SimpleAtoi(tok.substr(c + 1), &b) && a >= 1 && b >= 1) {
      layer.mutable_conv()->set_filters(static_cast<int32_t>(a));
      layer.mutable_conv()->set_kernel(static_cast<int32_t>(b));
    } else if (tok.size() > 1 && tok.back() == 'a' &&
               absl::SimpleAtoi(tok.substr(0, tok.size() - 1), &a) && a >= 1) {
      layer.mutable_pool()->set_kernel(static_cast<int32_t>(a));
    } else {
      return FieldError(where,
                        "expected N (dense units), FcK (F conv filters of KxK), Ka (KxK sum "
                        "pooling), optionally ending in 'o' on the last layer");
    }
    layers->push_back(std::move(layer));
  }
  return absl::OkStatus();
}

absl::StatusOr<NetworkSpec> BuildNetworkSpec(const proto::Network& network) {
  NetworkSpec spec;
  const proto::Simulation& sim = network.simulation();
  spec.ts_ms = sim.ts_ms();
  spec.sample_ms = sim.sample_ms();
  SLAYER_RETURN_IF_ERROR(RequirePositive("simulation.ts_ms", spec.ts_ms));
  SLAYER_RETURN_IF_ERROR(RequirePositive("simulation.sample_ms", spec.sample_ms));
  spec.steps = static_cast<int64_t>(std::llround(spec.sample_ms / spec.ts_ms));
  if (spec.steps < 1 || spec.steps > 10000000) {
    return FieldError("simulation.sample_ms",
                      absl::StrCat("gives ", spec.steps,
                                   " time steps (sample_ms / ts_ms); expected 1 to 10^7"));
  }

  if (network.has_neuron() && network.neuron().model_case() != proto::Neuron::kSrm) {
    return FieldError("neuron", "expected a model: srm { ... }");
  }
  spec.srm = network.neuron().srm();  // defaults when absent
  const proto::SrmNeuron& n = spec.srm;
  SLAYER_RETURN_IF_ERROR(RequirePositive("neuron.srm.theta", n.theta()));
  SLAYER_RETURN_IF_ERROR(RequirePositive("neuron.srm.tau_sr_ms", n.tau_sr_ms()));
  SLAYER_RETURN_IF_ERROR(RequirePositive("neuron.srm.tau_ref_ms", n.tau_ref_ms()));
  SLAYER_RETURN_IF_ERROR(RequireNonNegative("neuron.srm.scale_ref", n.scale_ref()));
  SLAYER_RETURN_IF_ERROR(RequirePositive("neuron.srm.tau_rho", n.tau_rho()));
  SLAYER_RETURN_IF_ERROR(RequirePositive("neuron.srm.scale_rho", n.scale_rho()));
  SLAYER_RETURN_IF_ERROR(RequirePositive("neuron.srm.epsilon_sr", n.epsilon_sr()));
  SLAYER_RETURN_IF_ERROR(RequirePositive("neuron.srm.epsilon_ref", n.epsilon_ref()));

  std::vector<proto::Layer> layers;
  if (network.has_arch()) {
    if (network.layer_size() > 0 || network.input_shape_size() > 0) {
      return FieldError("arch", "give either 'arch' or 'input_shape' + 'layer', not both");
    }
    SLAYER_RETURN_IF_ERROR(ExpandArch(network.arch(), &spec.input_shape, &layers));
  } else {
    if (network.layer_size() == 0) {
      return FieldError("layer", "the network has no layers: give 'arch' or 'layer { ... }'");
    }
    const int rank = network.input_shape_size();
    if (rank != 1 && rank != 3) {
      return FieldError("input_shape",
                        absl::StrCat("expected [N] or [C, H, W], got ", rank, " values"));
    }
    for (int i = 0; i < rank; ++i) {
      SLAYER_RETURN_IF_ERROR(
          RequireAtLeast(absl::StrCat("input_shape[", i, "]"), network.input_shape(i), 1));
    }
    spec.input_shape = rank == 1 ? Shape{network.input_shape(0), 1, 1}
                                 : Shape{network.input_shape(0), network.input_shape(1),
                                         network.input_shape(2)};
    layers.assign(network.layer().begin(), network.layer().end());
  }

  std::map<std::string, int> counters;
  std::map<std::string, int> names;
  Shape shape = spec.input_shape;
  for (size_t i = 0; i < layers.size(); ++i) {
    proto::Layer& layer = layers[i];
    const std::string field = absl::StrCat("layer[", i, "]");
    LayerSpec ls;
    ls.in_shape = shape;
    const int64_t C = shape[0], H = shape[1], W = shape[2];
    switch (layer.kind_case()) {
      case proto::Layer::kDense: {
        const proto::DenseLayer& d = layer.dense();
        SLAYER_RETURN_IF_ERROR(RequireAtLeast(field + ".dense.units", d.units(), 1));
        SLAYER_RETURN_IF_ERROR(RequirePositive(field + ".dense.weight_scale", d.weight_scale()));
        shape = {d.units(), 1, 1};
        ls.spiking = layer.spiking();
        break;
      }
      case proto::Layer::kConv: {
        proto::ConvLayer* c = layer.mutable_conv();
        SLAYER_RETURN_IF_ERROR(RequireAtLeast(field + ".conv.filters", c->filters(), 1));
        if (!c->has_kernel_h()) c->set_kernel_h(c->kernel());
        if (!c->has_kernel_w()) c->set_kernel_w(c->kernel());
        SLAYER_RETURN_IF_ERROR(RequireAtLeast(field + ".conv.kernel_h", c->kernel_h(), 1));
        SLAYER_RETURN_IF_ERROR(RequireAtLeast(field + ".conv.kernel_w", c->kernel_w(), 1));
        SLAYER_RETURN_IF_ERROR(RequireAtLeast(field + ".conv.stride", c->stride(), 1));
        SLAYER_RETURN_IF_ERROR(RequireAtLeast(field + ".conv.padding", c->padding(), 0));
        SLAYER_RETURN_IF_ERROR(RequireAtLeast(field + ".conv.dilation", c->dilation(), 1));
        SLAYER_RETURN_IF_ERROR(RequireAtLeast(field + ".conv.groups", c->groups(), 1));
        SLAYER_RETURN_IF_ERROR(RequirePositive(field + ".conv.weight_scale", c->weight_scale()));
        if (C % c->groups() != 0 || c->filters() % c->groups() != 0) {
          return FieldError(field + ".conv.groups",
                            absl::StrCat("must divide input channels (", C, ") and filters (",
                                         c->filters(), "), got ", c->groups()));
        }
        int64_t ho = ConvOut(H, c->kernel_h(), c->stride(), c->padding(), c->dilation());
        int64_t wo = ConvOut(W, c->kernel_w(), c->stride(), c->padding(), c->dilation());
        if (ho < 1 || wo < 1) {
          return FieldError(field + ".conv",
                            absl::StrCat("a ", c->kernel_h(), "x", c->kernel_w(),
                                         " kernel does not fit the input ",
                                         ShapeString(ls.in_shape), " (C,H,W)"));
        }
        shape = {c->filters(), ho, wo};
        ls.spiking = layer.spiking();
        break;
      }
      case proto::Layer::kPool: {
        proto::PoolLayer* p = layer.mutable_pool();
        SLAYER_RETURN_IF_ERROR(RequireAtLeast(field + ".pool.kernel", p->kernel(), 1));
        if (!p->has_stride()) p->set_stride(p->kernel());
        SLAYER_RETURN_IF_ERROR(RequireAtLeast(field + ".pool.stride", p->stride(), 1));
        SLAYER_RETURN_IF_ERROR(RequireAtLeast(field + ".pool.padding", p->padding(), 0));
        if (!p->has_weight()) p->set_weight(1.1f * n.theta());
        SLAYER_RETURN_IF_ERROR(RequirePositive(field + ".pool.weight", p->weight()));
        int64_t ho = ConvOut(H, p->kernel(), p->stride(), p->padding(), 1);
        int64_t wo = ConvOut(W, p->kernel(), p->stride(), p->padding(), 1);
        if (ho < 1 || wo < 1) {
          return FieldError(field + ".pool",
                            absl::StrCat("a ", p->kernel(), "x", p->kernel(),
                                         " window does not fit the input ",
                                         ShapeString(ls.in_shape), " (C,H,W)"));
        }
        shape = {C, ho, wo};
        ls.spiking = layer.spiking();
        break;
      }
      case proto::Layer::kDropout: {
        float p = layer.dropout().p();
        if (!(p >= 0 && p < 1)) {
          return FieldError(field + ".dropout.p", absl::StrCat("must be in [0, 1), got ", p));
        }
        break;
      }
      case proto::Layer::kDelay: {
        const proto::DelayLayer& d = layer.delay();
        SLAYER_RETURN_IF_ERROR(
            RequireNonNegative(field + ".delay.max_delay_ms", d.max_delay_ms()));
        SLAYER_RETURN_IF_ERROR(RequireNonNegative(field + ".delay.init_ms", d.init_ms()));
        SLAYER_RETURN_IF_ERROR(
            RequireNonNegative(field + ".delay.init_max_ms", d.init_max_ms()));
        break;
      }
      case proto::Layer::kDelayShift:
        SLAYER_RETURN_IF_ERROR(
            RequireNonNegative(field + ".delay_shift.shift_ms", layer.delay_shift().shift_ms()));
        break;
      default:
        return FieldError(field, "expected one of dense, conv, pool, dropout, delay, delay_shift");
    }
    if (!layer.has_name() || layer.name().empty()) {
      std::string prefix = DefaultPrefix(layer);
      layer.set_name(absl::StrCat(prefix, ++counters[prefix]));
    }
    if (layer.name().find_first_of("/ \t") != std::string::npos) {
      return FieldError(field + ".name",
                        absl::StrCat("'", layer.name(), "' may not contain '/' or spaces"));
    }
    if (names.count(layer.name())) {
      return FieldError(field + ".name",
                        absl::StrCat("'", layer.name(), "' is already used by layer[",
                                     names[layer.name()], "]"));
    }
    names[layer.name()] = static_cast<int>(i);
    ls.out_shape = shape;
    ls.layer = std::move(layer);
    spec.layers.push_back(std::move(ls));
  }
  return spec;
}

absl::Status ValidateTraining(const proto::Training& t, const NetworkSpec& spec) {
  SLAYER_RETURN_IF_ERROR(RequireAtLeast("batch_size", t.batch_size(), 1));
  SLAYER_RETURN_IF_ERROR(RequireAtLeast("epochs", t.epochs(), 1));
  SLAYER_RETURN_IF_ERROR(RequireAtLeast("threads", t.threads(), 0));
  SLAYER_RETURN_IF_ERROR(RequireAtLeast("eval_every", t.eval_every(), 1));
  SLAYER_RETURN_IF_ERROR(RequireNonNegative("target_loss", t.target_loss()));
  if (!(t.lr_decay() > 0 && t.lr_decay() <= 1)) {
    return FieldError("lr_decay", absl::StrCat("must be in (0, 1], got ", t.lr_decay()));
  }
  if (!t.has_data() || t.data().source_case() == proto::Data::SOURCE_NOT_SET) {
    return FieldError("data", "expected one of image, nmnist, gesture, poisson, synthetic");
  }
  const proto::Data& d = t.data();
  if (d.has_image()) {
    const proto::ImageData& im = d.image();
    for (const auto& [name, value] :
         std::vector<std::pair<std::string, std::string>>{{"train_images", im.train_images()},
                                                          {"train_labels", im.train_labels()},
                                                          {"test_images", im.test_images()},
                                                          {"test_labels", im.test_labels()}}) {
      if (value.empty()) return FieldError("data.image." + name, "a file path is required");
    }
    if (!(im.if_gain() > 0 && im.if_gain() <= 1)) {
      return FieldError("data.image.if_gain", absl::StrCat("must be in (0, 1], got ", im.if_gain()));
    }
    if (!(im.poisson_max_prob() > 0 && im.poisson_max_prob() <= 1)) {
      return FieldError("data.image.poisson_max_prob",
                        absl::StrCat("must be in (0, 1], got ", im.poisson_max_prob()));
    }
    const int64_t image_side = std::min(spec.input_shape[1], spec.input_shape[2]);
    if (im.spatial_jitter() < 0 || im.spatial_jitter() >= image_side) {
      return FieldError("data.image.spatial_jitter",
                        absl::StrCat("must be in [0, ", image_side, ") pixels for input ",
                                     ShapeString(spec.input_shape), ", got ",
                                     im.spatial_jitter()));
    }
    for (const auto& [name, value] :
         {std::pair<std::string, int32_t>{"augment_from_epoch", im.augment_from_epoch()},
          {"augment_until_epoch", im.augment_until_epoch()}}) {
      if (value < 0) {
        return FieldError("data.image." + name,
                          absl::StrCat("must be an epoch >= 1 (or 0: unbounded), got ", value));
      }
      if (value > 0 && im.spatial_jitter() == 0 && !im.horizontal_flip()) {
        return FieldError("data.image." + name,
                          "is set, but nothing is augmented (spatial_jitter 0, no "
                          "horizontal_flip)");
      }
    }
    if (im.augment_from_epoch() > 0 && im.augment_until_epoch() > 0 &&
        im.augment_from_epoch() > im.augment_until_epoch()) {
      return FieldError("data.image.augment_until_epoch",
                        absl::StrCat("must not come before augment_from_epoch (",
                                     im.augment_from_epoch(), "), got ",
                                     im.augment_until_epoch()));
    }
  } else if (d.has_nmnist()) {
    const proto::NmnistData& nm = d.nmnist();
    if (nm.train_dir().empty()) return FieldError("data.nmnist.train_dir", "a folder is required");
    if (nm.train_list().empty()) return FieldError("data.nmnist.train_list", "a file is required");
  } else if (d.has_gesture()) {
    if (d.gesture().root().empty()) return FieldError("data.gesture.root", "a folder is required");
  }

  const float sample_ms = static_cast<float>(spec.sample_ms);
  if (!t.has_loss() || t.loss().kind_case() == proto::Loss::KIND_NOT_SET) {
    return FieldError("loss", "expected one of spike_time, num_spikes, spike_rate");
  }
  auto check_region = [&](const std::string& field, float start, float stop) -> absl::Status {
    if (!(start >= 0 && start < stop && stop <= sample_ms + 1e-3f)) {
      return FieldError(field, absl::StrCat("region [", start, ", ", stop,
                                            ") ms must lie inside the sample [0, ", sample_ms,
                                            ") and not be empty"));
    }
    return absl::OkStatus();
  };
  if (t.loss().has_num_spikes()) {
    const proto::NumSpikesLoss& l = t.loss().num_spikes();
    SLAYER_RETURN_IF_ERROR(check_region("loss.num_spikes", l.start_ms(),
                                        l.has_stop_ms() ? l.stop_ms() : sample_ms));
    SLAYER_RETURN_IF_ERROR(RequireNonNegative("loss.num_spikes.true_count", l.true_count()));
    SLAYER_RETURN_IF_ERROR(RequireNonNegative("loss.num_spikes.false_count", l.false_count()));
  } else if (t.loss().has_spike_rate()) {
    const proto::SpikeRateLoss& l = t.loss().spike_rate();
    SLAYER_RETURN_IF_ERROR(check_region("loss.spike_rate", l.start_ms(),
                                        l.has_stop_ms() ? l.stop_ms() : sample_ms));
  }

  if (t.has_optimizer()) {
    const proto::Optimizer& o = t.optimizer();
    SLAYER_RETURN_IF_ERROR(RequireNonNegative("optimizer.weight_decay", o.weight_decay()));
    if (o.has_sgd()) {
      SLAYER_RETURN_IF_ERROR(RequirePositive("optimizer.sgd.lr", o.sgd().lr()));
      if (!(o.sgd().momentum() >= 0 && o.sgd().momentum() < 1)) {
        return FieldError("optimizer.sgd.momentum",
                          absl::StrCat("must be in [0, 1), got ", o.sgd().momentum()));
      }
    }
    auto check_betas = [](const std::string& f, float lr, float b1, float b2,
                          float eps) -> absl::Status {
      SLAYER_RETURN_IF_ERROR(RequirePositive(f + ".lr", lr));
      SLAYER_RETURN_IF_ERROR(RequirePositive(f + ".eps", eps));
      if (!(b1 >= 0 && b1 < 1)) {
        return FieldError(f + ".beta1", absl::StrCat("must be in [0, 1), got ", b1));
      }
      if (!(b2 >= 0 && b2 < 1)) {
        return FieldError(f + ".beta2", absl::StrCat("must be in [0, 1), got ", b2));
      }
      return absl::OkStatus();
    };
    if (o.has_adam()) {
      SLAYER_RETURN_IF_ERROR(check_betas("optimizer.adam", o.adam().lr(), o.adam().beta1(),
                                         o.adam().beta2(), o.adam().eps()));
    }
    if (o.has_nadam()) {
      SLAYER_RETURN_IF_ERROR(check_betas("optimizer.nadam", o.nadam().lr(), o.nadam().beta1(),
                                         o.nadam().beta2(), o.nadam().eps()));
    }
  }
  return absl::OkStatus();
}

}  // namespace config
}  // namespace slayer
