// Whole-file I/O with clear errors, and atomic writes (temp file + fsync +
// rename) so that a checkpoint or output is never left half-written.
//
//   SLAYER_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
//   SLAYER_RETURN_IF_ERROR(WriteFileAtomic(run_dir + "/params.npz", bytes));
#ifndef SLAYER_CORE_FILE_H_
#define SLAYER_CORE_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace slayer {

// NotFound / PermissionDenied / DataLoss with the path in the message.
absl::StatusOr<std::string> ReadFile(const std::string& path);
// Writes `path.tmp.<pid>`, fsyncs it, renames it over `path`, then fsyncs
// the directory (best effort).
absl::Status WriteFileAtomic(const std::string& path, absl::string_view contents);
// mkdir -p.
absl::Status MakeDirs(const std::string& path);
bool FileExists(const std::string& path);

}  // namespace slayer

#endif  // SLAYER_CORE_FILE_H_
