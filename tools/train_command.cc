// `slayer train` and `slayer eval`.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "slayer/core/npy.h"
#include "slayer/core/status.h"
#include "slayer/ops/gemm.h"
#include "slayer/proto/config.h"
#include "slayer/train/mpi_communicator.h"
#include "slayer/train/nccl_communicator.h"
#include "slayer/train/plot.h"
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
      "train", "[--config C.pbtxt] [--out RUN] [--resume] [--device cpu|cuda] [--distributed]",
      absl::StrCat("Trains a network. Without --config, trains the built-in default:\n",
                   kDefaultTrainingConfigName,
                   " (a spiking MLP on Fashion-MNIST from /usr/share/datasets/fashion-mnist).\n"
                   "The run folder gets metrics.csv, params.npz, best.npz, checkpoint.npz,\n"
                   "config.pbtxt, learning_curve.png, raster.png and (classifiers with a test\n"
                   "set) confusion.png of the last evaluation.\n"
                   "Data-parallel on N processes or machines (MPI; NCCL with --device cuda):\n"
                   "  mpirun -np N [--hostfile hosts] slayer train --config C --distributed"));
  std::string config_path, out, device_name = "cpu";
  bool resume = false, pictures = true, distributed = false;
  int64_t epochs = 0, threads = 0, max_batches = 0;
  double progress_s = 10, checkpoint_s = 60;
  flags.String("config", &config_path, "training config (protobuf text)");
  flags.String("out", &out, "run folder (default: runs/<config name>)");
  flags.Bool("resume", &resume, "continue from RUN/checkpoint.npz");
  flags.String("device", &device_name, "cpu or cuda");
  flags.Int("epochs", &epochs, "override the config's epochs (0: keep)");
  flags.Int("threads", &threads, "worker threads (0: config, else all cores)");
  flags.Int("max_batches", &max_batches, "limit batches per epoch (0: all), for quick runs");
  flags.Double("progress_s", &progress_s, "seconds between progress lines when not a terminal");
  flags.Double("checkpoint_s", &checkpoint_s,
               "seconds between checkpoints (taken after a batch, so --resume continues "
               "within an epoch; 0: at the end of every epoch only)");
  flags.Bool("pictures", &pictures, "write learning_curve.png and raster.png");
  flags.Bool("distributed", &distributed,
             "one rank of an MPI job (start with mpirun); the config's batch_size is per rank; "
             "collectives time out after SLAYER_MPI_TIMEOUT_S (120) seconds");
  int exit_code;
  if (!flags.Parse(args, &exit_code)) return exit_code;
  if (!flags.positional().empty()) {
    return flags.Fail("unexpected argument '" + flags.positional()[0] + "'");
  }
  absl::StatusOr<Device> device = ParseDevice(device_name);
  if (!device.ok()) return flags.Fail(std::string(device.status().message()));
  if (max_batches < 0) {
    return flags.Fail(absl::StrCat("--max_batches: expected an integer >= 0, got ", max_batches));
  }
  if (epochs < 0 || epochs >= std::numeric_limits<int>::max()) {
    return flags.Fail(absl::StrCat("--epochs: expected an integer in [0, ",
                                   std::numeric_limits<int>::max(), "), got ", epochs));
  }
  if (!(checkpoint_s >= 0) || std::isinf(checkpoint_s)) {
    return flags.Fail(absl::StrCat("--checkpoint_s: expected finite seconds >= 0, got ",
                                   checkpoint_s));
  }

  // MPI starts before anything that can fail on one rank alone, so that such
  // a failure ends the whole job instead of leaving the others waiting in a
  // collective. Declared in this order so that they end in reverse.
  std::unique_ptr<train::MpiSession> mpi;
  std::unique_ptr<train::MpiCommunicator> mpi_comm;
  std::unique_ptr<train::NcclCommunicator> nccl;
  auto fail = [&](const absl::Status& s) {
    if (mpi != nullptr && mpi->world_size() > 1) {
      std::fprintf(stderr, "slayer train: rank %d of %d (host %s): %s\n", mpi->world_rank(),
                   mpi->world_size(), mpi->host().c_str(), std::string(s.message()).c_str());
      mpi->Abort(1);
    }
    return Report("train", s);
  };
  train::TrainerOptions options;
  if (distributed) {
    absl::StatusOr<std::unique_ptr<train::MpiSession>> session = train::MpiSession::Start();
    if (!session.ok()) return Report("train", session.status());
    mpi = *std::move(session);
    absl::StatusOr<train::MpiOptions> mpi_options = train::MpiOptions::FromEnvironment();
    if (!mpi_options.ok()) return fail(mpi_options.status());
    absl::StatusOr<std::unique_ptr<train::MpiCommunicator>> comm =
        train::MpiCommunicator::Create(*mpi, *mpi_options);
    if (!comm.ok()) return fail(comm.status());
    mpi_comm = *std::move(comm);
    options.comm = mpi_comm.get();
    if (*device == Device::kCuda) {
      absl::StatusOr<std::unique_ptr<train::NcclCommunicator>> n =
          train::NcclCommunicator::Create(mpi_comm.get());
      if (!n.ok()) return fail(n.status());
      nccl = *std::move(n);
      options.comm = nccl.get();
    }
  }
  const bool root = mpi == nullptr || mpi->world_rank() == 0;
  absl::StatusOr<proto::Training> config = LoadConfig(config_path);
  if (!config.ok()) return fail(config.status());
  if (threads > 0) config->set_threads(static_cast<int32_t>(threads));
  if (mpi_comm != nullptr && mpi_comm->local_size() > 1 && config->threads() <= 0) {
    // Ranks on one host share its cores.
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    config->set_threads(std::max(1, cores / mpi_comm->local_size()));
  }
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
  if (!trainer.ok()) return fail(trainer.status());
  const data::Dataset& ds = (*trainer)->train_dataset();
  if (root) {
    std::printf("training %s: %lld train samples, batch %d, %d epochs, device %s -> %s\n",
                config_path.empty() ? kDefaultTrainingConfigName : config_path.c_str(),
                static_cast<long long>(ds.size()), config->batch_size(),
                epochs > 0 ? static_cast<int>(epochs) : config->epochs(), device_name.c_str(),
                options.run_dir.c_str());
    if (options.device == Device::kCpu) {
      std::printf("  CPU GEMM: %s\n", ops::internal::GemmPathDescription());
    }
    if (mpi_comm != nullptr) {
      std::printf("distributed: %d rank(s), global batch %lld, %d thread(s) per rank, %s\n",
                  mpi_comm->size(),
                  static_cast<long long>(config->batch_size()) * mpi_comm->size(),
                  config->threads() > 0 ? config->threads()
                                        : static_cast<int>(std::thread::hardware_concurrency()),
                  nccl != nullptr ? "gradients summed by NCCL" : "gradients summed by MPI");
    }
    std::fflush(stdout);
  }
  absl::StatusOr<train::TrainResult> result = (*trainer)->Train();
  if (!result.ok()) return fail(result.status());
  if (!root) return 0;
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
  if (mpi_comm != nullptr) {
    // Parseable: samples_per_s of the last epoch; the share of training-step
    // time spent in the gradient all-reduce, and in the metrics sum (which
    // also waits for the slowest rank).
    const double step_s = std::max(1e-9, result->step_s);
    std::printf("samples_per_s=%.1f allreduce_share=%.4f sync_share=%.4f step_s=%.3f\n",
                result->history.empty() ? 0.0 : result->history.back().samples_per_s.value_or(0),
                result->allreduce_s / step_s, result->sync_s / step_s, result->step_s);
  }
  return 0;
}

namespace {

// ties=N, then per class its samples and accuracy, then the matrix.
void PrintConfusion(const train::EvalResult& r) {
  const int64_t c = r.classes;
  std::printf("ties=%lld\n", static_cast<long long>(r.ties));
  std::printf("\nclass  samples  accuracy\n");
  for (int64_t k = 0; k < c; ++k) {
    int64_t total = 0;
    for (int64_t j = 0; j < c; ++j) total += r.confusion[k * c + j];
    std::printf("%5lld  %7lld  ", static_cast<long long>(k), static_cast<long long>(total));
    if (total > 0) {
      std::printf("%7.2f%%\n", 100.0 * static_cast<double>(r.confusion[k * c + k]) / total);
    } else {
      std::printf("      -\n");
    }
  }
  if (c > 32) return;  // too wide to read
  std::printf("\nconfusion (rows: label, columns: predicted)\n label");
  for (int64_t j = 0; j < c; ++j) std::printf(" %6lld", static_cast<long long>(j));
  std::printf("\n");
  for (int64_t k = 0; k < c; ++k) {
    std::printf("%6lld", static_cast<long long>(k));
    for (int64_t j = 0; j < c; ++j) {
      std::printf(" %6lld", static_cast<long long>(r.confusion[k * c + j]));
    }
    std::printf("\n");
  }
}

}  // namespace

int RunEvalCommand(const std::vector<std::string>& args) {
  CommandFlags flags("eval", "--config C.pbtxt --params P.npz [--device cpu|cuda]",
                     "Evaluates parameters on the config's test set (else its training set):\n"
                     "prints the mean loss per sample and the accuracy; for classifiers also\n"
                     "each class's accuracy, the confusion matrix (rows: label, columns:\n"
                     "predicted) and how many predictions were ties of the largest spike count\n"
                     "(decided by the lowest class index; a silent output is a tie at 0).");
  std::string config_path, params, device_name = "cpu", confusion_png;
  flags.String("config", &config_path, "training config (protobuf text); empty: the default");
  flags.String("params", &params, "parameters .npz");
  flags.String("device", &device_name, "cpu or cuda");
  flags.String("confusion_png", &confusion_png, "also draw the confusion matrix into this PNG");
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
  if (r->classes > 0) PrintConfusion(*r);
  if (!confusion_png.empty()) {
    if (r->classes == 0) {
      return Report("eval", absl::InvalidArgumentError(
                                "--confusion_png: the config's loss does not classify"));
    }
    s = WriteConfusionPng(UserPath(confusion_png), r->confusion, r->classes);
    if (!s.ok()) return Report("eval", s);
    std::printf("confusion_png=%s\n", confusion_png.c_str());
  }
  return 0;
}

}  // namespace tools
}  // namespace slayer
