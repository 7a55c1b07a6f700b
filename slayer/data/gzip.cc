#include "slayer/data/gzip.h"

#include <zlib.h>

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "slayer/core/check.h"
#include "slayer/data/byte_reader.h"

namespace slayer {
namespace data {

bool IsGzip(absl::string_view bytes) {
  return bytes.size() >= 2 && static_cast<uint8_t>(bytes[0]) == 0x1f &&
         static_cast<uint8_t>(bytes[1]) == 0x8b;
}

absl::StatusOr<std::string> Gunzip(absl::string_view bytes, absl::string_view name,
                                   uint64_t max_bytes) {
  if (!IsGzip(bytes)) return DataError(name, 0, "not a gzip stream: expected magic 1f 8b");
  std::string out;
  z_stream zs{};
  // 16 + MAX_WBITS: gzip wrapper only.
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
    return absl::InternalError(absl::StrCat(name, ": inflateInit2 failed"));
  }
  uint64_t in_pos = 0;
  char buf[1 << 16];
  int rc = Z_OK;
  for (;;) {
    if (zs.avail_in == 0 && in_pos < bytes.size()) {
      const uint64_t chunk =
          std::min<uint64_t>(bytes.size() - in_pos, std::numeric_limits<uInt>::max());
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data() + in_pos));
      zs.avail_in = static_cast<uInt>(chunk);
      in_pos += chunk;
    }
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    const uint64_t produced = sizeof(buf) - zs.avail_out;
    if (out.size() + produced > max_bytes) {
      inflateEnd(&zs);
      return DataError(name, zs.total_in,
                       absl::StrCat("gzip stream inflates past the limit of ", max_bytes,
                                    " bytes"));
    }
    out.append(buf, produced);
    if (rc == Z_STREAM_END) {
      // Another member may follow (gzip allows concatenation).
      const uint64_t consumed = in_pos - zs.avail_in;
      if (consumed < bytes.size() && IsGzip(bytes.substr(consumed))) {
        inflateReset(&zs);
        continue;
      }
      break;
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0 && in_pos >= bytes.size()) {
      const uint64_t at = bytes.size();
      inflateEnd(&zs);
      return DataError(name, at, "truncated gzip stream: input ended before the end marker");
    }
    const bool stuck = rc == Z_BUF_ERROR && zs.avail_in > 0 && produced == 0;
    if ((rc != Z_OK && rc != Z_BUF_ERROR) || stuck) {
      const uint64_t at = in_pos - zs.avail_in;
      std::string msg = zs.msg ? zs.msg : "error";
      inflateEnd(&zs);
      return DataError(name, at, absl::StrCat("corrupt gzip stream: ", msg));
    }
  }
  inflateEnd(&zs);
  return out;
}

std::string Gzip(absl::string_view bytes) {
  SLAYER_CHECK(bytes.size() < (uint64_t{1} << 32)) << "Gzip input over 4 GiB";
  z_stream zs{};
  SLAYER_CHECK(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out;
  out.resize(deflateBound(&zs, bytes.size()) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  zs.avail_in = static_cast<uInt>(bytes.size());
  zs.next_out = reinterpret_cast<Bytef*>(&out[0]);
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  SLAYER_CHECK(rc == Z_STREAM_END) << "deflate: " << rc;
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

}  // namespace data
}  // namespace slayer
