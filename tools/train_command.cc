// `slayer train` and `slayer eval`.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "slayer/core/npy.h"
#include "slayer/core/status.h"
#include "slayer/proto/config.h"
#include "slayer/train/trainer.h"
#include "tools/command_flags.h"
#include "tools/commands.h"
#include "tools/default_config.h"

namespace slayer {
namespace tools {
namespace {

// Relative paths are relative to where the user ran the command, also under
// `bazel run` (which changes into the runfiles tree).
std::string UserPath(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  if (const char* dir = std::getenv("BUILD_WORKING_DIRECTORY")) return std::string(dir) + "/" + path;
  return path;
}

std::string BaseName(const std::string& path) {
  std::string base = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
  return base.substr(0, base.rfind('.'));
}

absl::StatusOr<Device> ParseDevice(const std::string& name) {
  if (name == "cpu") return Device::kCpu;
  if (name == "cuda") return Device::kCuda;
  return absl::InvalidArgumentError(absl::StrCat("--device must be cpu or cuda, got '", name, "'"));
}

absl::StatusOr<proto::Training> LoadConfig(const std::string& path) {
  if (path.empty()) {
    return config::ParseTrainingText(kDefaultTrainingConfig, kDefaultTrainingConfigName);
  }
  return config::ReadTrainingFile(UserPath(path));
}

int Report(const char* command, const absl::Status& s) {
  std::fprintf(stderr, "slayer %s: %s\n", command, std::string(s.message()).c_str());
  return 1;
}

}  // namespace

int RunTrainCommand(const std::vector<std::string>& args) {
  CommandFlags flags(
      "train", "[--config C.pbtxt] [--out RUN] [--resume] [--device cpu|cuda]",
      absl::StrCat("Trains a network. Without --config, trains the built-in default:\n",
                   kDefaultTrainingConfigName,
                   " (a spiking MLP on Fashion-MNIST from /usr/share/datasets/fashion-mnist).\n"
                   "The run folder gets metrics.csv, params.npz, best.npz, checkpoint.npz,\n"
                   "config.pbtxt, learning_curve.png and raster.png."));
  std::string config_path, out, device_name = "cpu";
  bool resume = false, pictures = true;
  int64_t epochs = 0, threads = 0, max_batches = 0;
  double progress_s = 10, checkpoint_s = 10;
  flags.String("config", &config_path, "training config (protobuf text)");
  flags.String("out", &out, "run folder (default: runs/<config name>)");
  flags.Bool("resume", &resume, "continue from RUN/checkpoint.npz");
  flags.String("device", &device_name, "cpu or cuda");
  flags.Int("epochs", &epochs, "override the config's epochs (0: keep)");
  flags.Int("threads", &threads, "worker threads (0: config, else all cores)");
  flags.Int("max_batches", &max_batches, "limit batches per epoch (0: all), for quick runs");
  flags.Double("progress_s", &progress_s, "seconds between progress lines when not a terminal");
  flags.Double("checkpoint_s", &checkpoint_s,
               "seconds between checkpoint/metrics writes (0: every epoch)");
  flags.Bool("pictures", &pictures, "write learning_curve.png and raster.png");
  int exit_code;
  if (!flags.Parse(args, &exit_code)) return exit_code;
  if (!flags.positional().empty()) {
    return flags.Fail("unexpected argument '" + flags.positional()[0] + "'");
  }
  absl::StatusOr<Device> device = ParseDevice(device_name);
  if (!device.ok()) return flags.Fail(std::string(device.status().message()));
  absl::StatusOr<proto::Training> config = LoadConfig(config_path);
  if (!config.ok()) return Report("train", config.status());
  if (threads > 0) config->set_threads(static_cast<int32_t>(threads));
  train::TrainerOptions options;
  options.run_dir = UserPath(
      out.empty() ? "runs/" + BaseName(config_path.empty() ? kDefaultTrainingConfigName : config_path)
                  : out);
  options.resume = resume;
  options.device = *device;
  options.epochs = static_cast<int>(epochs);
  options.max_batches = max_batches;
  options.progress.plain_interval_s = progress_s;
  options.pictures = pictures;
  options.checkpoint_interval_s = checkpoint_s;
  absl::StatusOr<std::unique_ptr<train::Trainer>> trainer = train::Trainer::Create(*config, options);
  if (!trainer.ok()) return Report("train", trainer.status());
  const data::Dataset& ds = (*trainer)->train_dataset();
  std::printf("training %s: %lld train samples, batch %d, %d epochs, device %s -> %s\n",
              config_path.empty() ? kDefaultTrainingConfigName : config_path.c_str(),
              static_cast<long long>(ds.size()), config->batch_size(),
              epochs > 0 ? static_cast<int>(epochs) : config->epochs(), device_name.c_str(),
              options.run_dir.c_str());
  absl::StatusOr<train::TrainResult> result = (*trainer)->Train();
  if (!result.ok()) return Report("train", result.status());
  int64_t last_epoch = 0;
  double last_loss = 0, last_accuracy = -1;
  if (!result->history.empty()) {
    const MetricsRow& last = result->history.back();
    last_epoch = last.epoch;
    last_loss = last.train_loss.value_or(0);
    if (last.test_accuracy.has_value()) last_accuracy = last.test_accuracy.value();
  }
  std::string line = absl::StrFormat("result: %d epochs in %.1f s, final train loss %.4f",
                                     last_epoch, result->wall_s, last_loss);
  if (last_accuracy >= 0) {
    absl::StrAppendFormat(&line, ", test accuracy %.2f%% (best %.2f%%)", 100 * last_accuracy,
                          100 * result->best_test_accuracy);
  }
  std::printf("%s\nrun folder: %s\n", line.c_str(), options.run_dir.c_str());
  return 0;
}

int RunEvalCommand(const std::vector<std::string>& args) {
  CommandFlags flags("eval", "--config C.pbtxt --params P.npz [--device cpu|cuda]",
                     "Evaluates parameters on the config's test set (else its training set):\n"
                     "prints the mean loss per sample and the accuracy.");
  std::string config_path, params, device_name = "cpu";
  flags.String("config", &config_path, "training config (protobuf text); empty: the default");
  flags.String("params", &params, "parameters .npz");
  flags.String("device", &device_name, "cpu or cuda");
  int exit_code;
  if (!flags.Parse(args, &exit_code)) return exit_code;
  if (params.empty()) return flags.Fail("--params is required");
  absl::StatusOr<Device> device = ParseDevice(device_name);
  if (!device.ok()) return flags.Fail(std::string(device.status().message()));
  absl::StatusOr<proto::Training> config = LoadConfig(config_path);
  if (!config.ok()) return Report("eval", config.status());
  train::TrainerOptions options;
  options.device = *device;
  absl::StatusOr<std::unique_ptr<train::Trainer>> trainer = train::Trainer::Create(*config, options);
  if (!trainer.ok()) return Report("eval", trainer.status());
  absl::StatusOr<NpzMap> arrays = ReadNpz(UserPath(params));
  if (!arrays.ok()) return Report("eval", arrays.status());
  absl::Status s = (*trainer)->network().ImportParams(*arrays, params);
  if (!s.ok()) return Report("eval", s);
  absl::StatusOr<train::EvalResult> r = (*trainer)->Evaluate((*trainer)->eval_dataset());
  if (!r.ok()) return Report("eval", r.status());
  std::printf("samples=%lld\nloss=%.6f\n", static_cast<long long>(r->samples), r->loss);
  if (r->accuracy >= 0) std::printf("accuracy=%.4f\n", r->accuracy);
  std::printf("samples_per_s=%.1f\n", r->samples_per_s);
  return 0;
}

}  // namespace tools
}  // namespace slayer
