// IDX files (the MNIST / Fashion-MNIST container), raw or gzipped: a 4-byte
// magic (0, 0, type, rank), `rank` big-endian u32 dimensions, then the
// elements in C order. Only unsigned bytes (type 0x08, what MNIST uses) are
// supported.
//
//   SLAYER_ASSIGN_OR_RETURN(IdxArray images, ReadIdx(dir + "/train-images-idx3-ubyte.gz"));
//   // images.shape == {60000, 28, 28}; images.data[i] is pixel i (0..255)
#ifndef SLAYER_DATA_IDX_H_
#define SLAYER_DATA_IDX_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "slayer/core/tensor.h"

namespace slayer {
namespace data {

inline constexpr uint8_t kIdxUByte = 0x08;

struct IdxArray {
  Shape shape;
  std::string data;  // numel() unsigned bytes

  int64_t numel() const { return NumElements(shape); }
  const uint8_t* bytes() const { return reinterpret_cast<const uint8_t*>(data.data()); }
};

// Parses an IDX file, gunzipping first when it starts with the gzip magic.
// Errors name `name`, the byte offset (in the decompressed stream for gzipped
// input) and what was expected: wrong magic, unsupported type, truncated or
// over-long data.
absl::StatusOr<IdxArray> ParseIdx(absl::string_view bytes, absl::string_view name);
absl::StatusOr<IdxArray> ReadIdx(const std::string& path);

// The raw (uncompressed) IDX encoding of `array`.
std::string SerializeIdx(const IdxArray& array);

}  // namespace data
}  // namespace slayer

#endif  // SLAYER_DATA_IDX_H_
