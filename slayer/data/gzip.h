// gzip (RFC 1952) compression and decompression through zlib, for the
// gzipped IDX files that MNIST and Fashion-MNIST ship as.
//
//   if (IsGzip(bytes)) {
//     SLAYER_ASSIGN_OR_RETURN(bytes, Gunzip(bytes, path));
//   }
#ifndef SLAYER_DATA_GZIP_H_
#define SLAYER_DATA_GZIP_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace slayer {
namespace data {

// True when `bytes` starts with the gzip magic 1f 8b.
bool IsGzip(absl::string_view bytes);

// Decompresses a gzip stream (concatenated members too). Fails, naming
// `name` and the compressed byte offset, on corrupt or truncated input or
// when the output would exceed `max_bytes`.
absl::StatusOr<std::string> Gunzip(absl::string_view bytes, absl::string_view name,
                                   uint64_t max_bytes = uint64_t{8} << 30);

// gzip-compresses `bytes` (level 6).
std::string Gzip(absl::string_view bytes);

}  // namespace data
}  // namespace slayer

#endif  // SLAYER_DATA_GZIP_H_
