// Status helpers shared by every package: early-return macros for
// absl::Status / absl::StatusOr (Debian's Abseil 20220623 has none).
//
//   absl::StatusOr<Tensor> Load(const std::string& path) {
//     SLAYER_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
//     SLAYER_RETURN_IF_ERROR(CheckMagic(bytes, path));
//     ...
//   }
#ifndef SLAYER_CORE_STATUS_H_
#define SLAYER_CORE_STATUS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SLAYER_STATUS_CONCAT_INNER_(a, b) a##b
#define SLAYER_STATUS_CONCAT_(a, b) SLAYER_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define SLAYER_RETURN_IF_ERROR(expr)                              \
  do {                                                            \
    ::absl::Status slayer_status_ = (expr);                       \
    if (!slayer_status_.ok()) return slayer_status_;              \
  } while (false)

// `lhs` = value of `rexpr` (an absl::StatusOr<T>), or returns its error.
#define SLAYER_ASSIGN_OR_RETURN(lhs, rexpr)                                   \
  SLAYER_ASSIGN_OR_RETURN_IMPL_(SLAYER_STATUS_CONCAT_(slayer_statusor_, __LINE__), \
                                lhs, rexpr)

#define SLAYER_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                  \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = std::move(statusor).value()

#endif  // SLAYER_CORE_STATUS_H_
