#include "slayer/core/npy.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <set>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "slayer/core/check.h"
#include "slayer/core/file.h"
#include "slayer/core/status.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "npy.cc stores elements as host (little-endian) bytes");

namespace slayer {
namespace {

// ---------------------------------------------------------------------------
// Little-endian byte access. Callers check bounds first.

uint16_t Le16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(u[0] | (u[1] << 8));
}
uint32_t Le32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(u[0]) | (static_cast<uint32_t>(u[1]) << 8) |
         (static_cast<uint32_t>(u[2]) << 16) | (static_cast<uint32_t>(u[3]) << 24);
}
uint64_t Le64(const char* p) {
  return static_cast<uint64_t>(Le32(p)) | (static_cast<uint64_t>(Le32(p + 4)) << 32);
}
void Put16(std::string* s, uint16_t v) {
  s->push_back(static_cast<char>(v & 0xff));
  s->push_back(static_cast<char>(v >> 8));
}
void Put32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void Put64(std::string* s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// True when [offset, offset + len) lies inside a buffer of `size` bytes.
bool InBounds(uint64_t offset, uint64_t len, uint64_t size) {
  return offset <= size && len <= size - offset;
}

// Printable rendering of a few bytes for error messages.
std::string Quote(absl::string_view s, size_t max = 16) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    }
  }
  if (s.size() > max) out += "...";
  return absl::StrCat("\"", out, "\"");
}

// ---------------------------------------------------------------------------
// dtypes

struct DTypeInfo {
  NpyDType dtype;
  char kind;  // 'b' bool, 'i' signed, 'u' unsigned, 'f' float
  size_t size;
  const char* name;
};

constexpr DTypeInfo kDTypes[] = {
    {NpyDType::kBool, 'b', 1, "bool"},       {NpyDType::kInt8, 'i', 1, "int8"},
    {NpyDType::kUInt8, 'u', 1, "uint8"},     {NpyDType::kInt16, 'i', 2, "int16"},
    {NpyDType::kUInt16, 'u', 2, "uint16"},   {NpyDType::kInt32, 'i', 4, "int32"},
    {NpyDType::kUInt32, 'u', 4, "uint32"},   {NpyDType::kInt64, 'i', 8, "int64"},
    {NpyDType::kUInt64, 'u', 8, "uint64"},   {NpyDType::kFloat32, 'f', 4, "float32"},
    {NpyDType::kFloat64, 'f', 8, "float64"},
};

const DTypeInfo& Info(NpyDType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) return info;
  }
  SLAYER_CHECK(false) << "unknown NpyDType " << static_cast<int>(dtype);
  return kDTypes[0];
}

// The numpy descr of a dtype as this library writes it ('<f4', '|u1').
std::string Descr(NpyDType dtype) {
  const DTypeInfo& info = Info(dtype);
  return absl::StrCat(info.size == 1 ? "|" : "<", std::string(1, info.kind), info.size);
}

constexpr char kSupportedDescrs[] =
    "'|b1', '|i1', '|u1', '<i2', '<u2', '<i4', '<u4', '<i8', '<u8', '<f4', '<f8' "
    "(either byte order)";

// Parses a descr such as '<f4' or '>i8'; `*swap` is set for big-endian data.
absl::StatusOr<NpyDType> ParseDescr(const std::string& descr, bool* swap,
                                    const std::string& where) {
  absl::string_view d = descr;
  char order = '=';
  if (!d.empty() && (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=')) {
    order = d[0];
    d.remove_prefix(1);
  }
  if (d.size() == 2 && d[1] >= '1' && d[1] <= '8') {
    const char kind = d[0];
    const size_t size = static_cast<size_t>(d[1] - '0');
    for (const DTypeInfo& info : kDTypes) {
      if (info.kind == kind && info.size == size) {
        *swap = order == '>' && size > 1;
        return info.dtype;
      }
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": unsupported dtype descr '", descr, "', expected one of ",
                   kSupportedDescrs));
}

void ByteSwapElements(std::string* data, size_t item) {
  for (size_t i = 0; i + item <= data->size(); i += item) {
    std::reverse(data->begin() + i, data->begin() + i + item);
  }
}

// Reorders a Fortran-order (column-major) buffer into C order.
std::string FortranToC(const std::string& data, const Shape& shape, size_t item) {
  const int rank = static_cast<int>(shape.size());
  const int64_t n = NumElements(shape);
  if (rank <= 1 || n == 0) return data;
  std::vector<int64_t> fstride(rank);  // in elements
  int64_t s = 1;
  for (int k = 0; k < rank; ++k) {
    fstride[k] = s;
    s *= shape[k];
  }
  std::string out(data.size(), '\0');
  std::vector<int64_t> index(rank, 0);
  int64_t f = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(&out[static_cast<size_t>(i) * item], &data[static_cast<size_t>(f) * item], item);
    // Advance the C-order multi-index (last dimension fastest).
    for (int k = rank - 1; k >= 0; --k) {
      if (++index[k] < shape[k]) {
        f += fstride[k];
        break;
      }
      f -= fstride[k] * (shape[k] - 1);
      index[k] = 0;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// .npy header: a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }

class HeaderParser {
 public:
  HeaderParser(absl::string_view text, size_t base, const std::string& name)
      : text_(text), base_(base), name_(name) {}

  absl::Status Parse(std::string* descr, bool* fortran, Shape* shape) {
    std::set<std::string> seen;
    SLAYER_RETURN_IF_ERROR(Expect('{'));
    for (;;) {
      SkipSpace();
      if (Peek() == '}') {
        ++pos_;
        break;
      }
      const size_t key_pos = pos_;
      std::string key;
      SLAYER_RETURN_IF_ERROR(ParseString(&key));
      SLAYER_RETURN_IF_ERROR(Expect(':'));
      SkipSpace();
      if (key == "descr") {
        if (Peek() == '[') {
          return Error("structured dtypes (a list as 'descr') are not supported; expected "
                       "a plain numeric dtype");
        }
        SLAYER_RETURN_IF_ERROR(ParseString(descr));
      } else if (key == "fortran_order") {
        SLAYER_RETURN_IF_ERROR(ParseBool(fortran));
      } else if (key == "shape") {
        SLAYER_RETURN_IF_ERROR(ParseShape(shape));
      } else {
        pos_ = key_pos;
        return Error(absl::StrCat("unexpected key '", key,
                                  "', expected only 'descr', 'fortran_order', 'shape'"));
      }
      if (!seen.insert(key).second) {
        pos_ = key_pos;
        return Error(absl::StrCat("duplicate key '", key, "'"));
      }
      SkipSpace();
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      SLAYER_RETURN_IF_ERROR(Expect('}'));
      break;
    }
    for (const char* k : {"descr", "fortran_order", "shape"}) {
      if (seen.count(k) == 0) {
        return Error(absl::StrCat("missing key '", k, "'"));
      }
    }
    return absl::OkStatus();
  }

 private:
  char Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  absl::Status Error(const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat(
        name_, ": malformed .npy header at byte ", base_ + pos_, ": ", what, " (header ",
        Quote(text_, 80), ")"));
  }
  absl::Status Expect(char c) {
    SkipSpace();
    if (Peek() != c) {
      return Error(absl::StrCat("expected '", std::string(1, c), "', found ",
                                pos_ < text_.size() ? Quote(text_.substr(pos_, 1))
                                                    : std::string("end of header")));
    }
    ++pos_;
    return absl::OkStatus();
  }
  absl::Status ParseString(std::string* out) {
    SkipSpace();
    const char quote = Peek();
    if (quote != '\'' && quote != '"') return Error("expected a quoted string");
    const size_t start = ++pos_;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\') return Error("escapes in strings are not supported");
      ++pos_;
    }
    if (pos_ >= text_.size()) {
      pos_ = start - 1;
      return Error("unterminated string");
    }
    *out = std::string(text_.substr(start, pos_ - start));
    ++pos_;
    return absl::OkStatus();
  }
  absl::Status ParseBool(bool* out) {
    if (text_.substr(pos_, 4) == "True") {
      *out = true;
      pos_ += 4;
    } else if (text_.substr(pos_, 5) == "False") {
      *out = false;
      pos_ += 5;
    } else {
      return Error("expected True or False");
    }
    return absl::OkStatus();
  }
  absl::Status ParseShape(Shape* shape) {
    shape->clear();
    SLAYER_RETURN_IF_ERROR(Expect('('));
    for (;;) {
      SkipSpace();
      if (Peek() == ')') {
        ++pos_;
        break;
      }
      if (Peek() < '0' || Peek() > '9') return Error("expected a non-negative dimension");
      int64_t v = 0;
      while (Peek() >= '0' && Peek() <= '9') {
        if (v > (int64_t{1} << 56)) return Error("dimension too large");
        v = v * 10 + (Peek() - '0');
        ++pos_;
      }
      if (Peek() == 'L') ++pos_;  // Python 2 long literal
      shape->push_back(v);
      SkipSpace();
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      SLAYER_RETURN_IF_ERROR(Expect(')'));
      break;
    }
    return absl::OkStatus();
  }

  absl::string_view text_;
  size_t pos_ = 0;
  size_t base_;
  const std::string& name_;
};

std::string ShapeRepr(const Shape& shape) {
  if (shape.empty()) return "()";
  if (shape.size() == 1) return absl::StrCat("(", shape[0], ",)");
  return absl::StrCat("(", absl::StrJoin(shape, ", "), ")");
}

// ---------------------------------------------------------------------------
// zlib helpers (sizes beyond 4 GiB are fed in chunks: zlib counts in uInt).

constexpr uint64_t kZlibChunk = 1u << 30;

uint32_t Crc32(absl::string_view data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  size_t pos = 0;
  while (pos < data.size()) {
    const size_t n = std::min<uint64_t>(data.size() - pos, kZlibChunk);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data() + pos), static_cast<uInt>(n));
    pos += n;
  }
  return static_cast<uint32_t>(crc);
}

std::string DeflateRaw(absl::string_view in) {
  z_stream zs;
  std::memset(&zs, 0, sizeof(zs));
  SLAYER_CHECK(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
                            Z_DEFAULT_STRATEGY) == Z_OK)
      << "deflateInit2 failed";
  std::string out(deflateBound(&zs, in.size()) + 64, '\0');
  uint64_t in_pos = 0, out_pos = 0;
  for (;;) {
    if (out_pos == out.size()) out.resize(out.size() * 2);
    const uint64_t ain = std::min<uint64_t>(in.size() - in_pos, kZlibChunk);
    const uint64_t aout = std::min<uint64_t>(out.size() - out_pos, kZlibChunk);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + in_pos));
    zs.avail_in = static_cast<uInt>(ain);
    zs.next_out = reinterpret_cast<Bytef*>(&out[out_pos]);
    zs.avail_out = static_cast<uInt>(aout);
    const int flush = in_pos + ain == in.size() ? Z_FINISH : Z_NO_FLUSH;
    const int ret = deflate(&zs, flush);
    in_pos += ain - zs.avail_in;
    out_pos += aout - zs.avail_out;
    if (ret == Z_STREAM_END) break;
    SLAYER_CHECK(ret == Z_OK || ret == Z_BUF_ERROR) << "deflate failed: " << ret;
  }
  deflateEnd(&zs);
  out.resize(out_pos);
  return out;
}

// Inflates a raw deflate stream that must produce exactly `size` bytes.
absl::Status InflateRaw(absl::string_view in, uint64_t size, std::string* out,
                        const std::string& where) {
  z_stream zs;
  std::memset(&zs, 0, sizeof(zs));
  if (inflateInit2(&zs, -15) != Z_OK) {
    return absl::InternalError(absl::StrCat(where, ": inflateInit2 failed"));
  }
  out->assign(size, '\0');
  uint64_t in_pos = 0, out_pos = 0;
  absl::Status status;
  for (;;) {
    const uint64_t ain = std::min<uint64_t>(in.size() - in_pos, kZlibChunk);
    const uint64_t aout = std::min<uint64_t>(size - out_pos, kZlibChunk);
    unsigned char spare;
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + in_pos));
    zs.avail_in = static_cast<uInt>(ain);
    // With the declared size reached, offer one spare byte: filling it means
    // the stream holds more than declared.
    zs.next_out = aout > 0 ? reinterpret_cast<Bytef*>(&(*out)[out_pos]) : &spare;
    zs.avail_out = aout > 0 ? static_cast<uInt>(aout) : 1;
    const int ret = inflate(&zs, Z_NO_FLUSH);
    in_pos += ain - zs.avail_in;
    if (aout == 0 && zs.avail_out == 0) {
      status = absl::DataLossError(absl::StrCat(
          where, ": deflate stream inflates to more than the declared ", size, " bytes"));
      break;
    }
    out_pos += aout > 0 ? aout - zs.avail_out : 0;
    if (ret == Z_STREAM_END) {
      if (out_pos != size) {
        status = absl::DataLossError(absl::StrCat(where, ": deflate stream inflates to ",
                                                  out_pos, " bytes, expected ", size));
      }
      break;
    }
    if (ret == Z_DATA_ERROR || ret == Z_NEED_DICT || ret == Z_MEM_ERROR ||
        ret == Z_STREAM_ERROR) {
      status = absl::DataLossError(absl::StrCat(
          where, ": corrupt deflate stream at compressed byte ", in_pos, ": ",
          zs.msg != nullptr ? zs.msg : "error", " (zlib ", ret, ")"));
      break;
    }
    if (ret == Z_BUF_ERROR) {  // no progress possible: the input ran out
      status = absl::DataLossError(absl::StrCat(
          where, ": truncated deflate stream: ", in.size(), " compressed bytes end after ",
          out_pos, " of ", size, " bytes"));
      break;
    }
  }
  inflateEnd(&zs);
  return status;
}

// ---------------------------------------------------------------------------
// Zip structures (APPNOTE.TXT 6.3).

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50;
constexpr uint32_t kEnd64LocatorSig = 0x07064b50;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr size_t kLocalSize = 30, kCentralSize = 46, kEndSize = 22, kEnd64Size = 56,
                 kLocatorSize = 20;
constexpr uint32_t kMax32 = 0xffffffffu;
constexpr uint16_t kMax16 = 0xffffu;
// 1980-01-01 00:00 in DOS format: archives are reproducible byte for byte.
constexpr uint16_t kDosTime = 0, kDosDate = (0 << 9) | (1 << 5) | 1;

struct ZipEntry {
  std::string name;
  uint16_t flags = 0;
  uint16_t method = 0;
  uint32_t crc = 0;
  uint64_t csize = 0;
  uint64_t usize = 0;
  uint64_t local_offset = 0;
  uint64_t central_offset = 0;
};

// Reads the zip64 extended-information extra field: each 64-bit value is
// present only where the fixed field holds its all-ones marker.
absl::Status ReadZip64Extra(absl::string_view extra, uint64_t extra_offset, bool need_usize,
                            bool need_csize, bool need_offset, ZipEntry* e,
                            const std::string& where) {
  size_t p = 0;
  while (p + 4 <= extra.size()) {
    const uint16_t id = Le16(&extra[p]);
    const uint16_t len = Le16(&extra[p + 2]);
    if (p + 4 + len > extra.size()) {
      return absl::DataLossError(absl::StrCat(
          where, ": extra field at byte ", extra_offset + p, " declares ", len,
          " bytes but only ", extra.size() - p - 4, " remain"));
    }
    if (id == kZip64ExtraId) {
      absl::string_view f = extra.substr(p + 4, len);
      size_t q = 0;
      auto take = [&](uint64_t* v, const char* what) -> absl::Status {
        if (q + 8 > f.size()) {
          return absl::DataLossError(absl::StrCat(
              where, ": zip64 extra field at byte ", extra_offset + p, " has ", f.size(),
              " bytes, too few for the 64-bit ", what));
        }
        *v = Le64(&f[q]);
        q += 8;
        return absl::OkStatus();
      };
      if (need_usize) SLAYER_RETURN_IF_ERROR(take(&e->usize, "uncompressed size"));
      if (need_csize) SLAYER_RETURN_IF_ERROR(take(&e->csize, "compressed size"));
      if (need_offset) SLAYER_RETURN_IF_ERROR(take(&e->local_offset, "local header offset"));
      return absl::OkStatus();
    }
    p += 4 + len;
  }
  if (need_usize || need_csize || need_offset) {
    return absl::DataLossError(absl::StrCat(
        where, ": sizes are marked 0xffffffff but no zip64 extra field (id 0x0001) follows "
               "at byte ", extra_offset));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ZipEntry>> ReadCentralDirectory(absl::string_view z,
                                                           const std::string& name) {
  const uint64_t size = z.size();
  if (size < kEndSize) {
    return absl::DataLossError(absl::StrCat(
        name, ": ", size, " bytes, too short for a zip archive (expected at least ", kEndSize,
        " bytes for the end of central directory record)"));
  }
  // The end record sits at the end, followed only by a comment of <= 64 KiB.
  int64_t end = -1;
  const int64_t lowest = std::max<int64_t>(0, static_cast<int64_t>(size - kEndSize) - kMax16);
  for (int64_t p = static_cast<int64_t>(size - kEndSize); p >= lowest; --p) {
    if (Le32(&z[p]) == kEndSig && p + kEndSize + Le16(&z[p + 20]) <= size) {
      end = p;
      break;
    }
  }
  if (end < 0) {
    if (z.substr(0, 6) == "\x93NUMPY") {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": this is a .npy array, expected a .npz (zip) archive"));
    }
    return absl::DataLossError(absl::StrCat(
        name, ": no zip end of central directory record (signature PK\\5\\6) in the last ",
        size - lowest, " bytes: not a .npz archive, or truncated (starts with ",
        Quote(z.substr(0, 8)), ")"));
  }
  const char* e = &z[end];
  const uint16_t disk = Le16(e + 4), cd_disk = Le16(e + 6);
  uint64_t count_disk = Le16(e + 8), count = Le16(e + 10);
  uint64_t cd_size = Le32(e + 12), cd_offset = Le32(e + 16);
  if (count == kMax16 || count_disk == kMax16 || cd_size == kMax32 || cd_offset == kMax32) {
    // Zip64: a locator right before the end record points at the zip64 end record.
    const int64_t loc = end - static_cast<int64_t>(kLocatorSize);
    if (loc < 0 || Le32(&z[loc]) != kEnd64LocatorSig) {
      return absl::DataLossError(absl::StrCat(
          name, ": end record at byte ", end,
          " has zip64 markers but no zip64 locator (PK\\6\\7) at byte ", std::max<int64_t>(loc, 0)));
    }
    const uint64_t rec = Le64(&z[loc + 8]);
    if (!InBounds(rec, kEnd64Size, static_cast<uint64_t>(loc)) || Le32(&z[rec]) != kEnd64Sig) {
      return absl::DataLossError(absl::StrCat(
          name, ": zip64 locator at byte ", loc, " points to byte ", rec,
          ", where no zip64 end of central directory record (PK\\6\\6) is"));
    }
    count_disk = Le64(&z[rec + 24]);
    count = Le64(&z[rec + 32]);
    cd_size = Le64(&z[rec + 40]);
    cd_offset = Le64(&z[rec + 48]);
    if (Le32(&z[rec + 16]) != 0 || Le32(&z[rec + 20]) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": multi-disk zip archives are not supported"));
    }
    end = static_cast<int64_t>(rec);  // the central directory ends before this
  } else if (disk != 0 || cd_disk != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": multi-disk zip archives are not supported"));
  }
  if (count_disk != count) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": multi-disk zip archive (", count_disk, " of ", count,
        " entries on this disk) is not supported"));
  }
  if (!InBounds(cd_offset, cd_size, static_cast<uint64_t>(end))) {
    return absl::DataLossError(absl::StrCat(
        name, ": central directory [", cd_offset, ", +", cd_size,
        ") does not fit before the end record at byte ", end, " (truncated archive?)"));
  }
  // Each entry takes at least 46 bytes, so a corrupt count cannot make us
  // reserve absurd amounts of memory.
  if (count > cd_size / kCentralSize) {
    return absl::DataLossError(absl::StrCat(
        name, ": end record declares ", count, " entries but the central directory at byte ",
        cd_offset, " has only ", cd_size, " bytes"));
  }
  std::vector<ZipEntry> entries;
  entries.reserve(count);
  const uint64_t cd_end = cd_offset + cd_size;
  uint64_t p = cd_offset;
  for (uint64_t i = 0; i < count; ++i) {
    if (!InBounds(p, kCentralSize, cd_end)) {
      return absl::DataLossError(absl::StrCat(
          name, ": central directory entry ", i, " at byte ", p,
          " runs past the directory's end at byte ", cd_end));
    }
    const char* c = &z[p];
    if (Le32(c) != kCentralSig) {
      return absl::DataLossError(absl::StrCat(
          name, ": bad central directory entry signature at byte ", p,
          ": expected PK\\1\\2, found ", Quote(absl::string_view(c, 4))));
    }
    ZipEntry ent;
    ent.central_offset = p;
    ent.flags = Le16(c + 8);
    ent.method = Le16(c + 10);
    ent.crc = Le32(c + 16);
    ent.csize = Le32(c + 20);
    ent.usize = Le32(c + 24);
    const uint16_t name_len = Le16(c + 28), extra_len = Le16(c + 30),
                   comment_len = Le16(c + 32);
    ent.local_offset = Le32(c + 42);
    const uint64_t var = uint64_t{name_len} + extra_len + comment_len;
    if (!InBounds(p + kCentralSize, var, cd_end)) {
      return absl::DataLossError(absl::StrCat(
          name, ": central directory entry ", i, " at byte ", p,
          ": its name/extra/comment (", var, " bytes) run past the directory's end at byte ",
          cd_end));
    }
    ent.name = std::string(z.substr(p + kCentralSize, name_len));
    const std::string where = absl::StrCat(name, ": member '", ent.name, "'");
    SLAYER_RETURN_IF_ERROR(ReadZip64Extra(
        z.substr(p + kCentralSize + name_len, extra_len), p + kCentralSize + name_len,
        ent.usize == kMax32, ent.csize == kMax32, ent.local_offset == kMax32, &ent,
        absl::StrCat(where, " (central directory)")));
    entries.push_back(std::move(ent));
    p += kCentralSize + var;
  }
  return entries;
}

// Locates, decompresses and CRC-checks one member.
absl::StatusOr<std::string> ReadMember(absl::string_view z, const ZipEntry& ent,
                                       uint64_t data_limit, const std::string& name) {
  const std::string where = absl::StrCat(name, ": member '", ent.name, "'");
  if (ent.flags & 0x1) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": encrypted members are not supported"));
  }
  if (ent.method != 0 && ent.method != 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": unsupported compression method ", ent.method,
        ", expected 0 (stored) or 8 (deflate)"));
  }
  const uint64_t lo = ent.local_offset;
  if (!InBounds(lo, kLocalSize, data_limit)) {
    return absl::DataLossError(absl::StrCat(
        where, ": local header offset ", lo, " + ", kLocalSize,
        " bytes lies past the data area's end at byte ", data_limit, " (truncated archive?)"));
  }
  const char* l = &z[lo];
  if (Le32(l) != kLocalSig) {
    return absl::DataLossError(absl::StrCat(where, ": bad local header signature at byte ", lo,
                                            ": expected PK\\3\\4, found ",
                                            Quote(absl::string_view(l, 4))));
  }
  if (Le16(l + 8) != ent.method) {
    return absl::DataLossError(absl::StrCat(
        where, ": local header at byte ", lo, " says compression method ", Le16(l + 8),
        ", the central directory says ", ent.method));
  }
  const uint16_t name_len = Le16(l + 26), extra_len = Le16(l + 28);
  if (!InBounds(lo + kLocalSize, uint64_t{name_len} + extra_len, data_limit)) {
    return absl::DataLossError(absl::StrCat(
        where, ": local header at byte ", lo, ": name and extra field (", name_len + extra_len,
        " bytes) run past byte ", data_limit));
  }
  if (z.substr(lo + kLocalSize, name_len) != ent.name) {
    return absl::DataLossError(absl::StrCat(
        where, ": local header at byte ", lo, " names ",
        Quote(z.substr(lo + kLocalSize, name_len), 64), ", the central directory names '",
        ent.name, "'"));
  }
  // Unless a data descriptor follows the data (flag bit 3), the local sizes
  // must agree with the central directory.
  if ((ent.flags & 0x8) == 0) {
    ZipEntry local;
    local.crc = Le32(l + 14);
    local.csize = Le32(l + 18);
    local.usize = Le32(l + 22);
    SLAYER_RETURN_IF_ERROR(ReadZip64Extra(
        z.substr(lo + kLocalSize + name_len, extra_len), lo + kLocalSize + name_len,
        local.usize == kMax32, local.csize == kMax32, false, &local,
        absl::StrCat(where, " (local header)")));
    if (local.crc != ent.crc || local.csize != ent.csize || local.usize != ent.usize) {
      return absl::DataLossError(absl::StrFormat(
          "%s: local header at byte %d (crc 0x%08x, %d -> %d bytes) disagrees with the "
          "central directory (crc 0x%08x, %d -> %d bytes)",
          where, lo, local.crc, local.csize, local.usize, ent.crc, ent.csize, ent.usize));
    }
  }
  const uint64_t data = lo + kLocalSize + name_len + extra_len;
  if (!InBounds(data, ent.csize, data_limit)) {
    return absl::DataLossError(absl::StrCat(
        where, ": ", ent.csize, " bytes of data at byte ", data, " run past byte ", data_limit,
        " (truncated archive?)"));
  }
  absl::string_view packed = z.substr(data, ent.csize);
  std::string out;
  if (ent.method == 0) {
    if (ent.csize != ent.usize) {
      return absl::DataLossError(absl::StrCat(
          where, ": stored member with compressed size ", ent.csize, " != uncompressed size ",
          ent.usize));
    }
    out = std::string(packed);
  } else {
    // Deflate cannot expand beyond ~1032:1; a larger claim is corruption,
    // and must not make us allocate it.
    if (ent.usize / 1032 > ent.csize + 1) {
      return absl::DataLossError(absl::StrCat(
          where, ": declared uncompressed size ", ent.usize, " is impossible for ", ent.csize,
          " deflated bytes"));
    }
    SLAYER_RETURN_IF_ERROR(
        InflateRaw(packed, ent.usize, &out, absl::StrCat(where, " at byte ", data)));
  }
  const uint32_t crc = Crc32(out);
  if (crc != ent.crc) {
    return absl::DataLossError(absl::StrFormat(
        "%s: bad CRC32 of data at byte %d: computed 0x%08x, expected 0x%08x", where, data, crc,
        ent.crc));
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// NpyArray

const char* NpyDTypeName(NpyDType dtype) { return Info(dtype).name; }
size_t NpyDTypeSize(NpyDType dtype) { return Info(dtype).size; }

namespace {

template <typename T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Calls f(double-or-int value) for each element, in the element's own type.
template <typename F>
void ForEachElement(const NpyArray& a, F f) {
  const char* p = a.data.data();
  const int64_t n = a.numel();
  switch (a.dtype) {
    case NpyDType::kBool:
      for (int64_t i = 0; i < n; ++i) f(static_cast<uint8_t>(p[i] != 0));
      break;
    case NpyDType::kInt8:
      for (int64_t i = 0; i < n; ++i) f(Load<int8_t>(p + i));
      break;
    case NpyDType::kUInt8:
      for (int64_t i = 0; i < n; ++i) f(Load<uint8_t>(p + i));
      break;
    case NpyDType::kInt16:
      for (int64_t i = 0; i < n; ++i) f(Load<int16_t>(p + 2 * i));
      break;
    case NpyDType::kUInt16:
      for (int64_t i = 0; i < n; ++i) f(Load<uint16_t>(p + 2 * i));
      break;
    case NpyDType::kInt32:
      for (int64_t i = 0; i < n; ++i) f(Load<int32_t>(p + 4 * i));
      break;
    case NpyDType::kUInt32:
      for (int64_t i = 0; i < n; ++i) f(Load<uint32_t>(p + 4 * i));
      break;
    case NpyDType::kInt64:
      for (int64_t i = 0; i < n; ++i) f(Load<int64_t>(p + 8 * i));
      break;
    case NpyDType::kUInt64:
      for (int64_t i = 0; i < n; ++i) f(Load<uint64_t>(p + 8 * i));
      break;
    case NpyDType::kFloat32:
      for (int64_t i = 0; i < n; ++i) f(Load<float>(p + 4 * i));
      break;
    case NpyDType::kFloat64:
      for (int64_t i = 0; i < n; ++i) f(Load<double>(p + 8 * i));
      break;
  }
}

absl::Status CheckDataSize(const NpyArray& a) {
  const uint64_t want = static_cast<uint64_t>(a.numel()) * NpyDTypeSize(a.dtype);
  if (a.data.size() != want) {
    return absl::InvalidArgumentError(absl::StrCat(
        "NpyArray ", NpyDTypeName(a.dtype), ShapeString(a.shape), " holds ", a.data.size(),
        " bytes, expected ", want));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Tensor> NpyArray::ToTensor() const {
  SLAYER_RETURN_IF_ERROR(CheckDataSize(*this));
  Tensor t = Tensor::Empty(shape);
  if (dtype == NpyDType::kFloat32) {
    if (!data.empty()) std::memcpy(t.data(), data.data(), data.size());
    return t;
  }
  float* out = t.data();
  ForEachElement(*this, [&out](auto v) { *out++ = static_cast<float>(v); });
  return t;
}

absl::StatusOr<std::vector<int64_t>> NpyArray::ToInt64() const {
  SLAYER_RETURN_IF_ERROR(CheckDataSize(*this));
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(numel()));
  absl::Status status;
  ForEachElement(*this, [&](auto v) {
    using V = decltype(v);
    if (!status.ok()) return;
    if constexpr (std::is_floating_point_v<V>) {
      // Exact integers only: event times or labels must not be silently truncated.
      if (!(v >= -9.2233720368547758e18 && v < 9.2233720368547758e18) ||
          static_cast<V>(static_cast<int64_t>(v)) != v) {
        status = absl::InvalidArgumentError(absl::StrCat(
            "element ", out.size(), " of a ", NpyDTypeName(dtype), " array is ", v,
            ", expected an integral value for int64"));
        return;
      }
    } else if constexpr (std::is_same_v<V, uint64_t>) {
      if (v > static_cast<uint64_t>(INT64_MAX)) {
        status = absl::InvalidArgumentError(absl::StrCat(
            "element ", out.size(), " of a uint64 array is ", v, ", beyond int64's range"));
        return;
      }
    }
    out.push_back(static_cast<int64_t>(v));
  });
  if (!status.ok()) return status;
  return out;
}

NpyArray NpyArray::FromTensor(const Tensor& t) {
  NpyArray a;
  a.dtype = NpyDType::kFloat32;
  a.shape = t.shape();
  if (t.is_cpu()) {
    a.data.assign(reinterpret_cast<const char*>(t.data()), t.bytes());
  } else {
    absl::StatusOr<Tensor> host = t.To(Device::kCpu);
    SLAYER_CHECK(host.ok()) << "NpyArray::FromTensor: " << host.status();
    a.data.assign(reinterpret_cast<const char*>(host->data()), host->bytes());
  }
  return a;
}

NpyArray NpyArray::FromInt64(Shape shape, const std::vector<int64_t>& values) {
  SLAYER_CHECK_EQ(NumElements(shape), static_cast<int64_t>(values.size()))
      << "NpyArray::FromInt64: shape " << ShapeString(shape);
  NpyArray a;
  a.dtype = NpyDType::kInt64;
  a.shape = std::move(shape);
  a.data.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(int64_t));
  return a;
}

NpyArray NpyArray::Scalar(float value) {
  NpyArray a;
  a.dtype = NpyDType::kFloat32;
  a.data.assign(reinterpret_cast<const char*>(&value), sizeof(float));
  return a;
}

// ---------------------------------------------------------------------------
// .npy

absl::StatusOr<NpyArray> ParseNpy(absl::string_view bytes, const std::string& name) {
  static constexpr char kMagic[] = "\x93NUMPY";
  if (bytes.size() < 10) {
    return absl::DataLossError(absl::StrCat(name, ": ", bytes.size(),
                                            " bytes, too short for a .npy file (expected at "
                                            "least 10 bytes of magic, version, header length)"));
  }
  if (bytes.substr(0, 6) != absl::string_view(kMagic, 6)) {
    if (bytes.substr(0, 4) == "PK\x03\x04") {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": this is a zip (.npz) archive, expected a .npy array"));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": bad magic at byte 0: expected '\\x93NUMPY', found ", Quote(bytes.substr(0, 6))));
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  const int minor = static_cast<unsigned char>(bytes[7]);
  size_t header_start;
  uint64_t header_len;
  if (major == 1) {
    header_start = 10;
    header_len = Le16(&bytes[8]);
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) {
      return absl::DataLossError(absl::StrCat(
          name, ": truncated at byte ", bytes.size(), ": a version ", major,
          ".0 .npy needs 12 bytes before its header"));
    }
    header_start = 12;
    header_len = Le32(&bytes[8]);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": unsupported .npy version ", major, ".", minor,
        " at byte 6, expected 1.0, 2.0 or 3.0"));
  }
  if (!InBounds(header_start, header_len, bytes.size())) {
    return absl::DataLossError(absl::StrCat(
        name, ": truncated: header of ", header_len, " bytes at byte ", header_start,
        " runs past the end of the ", bytes.size(), "-byte file"));
  }
  std::string descr;
  bool fortran = false;
  NpyArray a;
  HeaderParser parser(bytes.substr(header_start, header_len), header_start, name);
  SLAYER_RETURN_IF_ERROR(parser.Parse(&descr, &fortran, &a.shape));
  bool swap = false;
  SLAYER_ASSIGN_OR_RETURN(a.dtype,
                          ParseDescr(descr, &swap,
                                     absl::StrCat(name, ": header at byte ", header_start)));
  const size_t item = NpyDTypeSize(a.dtype);
  uint64_t want = item;
  for (int64_t d : a.shape) {
    if (__builtin_mul_overflow(want, static_cast<uint64_t>(d), &want) ||
        want > (uint64_t{1} << 62)) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": shape ", ShapeRepr(a.shape), " of ", NpyDTypeName(a.dtype),
          " is too large to be a real array"));
    }
  }
  const uint64_t data_start = header_start + header_len;
  const uint64_t have = bytes.size() - data_start;
  if (have != want) {
    const std::string what = absl::StrCat(
        name, ": shape ", ShapeRepr(a.shape), " of ", NpyDTypeName(a.dtype), " needs ", want,
        " data bytes from byte ", data_start, ", found ", have);
    if (have < want) return absl::DataLossError(absl::StrCat(what, " (truncated)"));
    return absl::InvalidArgumentError(absl::StrCat(what, " (trailing bytes)"));
  }
  a.data = std::string(bytes.substr(data_start));
  if (swap) ByteSwapElements(&a.data, item);
  if (fortran) a.data = FortranToC(a.data, a.shape, item);
  return a;
}

std::string SerializeNpy(const NpyArray& array) {
  SLAYER_CHECK_OK(CheckDataSize(array));
  // Byte for byte what numpy >= 1.23 writes: sorted keys, room to grow the
  // first dimension in place, padded with spaces and '\n' to 64 bytes.
  std::string dict = absl::StrCat("{'descr': '", Descr(array.dtype),
                                  "', 'fortran_order': False, 'shape': ",
                                  ShapeRepr(array.shape), ", }");
  if (!array.shape.empty()) {
    const size_t digits = absl::StrCat(array.shape[0]).size();
    dict.append(digits < 21 ? 21 - digits : 0, ' ');
  }
  const size_t hlen = dict.size() + 1;
  int major = 1;
  size_t prefix = 10;
  size_t padlen = 64 - (prefix + hlen) % 64;
  if (hlen + padlen > kMax16) {
    major = 2;
    prefix = 12;
    padlen = 64 - (prefix + hlen) % 64;
  }
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(major));
  out.push_back('\0');
  if (major == 1) {
    Put16(&out, static_cast<uint16_t>(hlen + padlen));
  } else {
    Put32(&out, static_cast<uint32_t>(hlen + padlen));
  }
  out += dict;
  out.append(padlen, ' ');
  out.push_back('\n');
  out += array.data;
  return out;
}

absl::StatusOr<NpyArray> ReadNpy(const std::string& path) {
  SLAYER_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return ParseNpy(bytes, path);
}

absl::Status WriteNpy(const std::string& path, const NpyArray& array) {
  SLAYER_RETURN_IF_ERROR(CheckDataSize(array));
  return WriteFileAtomic(path, SerializeNpy(array));
}

// ---------------------------------------------------------------------------
// .npz

absl::StatusOr<NpzMap> ParseNpz(absl::string_view bytes, const std::string& name) {
  SLAYER_ASSIGN_OR_RETURN(std::vector<ZipEntry> entries, ReadCentralDirectory(bytes, name));
  // Member data lies before the central directory.
  uint64_t data_limit = bytes.size();
  for (const ZipEntry& e : entries) data_limit = std::min(data_limit, e.central_offset);
  NpzMap out;
  for (const ZipEntry& e : entries) {
    if (!e.name.empty() && e.name.back() == '/' && e.usize == 0) continue;  // a directory
    SLAYER_ASSIGN_OR_RETURN(std::string member, ReadMember(bytes, e, data_limit, name));
    std::string key = e.name;
    if (absl::string_view(key).size() > 4 && absl::string_view(key).substr(key.size() - 4) == ".npy") {
      key.resize(key.size() - 4);
    }
    SLAYER_ASSIGN_OR_RETURN(NpyArray array,
                            ParseNpy(member, absl::StrCat(name, ": member '", e.name, "'")));
    if (!out.emplace(key, std::move(array)).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": duplicate member '", e.name, "' (central directory byte ", e.central_offset,
          ")"));
    }
  }
  return out;
}

namespace internal {

std::string SerializeNpz(const NpzMap& arrays, bool compress, bool force_zip64) {
  std::string z, central;
  uint64_t count = 0;
  for (const auto& [key, array] : arrays) {
    SLAYER_CHECK(!key.empty()) << "SerializeNpz: empty key";
    SLAYER_CHECK(key.size() + 4 < kMax16) << "SerializeNpz: key too long";
    const std::string member = key + ".npy";
    const std::string npy = SerializeNpy(array);
    const std::string packed = compress ? DeflateRaw(npy) : std::string();
    const absl::string_view body = compress ? absl::string_view(packed) : absl::string_view(npy);
    const uint32_t crc = Crc32(npy);
    const uint64_t usize = npy.size(), csize = body.size(), offset = z.size();
    const bool big_sizes = force_zip64 || usize >= kMax32 || csize >= kMax32;
    const bool big_offset = force_zip64 || offset >= kMax32;
    const bool utf8 = std::any_of(member.begin(), member.end(),
                                  [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
    const uint16_t flags = utf8 ? (1u << 11) : 0;
    const uint16_t method = compress ? 8 : 0;
    const uint16_t needed = big_sizes || big_offset ? 45 : 20;

    std::string local_extra;
    if (big_sizes) {
      Put16(&local_extra, kZip64ExtraId);
      Put16(&local_extra, 16);
      Put64(&local_extra, usize);
      Put64(&local_extra, csize);
    }
    Put32(&z, kLocalSig);
    Put16(&z, needed);
    Put16(&z, flags);
    Put16(&z, method);
    Put16(&z, kDosTime);
    Put16(&z, kDosDate);
    Put32(&z, crc);
    Put32(&z, big_sizes ? kMax32 : static_cast<uint32_t>(csize));
    Put32(&z, big_sizes ? kMax32 : static_cast<uint32_t>(usize));
    Put16(&z, static_cast<uint16_t>(member.size()));
    Put16(&z, static_cast<uint16_t>(local_extra.size()));
    z += member;
    z += local_extra;
    z.append(body.data(), body.size());

    std::string central_extra;
    if (big_sizes || big_offset) {
      Put16(&central_extra, kZip64ExtraId);
      Put16(&central_extra, static_cast<uint16_t>((big_sizes ? 16 : 0) + (big_offset ? 8 : 0)));
      if (big_sizes) {
        Put64(&central_extra, usize);
        Put64(&central_extra, csize);
      }
      if (big_offset) Put64(&central_extra, offset);
    }
    Put32(&central, kCentralSig);
    Put16(&central, static_cast<uint16_t>((3 << 8) | needed));  // made by: Unix
    Put16(&central, needed);
    Put16(&central, flags);
    Put16(&central, method);
    Put16(&central, kDosTime);
    Put16(&central, kDosDate);
    Put32(&central, crc);
    Put32(&central, big_sizes ? kMax32 : static_cast<uint32_t>(csize));
    Put32(&central, big_sizes ? kMax32 : static_cast<uint32_t>(usize));
    Put16(&central, static_cast<uint16_t>(member.size()));
    Put16(&central, static_cast<uint16_t>(central_extra.size()));
    Put16(&central, 0);                // comment length
    Put16(&central, 0);                // disk
    Put16(&central, 0);                // internal attributes
    Put32(&central, 0100644u << 16);   // external attributes: regular file, rw-r--r--
    Put32(&central, big_offset ? kMax32 : static_cast<uint32_t>(offset));
    central += member;
    central += central_extra;
    ++count;
  }
  const uint64_t cd_offset = z.size(), cd_size = central.size();
  z += central;
  const bool zip64 =
      force_zip64 || count >= kMax16 || cd_offset >= kMax32 || cd_size >= kMax32;
  if (zip64) {
    const uint64_t rec = z.size();
    Put32(&z, kEnd64Sig);
    Put64(&z, kEnd64Size - 12);  // size of the rest of the record
    Put16(&z, (3 << 8) | 45);
    Put16(&z, 45);
    Put32(&z, 0);
    Put32(&z, 0);
    Put64(&z, count);
    Put64(&z, count);
    Put64(&z, cd_size);
    Put64(&z, cd_offset);
    Put32(&z, kEnd64LocatorSig);
    Put32(&z, 0);
    Put64(&z, rec);
    Put32(&z, 1);
  }
  Put32(&z, kEndSig);
  Put16(&z, 0);
  Put16(&z, 0);
  Put16(&z, zip64 ? kMax16 : static_cast<uint16_t>(count));
  Put16(&z, zip64 ? kMax16 : static_cast<uint16_t>(count));
  Put32(&z, zip64 ? kMax32 : static_cast<uint32_t>(cd_size));
  Put32(&z, zip64 ? kMax32 : static_cast<uint32_t>(cd_offset));
  Put16(&z, 0);  // comment length
  return z;
}

}  // namespace internal

std::string SerializeNpz(const NpzMap& arrays, bool compress) {
  return internal::SerializeNpz(arrays, compress, /*force_zip64=*/false);
}

absl::StatusOr<NpzMap> ReadNpz(const std::string& path) {
  SLAYER_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return ParseNpz(bytes, path);
}

absl::Status WriteNpz(const std::string& path, const NpzMap& arrays, bool compress) {
  for (const auto& [key, array] : arrays) {
    if (key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": empty array name"));
    }
    absl::Status s = CheckDataSize(array);
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": array '", key, "': ", s.message()));
    }
  }
  return WriteFileAtomic(path, SerializeNpz(arrays, compress));
}

}  // namespace slayer
