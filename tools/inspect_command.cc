// `slayer inspect`: one sample forward and backward, everything to .npz
// (SPEC §8), so that other tools can check our numerics layer by layer.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "slayer/core/npy.h"
#include "slayer/core/status.h"
#include "slayer/layers/network.h"
#include "slayer/ops/loss.h"
#include "slayer/proto/config.h"
#include "tools/command_flags.h"
#include "tools/commands.h"

namespace slayer {
namespace tools {
namespace {

// [C, H, W] neuron shape → the file shape of a 0/1 array: [C, T] when H = W
// = 1, else [C, H, W, T].
Shape FileShape(const Shape& chw, int64_t steps) {
  if (chw[1] == 1 && chw[2] == 1) return {chw[0], steps};
  return {chw[0], chw[1], chw[2], steps};
}

// Reads a dense [C(,H,W), T] array and checks it against `chw` and T.
absl::StatusOr<Tensor> ReadSpikeArray(const std::string& path, const std::string& flag,
                                      const Shape& chw, int64_t steps) {
  SLAYER_ASSIGN_OR_RETURN(NpyArray array, ReadNpy(path));
  absl::StatusOr<Tensor> t = array.ToTensor();
  if (!t.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", t.status().message()));
  const Shape want = FileShape(chw, steps);
  if (t->numel() != NumElements(want) || t->dim(-1) != steps ||
      (t->shape() != want && t->shape() != Shape{chw[0], chw[1], chw[2], steps})) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " ", path, ": expected shape ",
                                                   ShapeString(want), " (neurons, time steps), got ",
                                                   ShapeString(t->shape())));
  }
  for (int64_t i = 0; i < t->numel(); ++i) {
    if (!std::isfinite(t->data()[i]) || t->data()[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, " ", path,
                                                     ": expected spike counts >= 0, got ",
                                                     t->data()[i], " at flat index ", i));
    }
  }
  return t->Reshape({1, chw[0], chw[1], chw[2], steps});
}

absl::Status Run(const std::string& model_path, const std::string& params_path,
                 const std::string& input_path, const std::string& target_path, int64_t label,
                 const std::string& loss_name, double start_ms, double stop_ms,
                 double true_count, double false_count, const std::string& out_path) {
  SLAYER_ASSIGN_OR_RETURN(proto::Network model, config::ReadNetworkFile(model_path));
  absl::StatusOr<config::NetworkSpec> spec = config::BuildNetworkSpec(model);
  if (!spec.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(model_path, ": ", spec.status().message()));
  }
  SLAYER_ASSIGN_OR_RETURN(std::unique_ptr<layers::Network> net,
                          layers::Network::Create(*spec, /*seed=*/0));
  if (!params_path.empty()) {
    SLAYER_ASSIGN_OR_RETURN(NpzMap params, ReadNpz(params_path));
    SLAYER_RETURN_IF_ERROR(net->ImportParams(params, params_path));
  }
  const int64_t T = spec->steps;
  SLAYER_ASSIGN_OR_RETURN(Tensor input, ReadSpikeArray(input_path, "input", spec->input_shape, T));
  SLAYER_RETURN_IF_ERROR(net->Forward(input, /*training=*/false));

  const float ts = net->ts();
  const Shape out_chw = spec->output_shape();
  float loss = 0;
  Tensor grad;
  if (loss_name == "spike_time") {
    if (target_path.empty()) {
      return absl::InvalidArgumentError("--loss spike_time needs --target T.npy");
    }
    SLAYER_ASSIGN_OR_RETURN(Tensor target, ReadSpikeArray(target_path, "target", out_chw, T));
    for (float& v : target.span()) v /= ts;  // 0/1 in files, 1/Ts inside
    SLAYER_RETURN_IF_ERROR(
        ops::SpikeTimeLoss(net->output(), target, net->kernels().eps, ts, &loss, &grad));
  } else {
    if (label < 0 || label >= NumElements(out_chw)) {
      return absl::InvalidArgumentError(absl::StrCat("--label must be in [0, ",
                                                     NumElements(out_chw), "), got ", label));
    }
    ops::CountTarget region;
    region.start_step = std::llround(start_ms / ts);
    region.stop_step = stop_ms > 0 ? std::llround(stop_ms / ts) : T;
    region.true_value = static_cast<float>(true_count);
    region.false_value = static_cast<float>(false_count);
    if (!(0 <= region.start_step && region.start_step < region.stop_step &&
          region.stop_step <= T)) {
      return absl::InvalidArgumentError(absl::StrCat("--start_ms/--stop_ms: region [",
                                                     region.start_step, ", ", region.stop_step,
                                                     ") steps must lie inside [0, ", T, ")"));
    }
    std::vector<int> labels = {static_cast<int>(label)};
    SLAYER_RETURN_IF_ERROR(ops::NumSpikesLoss(net->output(), labels, region, net->kernels().eps,
                                              ts, &loss, &grad));
  }
  SLAYER_RETURN_IF_ERROR(net->Backward(grad));

  NpzMap out;
  out["loss"] = NpyArray::Scalar(loss);
  for (size_t i = 0; i < net->layers().size(); ++i) {
    const layers::Layer& layer = *net->layers()[i];
    const Shape file_shape = FileShape(spec->layers[i].out_shape, T);
    SLAYER_ASSIGN_OR_RETURN(Tensor spikes, layer.output().To(Device::kCpu));
    Tensor s01 = spikes.Clone();
    for (float& v : s01.span()) v *= ts;
    out["spikes/" + layer.name()] = NpyArray::FromTensor(s01.Reshape(file_shape));
    if (const Tensor* u = layer.potential()) {
      SLAYER_ASSIGN_OR_RETURN(Tensor host, u->To(Device::kCpu));
      out["potential/" + layer.name()] = NpyArray::FromTensor(host.Reshape(file_shape));
    }
  }
  for (layers::Param* p : net->params()) {
    SLAYER_ASSIGN_OR_RETURN(Tensor g, p->grad.To(Device::kCpu));
    out["grad/" + p->name] = NpyArray::FromTensor(g);
  }
  SLAYER_RETURN_IF_ERROR(WriteNpz(out_path, out));
  std::printf("loss=%.9g\nwrote %zu arrays to %s\n", loss, out.size(), out_path.c_str());
  return absl::OkStatus();
}

}  // namespace

int RunInspectCommand(const std::vector<std::string>& args) {
  CommandFlags flags(
      "inspect",
      "--model M.pbtxt [--params P.npz] --input IN.npy (--target T.npy | --label K) "
      "--loss spike_time|num_spikes --out OUT.npz",
      "Runs one sample forward and backward and writes spikes/<layer>, potential/<layer>\n"
      "(after refractory), grad/<layer>/weight, grad/<layer>/delay and loss to OUT.npz.\n"
      "Input and target are dense 0/1 arrays [C(,H,W), T].");
  std::string model, params, input, target, loss = "spike_time", out;
  int64_t label = -1;
  double start_ms = 0, stop_ms = 0, true_count = 60, false_count = 10;
  flags.String("model", &model, "network definition (protobuf text)");
  flags.String("params", &params, "parameters .npz (<layer>/weight, <layer>/delay)");
  flags.String("input", &input, "input spikes .npy, 0/1 [C(,H,W), T]");
  flags.String("target", &target, "target spikes .npy for spike_time, 0/1 [C_out, T]");
  flags.Int("label", &label, "true class for num_spikes");
  flags.String("loss", &loss, "spike_time or num_spikes");
  flags.Double("start_ms", &start_ms, "num_spikes region start");
  flags.Double("stop_ms", &stop_ms, "num_spikes region end (0: end of sample)");
  flags.Double("true_count", &true_count, "num_spikes desired count of the label neuron");
  flags.Double("false_count", &false_count, "num_spikes desired count of the others");
  flags.String("out", &out, "output .npz");
  int exit_code;
  if (!flags.Parse(args, &exit_code)) return exit_code;
  if (!flags.positional().empty()) {
    return flags.Fail("unexpected argument '" + flags.positional()[0] + "'");
  }
  if (model.empty() || input.empty() || out.empty()) {
    return flags.Fail("--model, --input and --out are required");
  }
  if (loss != "spike_time" && loss != "num_spikes") {
    return flags.Fail("--loss must be spike_time or num_spikes, got '" + loss + "'");
  }
  if (loss == "num_spikes" && label < 0) return flags.Fail("--loss num_spikes needs --label K");
  absl::Status s = Run(model, params, input, target, label, loss, start_ms, stop_ms, true_count,
                       false_count, out);
  if (!s.ok()) {
    std::fprintf(stderr, "slayer inspect: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace tools
}  // namespace slayer
