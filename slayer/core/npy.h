// NumPy .npy arrays and .npz archives (zip of .npy members, stored or
// deflated). Parameters, `slayer inspect` outputs and event arrays use them,
// so weights move to and from PyTorch/NumPy.
//
//   SLAYER_ASSIGN_OR_RETURN(NpzMap params, ReadNpz("run/params.npz"));
//   SLAYER_ASSIGN_OR_RETURN(Tensor w, params.at("fc1/weight").ToTensor());
//   NpzMap out;  out["fc1/weight"] = NpyArray::FromTensor(w);
//   SLAYER_RETURN_IF_ERROR(WriteNpz("out.npz", out));   // atomic
#ifndef SLAYER_CORE_NPY_H_
#define SLAYER_CORE_NPY_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "slayer/core/tensor.h"

namespace slayer {

enum class NpyDType {
  kBool, kInt8, kUInt8, kInt16, kUInt16, kInt32, kUInt32, kInt64, kUInt64,
  kFloat32, kFloat64,
};
const char* NpyDTypeName(NpyDType dtype);  // "float32", "int64", ...
size_t NpyDTypeSize(NpyDType dtype);

// A C-order array of one dtype, its elements as little-endian bytes.
struct NpyArray {
  NpyDType dtype = NpyDType::kFloat32;
  Shape shape;
  std::string data;

  int64_t numel() const { return NumElements(shape); }
  // Any numeric dtype converted to float32 (host).
  absl::StatusOr<Tensor> ToTensor() const;
  // Any numeric dtype converted to int64.
  absl::StatusOr<std::vector<int64_t>> ToInt64() const;

  static NpyArray FromTensor(const Tensor& t);  // host tensor, float32
  static NpyArray FromInt64(Shape shape, const std::vector<int64_t>& values);
  static NpyArray Scalar(float value);  // shape ()
};

// Reads format versions 1.0, 2.0 and 3.0; big-endian data is byte-swapped
// and Fortran-order data transposed, so the result is always C-order
// little-endian. `name` appears in error messages (a file path or an archive
// member), with the byte offset and what was expected.
absl::StatusOr<NpyArray> ParseNpy(absl::string_view bytes, const std::string& name);
// Version 1.0 (2.0 only for headers over 64 KiB), byte-identical to numpy's
// np.save: header padded with spaces and '\n' to a multiple of 64 bytes.
std::string SerializeNpy(const NpyArray& array);
absl::StatusOr<NpyArray> ReadNpy(const std::string& path);
absl::Status WriteNpy(const std::string& path, const NpyArray& array);  // atomic

// Keys are member names without the ".npy" suffix ("fc1/weight").
// ParseNpz reads the central directory and each member's local header (zip64
// included), inflates deflated members with zlib and verifies every CRC-32.
// SerializeNpz writes stored (or deflated) members with fixed 1980-01-01
// timestamps, so equal maps give equal bytes; numpy.load reads them.
using NpzMap = std::map<std::string, NpyArray>;
absl::StatusOr<NpzMap> ParseNpz(absl::string_view bytes, const std::string& name);
std::string SerializeNpz(const NpzMap& arrays, bool compress = false);
absl::StatusOr<NpzMap> ReadNpz(const std::string& path);
absl::Status WriteNpz(const std::string& path, const NpzMap& arrays,
                      bool compress = false);  // atomic

namespace internal {
// SerializeNpz that can force zip64 records (normally only used beyond 4 GiB
// or 65535 members), so tests can cover them with small archives.
std::string SerializeNpz(const NpzMap& arrays, bool compress, bool force_zip64);
}  // namespace internal

}  // namespace slayer

#endif  // SLAYER_CORE_NPY_H_
