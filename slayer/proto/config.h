// Model and training configs: parsing (protobuf text format), validation
// with errors that name the field, the bad value and what is allowed, and
// expansion of the paper's shorthand into explicit layers with shapes.
//
//   SLAYER_ASSIGN_OR_RETURN(proto::Network net, ParseNetworkText(text, "model.pbtxt"));
//   SLAYER_ASSIGN_OR_RETURN(NetworkSpec spec, BuildNetworkSpec(net));
//   for (const LayerSpec& l : spec.layers)
//     std::cout << l.layer.name() << " " << ShapeString(l.out_shape) << "\n";
#ifndef SLAYER_PROTO_CONFIG_H_
#define SLAYER_PROTO_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "slayer/core/tensor.h"
#include "slayer/proto/network.pb.h"
#include "slayer/proto/train.pb.h"

namespace slayer {
namespace config {

// One layer with every default resolved and its shapes inferred.
struct LayerSpec {
  proto::Layer layer;  // name always set
  Shape in_shape;      // [C, H, W]
  Shape out_shape;     // [C, H, W]
  bool spiking = false;  // followed by psp + spike
};

struct NetworkSpec {
  double ts_ms = 1.0;
  double sample_ms = 300.0;
  int64_t steps = 300;  // T = round(sample_ms / ts_ms)
  proto::SrmNeuron srm;  // defaults filled in
  Shape input_shape;     // [C, H, W]
  std::vector<LayerSpec> layers;
  Shape output_shape() const { return layers.empty() ? input_shape : layers.back().out_shape; }
};

// Text format → message; errors carry `source` and line:column.
absl::StatusOr<proto::Network> ParseNetworkText(absl::string_view text,
                                                const std::string& source);
absl::StatusOr<proto::Training> ParseTrainingText(absl::string_view text,
                                                  const std::string& source);
absl::StatusOr<proto::Network> ReadNetworkFile(const std::string& path);
// Also loads `model:` (relative to the config's folder) into `network`.
absl::StatusOr<proto::Training> ReadTrainingFile(const std::string& path);

// The paper's shorthand ("28x28-12c5-2a-64c5-2a-10o") → input [C, H, W] and
// explicit layers (unnamed: BuildNetworkSpec names them).
absl::Status ExpandArch(absl::string_view arch, Shape* input_shape,
                        std::vector<proto::Layer>* layers);

// Validates and expands a network: defaults, names, shapes.
absl::StatusOr<NetworkSpec> BuildNetworkSpec(const proto::Network& network);

// Validates a training config against its network (loss region inside the
// sample, positive batch size, optimiser hyper-parameters, data paths set).
absl::Status ValidateTraining(const proto::Training& training, const NetworkSpec& spec);

}  // namespace config
}  // namespace slayer

#endif  // SLAYER_PROTO_CONFIG_H_
