// A SLAYER network built from a model proto: a chain of layers, each
// weighted layer (dense, conv) and each pooling layer followed by psp and
// spike (SPEC §2-3), with a named parameter registry ("fc1/weight",
// "conv1/weight", "delay1/delay") and train/eval modes.
//
//   SLAYER_ASSIGN_OR_RETURN(NetworkSpec spec, config::BuildNetworkSpec(proto));
//   SLAYER_ASSIGN_OR_RETURN(std::unique_ptr<Network> net, Network::Create(spec, /*seed=*/1));
//   SLAYER_RETURN_IF_ERROR(net->Forward(input01, /*training=*/true));   // [N, C, H, W, T], 0/1
//   SLAYER_RETURN_IF_ERROR(ops::NumSpikesLoss(net->output(), ..., &loss, &grad));
//   SLAYER_RETURN_IF_ERROR(net->Backward(grad));   // fills every Param::grad
#ifndef SLAYER_LAYERS_NETWORK_H_
#define SLAYER_LAYERS_NETWORK_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "slayer/core/npy.h"
#include "slayer/core/random.h"
#include "slayer/core/tensor.h"
#include "slayer/ops/dense.h"
#include "slayer/ops/srm_kernel.h"
#include "slayer/proto/config.h"

namespace slayer {

namespace layers {

// A learnable parameter and its gradient (same shape, same device).
struct Param {
  std::string name;  // "<layer>/weight" or "<layer>/delay"
  Tensor value;
  Tensor grad;
  bool is_delay = false;
  float max_delay_ms = 0.0f;  // delays are clamped into [0, max] after a step
};

// One stage of the chain. Forward keeps what Backward needs.
class Layer {
 public:
  friend class Network;
  virtual ~Layer() = default;
  const std::string& name() const { return name_; }
  // `in` is [N, C, H, W, T] with spike amplitude 1/Ts.
  virtual absl::Status Forward(const Tensor& in, bool training) = 0;
  // grad_in may be null (first layer: no input gradient needed).
  virtual absl::Status Backward(const Tensor& grad_out, Tensor* grad_in) = 0;
  // The last forward's output. A dense layer's one pass may leave its
  // spikes held only as the next dense layer's input events; they are
  // written here when first asked for: not to be called from two threads at
  // once.
  const Tensor& output() const {
    if (output_events_ != nullptr) output_events_->WriteSource(output_);
    return output_;
  }
  // Membrane potential after refractory additions (spiking layers only).
  // A dense layer's one pass keeps it in another layout and rebuilds it on
  // the first call after a forward: not to be called from two threads at
  // once.
  virtual const Tensor* potential() const { return nullptr; }
  virtual std::vector<Param*> params() { return {}; }
  // The events a dense layer keeps of its input, which the layer before may
  // hand over instead of the dense layer scanning its input; null for other
  // kinds.
  virtual ops::DenseEvents* input_events() { return nullptr; }
  // Where a dense layer hands over the events of output() (the next layer's
  // input_events()); null: nowhere.
  void set_output_events(ops::DenseEvents* events) { output_events_ = events; }

 protected:
  explicit Layer(std::string name) : name_(std::move(name)) {}
  std::string name_;
  Tensor output_;  // Network::Forward hands it to the next layer as it is
  ops::DenseEvents* output_events_ = nullptr;
};

class Network {
 public:
  // Parameters initialised from `seed` (SPEC §3: uniform ±1/sqrt(fan_in)
  // times weight_scale).
  static absl::StatusOr<std::unique_ptr<Network>> Create(const config::NetworkSpec& spec,
                                                         uint64_t seed);

  const config::NetworkSpec& spec() const { return spec_; }
  float ts() const { return static_cast<float>(spec_.ts_ms); }
  int64_t steps() const { return spec_.steps; }
  const ops::SrmKernels& kernels() const { return kernels_; }
  Device device() const { return device_; }

  // input: [N, C, H, W, T] of 0/1 (or counts) at the data boundary; scaled
  // to amplitude 1/Ts inside (with Ts = 1 ms it is used as it is, not
  // copied: keep it unchanged until Backward). `step` seeds dropout masks
  // reproducibly.
  absl::Status Forward(const Tensor& input, bool training, uint64_t step = 0);
  // The same with the input's nonzeros recorded by the caller (a loader, as
  // ops::RecordSampleEvents: per sample, a row per input of C*H*W): a first
  // dense layer on the host takes them instead of scanning its input. They
  // must describe `input`; their shape is checked (InvalidArgument).
  absl::Status Forward(const Tensor& input, bool training, uint64_t step,
                       absl::Span<const ops::SampleEvents> input_events);
  // Whether Forward can use input events (the first layer is dense, on the
  // host): a loader need not record them otherwise.
  bool TakesInputEvents() const;
  // grad_output: dLoss/d(output spikes), shaped like output(). Overwrites
  // every parameter's grad.
  absl::Status Backward(const Tensor& grad_output);

  const Tensor& output() const { return layers_.back()->output(); }
  const std::vector<std::unique_ptr<Layer>>& layers() const { return layers_; }
  std::vector<Param*> params();
  Param* FindParam(const std::string& name);

  // Parameters as "<layer>/weight" etc. (host copies).
  absl::StatusOr<NpzMap> ExportParams() const;
  // Loads every parameter the network has from `arrays`; missing keys, wrong
  // shapes and non-finite values are errors naming the key. Extra keys are
  // ignored unless `strict`.
  absl::Status ImportParams(const NpzMap& arrays, const std::string& source,
                            bool strict = false);

  // Moves parameters (and all later work) to `device`.
  absl::Status To(Device device);

 private:
  Network(config::NetworkSpec spec, ops::SrmKernels kernels)
      : spec_(std::move(spec)), kernels_(std::move(kernels)) {}

  config::NetworkSpec spec_;
  ops::SrmKernels kernels_;
  std::vector<std::unique_ptr<Layer>> layers_;
  Tensor scaled_input_;       // input * (1/Ts) on device_
  Tensor host_scaled_input_;  // staging when device_ is not the host
  std::vector<ops::SampleEvents> scaled_events_;  // input events * (1/Ts)
  std::vector<Tensor> grads_;  // grad buffers between layers
  Device device_ = Device::kCpu;
  uint64_t seed_ = 0;
};

}  // namespace layers
}  // namespace slayer

#endif  // SLAYER_LAYERS_NETWORK_H_
