// CHECK macros for programmer errors (never for data: bad input returns an
// absl::Status). Debian's Abseil 20220623 predates absl/log, so we own these.
//
//   SLAYER_CHECK(begin <= end) << "Slice [" << begin << "," << end << ")";
//   SLAYER_CHECK_OK(tensor.CopyFrom(other));
#ifndef SLAYER_CORE_CHECK_H_
#define SLAYER_CORE_CHECK_H_

#include <sstream>

#include "absl/status/status.h"

namespace slayer {
namespace internal {

// Collects a message and aborts the process in its destructor.
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition);
  [[noreturn]] ~CheckFailure();
  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};

// Lets `cond ? (void)0 : Voidify() & stream << ...` type-check.
struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace internal
}  // namespace slayer

#define SLAYER_CHECK(condition)                 \
  (condition) ? (void)0                         \
              : ::slayer::internal::Voidify() & \
                    ::slayer::internal::CheckFailure(__FILE__, __LINE__, #condition).stream()

#define SLAYER_CHECK_OK(expr)                                                         \
  for (::absl::Status slayer_check_status_ = (expr); !slayer_check_status_.ok();)     \
  ::slayer::internal::CheckFailure(__FILE__, __LINE__, #expr).stream()                \
      << slayer_check_status_ << " "

#define SLAYER_CHECK_EQ(a, b) SLAYER_CHECK((a) == (b)) << #a " = " << (a) << ", " #b " = " << (b) << " "
#define SLAYER_CHECK_GE(a, b) SLAYER_CHECK((a) >= (b)) << #a " = " << (a) << ", " #b " = " << (b) << " "

#ifdef NDEBUG
#define SLAYER_DCHECK(condition) \
  while (false) SLAYER_CHECK(condition)
#else
#define SLAYER_DCHECK(condition) SLAYER_CHECK(condition)
#endif

#endif  // SLAYER_CORE_CHECK_H_
