#include "slayer/data/idx.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "slayer/core/file.h"
#include "slayer/core/status.h"
#include "slayer/data/byte_reader.h"
#include "slayer/data/gzip.h"

namespace slayer {
namespace data {
namespace {

absl::StatusOr<IdxArray> ParseRawIdx(absl::string_view bytes, absl::string_view name) {
  ByteReader r(bytes, name);
  SLAYER_RETURN_IF_ERROR(r.Need(4, "IDX magic (00 00 type rank)"));
  const uint8_t zero0 = r.U8(), zero1 = r.U8();
  if (zero0 != 0 || zero1 != 0) {
    return DataError(name, 0,
                     absl::StrCat("not an IDX file: expected magic bytes 00 00, found ",
                                  zero0, " ", zero1));
  }
  const uint8_t type = r.U8();
  if (type != kIdxUByte) {
    return DataError(name, 2,
                     absl::StrCat("unsupported IDX element type 0x", absl::Hex(type),
                                  ", expected 0x08 (unsigned byte)"));
  }
  const uint8_t rank = r.U8();
  if (rank == 0) return DataError(name, 3, "IDX rank is 0, expected at least 1 dimension");
  SLAYER_RETURN_IF_ERROR(r.Need(uint64_t{4} * rank, absl::StrCat(int{rank}, " IDX dimensions")));
  IdxArray out;
  // Saturating product, so absurd dimensions cannot overflow.
  constexpr uint64_t kHuge = uint64_t{1} << 62;
  uint64_t numel = 1;
  bool has_zero = false;
  for (int i = 0; i < rank; ++i) {
    const uint32_t d = r.U32BE();
    out.shape.push_back(d);
    if (d == 0) has_zero = true;
    else if (numel <= kHuge / d) numel *= d;
    else numel = kHuge + 1;
  }
  if (has_zero) numel = 0;
  if (numel > r.remaining()) {
    return r.Error(absl::StrCat("truncated IDX data: shape ", ShapeString(out.shape), " needs ",
                                numel > kHuge ? std::string("over 2^62") : absl::StrCat(numel),
                                " bytes, only ", r.remaining(), " left"));
  }
  if (numel < r.remaining()) {
    return DataError(name, r.offset() + numel,
                     absl::StrCat(r.remaining() - numel, " bytes after the end of the IDX data ",
                                  "(shape ", ShapeString(out.shape), ")"));
  }
  out.data = std::string(r.Bytes(numel));
  return out;
}

}  // namespace

absl::StatusOr<IdxArray> ParseIdx(absl::string_view bytes, absl::string_view name) {
  if (IsGzip(bytes)) {
    SLAYER_ASSIGN_OR_RETURN(std::string raw, Gunzip(bytes, name));
    return ParseRawIdx(raw, absl::StrCat(name, " (decompressed)"));
  }
  return ParseRawIdx(bytes, name);
}

absl::StatusOr<IdxArray> ReadIdx(const std::string& path) {
  SLAYER_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return ParseIdx(bytes, path);
}

std::string SerializeIdx(const IdxArray& array) {
  std::string out = {0, 0, static_cast<char>(kIdxUByte), static_cast<char>(array.shape.size())};
  for (int64_t d : array.shape) {
    const uint32_t v = static_cast<uint32_t>(d);
    const char be[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                        static_cast<char>(v >> 8), static_cast<char>(v)};
    out.append(be, 4);
  }
  out += array.data;
  return out;
}

}  // namespace data
}  // namespace slayer
