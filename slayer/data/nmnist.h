// The NMNIST folder layout used by slayerPytorch's examples: one event file
// per sample, `<folder>/<id>.bs2` (NMNIST `.bin` content), and a label list
// with one `<id> <class>` row per sample (lines starting with '#', such as the
// "#sample #class" header, are comments). Files are read and binned on each
// Get, so a 60000-sample split costs no memory up front.
//
//   NmnistOptions opt;                     // 2 x 34 x 34 x 300 at Ts = 1 ms, OR
//   opt.tensor.max_jitter = 1;             // augmentation when Get has an rng
//   SLAYER_ASSIGN_OR_RETURN(std::unique_ptr<NmnistDataset> train,
//       NmnistDataset::Open("NMNISTsmall/", "NMNISTsmall/train1K.txt", opt));
#ifndef SLAYER_DATA_NMNIST_H_
#define SLAYER_DATA_NMNIST_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "slayer/data/dataset.h"
#include "slayer/data/encoder.h"
#include "slayer/data/event.h"

namespace slayer {
namespace data {

struct SampleEntry {
  int64_t id = 0;
  int label = 0;
};
// Parses a label list: rows of two integers `id class` separated by blanks,
// tabs or a comma; '#' lines and blank lines are skipped. Errors name `name`
// and the line. Labels must lie in [0, num_classes).
absl::StatusOr<std::vector<SampleEntry>> ParseSampleList(absl::string_view text,
                                                         absl::string_view name,
                                                         int num_classes);

struct NmnistOptions {
  EventTensorOptions tensor;  // defaults: 2 x 34 x 34, 300 steps of 1 ms, OR
  int num_classes = 10;
  // Sample files are `<folder>/<id><extension>`; .bs2 and .bin are decoded as
  // .bs2, .bs1 and .bs3 as those formats.
  std::string extension = ".bs2";
  // Check at Open that every listed file exists (one stat per sample).
  bool check_files = true;
};

class NmnistDataset : public Dataset {
 public:
  static absl::StatusOr<std::unique_ptr<NmnistDataset>> Open(const std::string& folder,
                                                             const std::string& list_path,
                                                             const NmnistOptions& options);

  int64_t size() const override { return static_cast<int64_t>(entries_.size()); }
  int num_classes() const override { return options_.num_classes; }
  Shape sample_shape() const override { return options_.tensor.shape(); }
  // Errors name the sample file and the byte offset of the bad record.
  absl::Status Get(int64_t index, Rng* rng, Tensor* out, int* label) const override;
  absl::StatusOr<int> Label(int64_t index) const override;

  std::string SamplePath(int64_t index) const;
  absl::StatusOr<EventStream> Events(int64_t index) const;

 private:
  enum class Format { kBs1, kBs2, kBs3 };
  NmnistDataset(std::string folder, std::vector<SampleEntry> entries,
                const NmnistOptions& options, Format format)
      : folder_(std::move(folder)),
        entries_(std::move(entries)),
        options_(options),
        format_(format) {}

  std::string folder_;
  std::vector<SampleEntry> entries_;
  NmnistOptions options_;
  Format format_;
};

}  // namespace data
}  // namespace slayer

#endif  // SLAYER_DATA_NMNIST_H_
