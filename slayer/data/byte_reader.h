// Bounds-checked reading of binary records, shared by the readers in
// slayer/data. Every failure is a Status that names the file, the byte offset
// and what was expected there, so a truncated or corrupt file never crashes.
//
//   ByteReader r(bytes, path);
//   SLAYER_RETURN_IF_ERROR(r.Need(28, "an AEDAT packet header"));
//   uint16_t type = r.U16LE();
//   uint32_t size = r.U32LE();
#ifndef SLAYER_DATA_BYTE_READER_H_
#define SLAYER_DATA_BYTE_READER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace slayer {
namespace data {

// "NAME: at byte offset OFF: MESSAGE" as a DataLoss error (corrupt input).
inline absl::Status DataError(absl::string_view name, uint64_t offset,
                              absl::string_view message) {
  return absl::DataLossError(absl::StrCat(name, ": at byte offset ", offset, ": ", message));
}

class ByteReader {
 public:
  ByteReader(absl::string_view bytes, absl::string_view name) : bytes_(bytes), name_(name) {}

  uint64_t offset() const { return pos_; }
  uint64_t remaining() const { return bytes_.size() - pos_; }
  bool done() const { return pos_ >= bytes_.size(); }
  absl::string_view name() const { return name_; }

  // OK when `n` more bytes exist, else a truncation error naming `what`.
  absl::Status Need(uint64_t n, absl::string_view what) const {
    if (n <= remaining()) return absl::OkStatus();
    return DataError(name_, pos_,
                     absl::StrCat("truncated: expected ", n, " bytes of ", what, ", only ",
                                  remaining(), " left (file size ", bytes_.size(), ")"));
  }
  // An error at the current offset.
  absl::Status Error(absl::string_view message) const { return DataError(name_, pos_, message); }

  // Unchecked reads: call Need() first.
  uint8_t U8() { return Byte(pos_++); }
  uint16_t U16LE() {
    uint16_t v = static_cast<uint16_t>(Byte(pos_) | (Byte(pos_ + 1) << 8));
    pos_ += 2;
    return v;
  }
  uint32_t U32LE() {
    uint32_t v = static_cast<uint32_t>(Byte(pos_)) | (static_cast<uint32_t>(Byte(pos_ + 1)) << 8) |
                 (static_cast<uint32_t>(Byte(pos_ + 2)) << 16) |
                 (static_cast<uint32_t>(Byte(pos_ + 3)) << 24);
    pos_ += 4;
    return v;
  }
  uint32_t U32BE() {
    uint32_t v = (static_cast<uint32_t>(Byte(pos_)) << 24) |
                 (static_cast<uint32_t>(Byte(pos_ + 1)) << 16) |
                 (static_cast<uint32_t>(Byte(pos_ + 2)) << 8) | static_cast<uint32_t>(Byte(pos_ + 3));
    pos_ += 4;
    return v;
  }
  // The next `n` bytes as a view (unchecked).
  absl::string_view Bytes(uint64_t n) {
    absl::string_view v = bytes_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  void Skip(uint64_t n) { pos_ += n; }

 private:
  uint8_t Byte(uint64_t i) const { return static_cast<uint8_t>(bytes_[i]); }

  absl::string_view bytes_;
  absl::string_view name_;
  uint64_t pos_ = 0;
};

}  // namespace data
}  // namespace slayer

#endif  // SLAYER_DATA_BYTE_READER_H_
