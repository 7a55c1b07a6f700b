// `slayer events FILE...`: summarises event files (count, time span, x/y/p
// ranges, events per ms) or converts one to an N x 4 int64 .npy of
// (x, y, p, t_us). Bad input exits 1 with the file and byte offset.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "slayer/data/event.h"
#include "slayer/data/event_file.h"
#include "slayer/data/npy_events.h"
#include "tools/command_flags.h"
#include "tools/commands.h"

namespace slayer {
namespace tools {

int RunEventsCommand(const std::vector<std::string>& args) {
  CommandFlags flags("events", "FILE... [--format F] [--to OUT.npy]",
                     "Summarises event files (count, time span, x/y/p ranges, events per ms),\n"
                     "or converts one to an N x 4 int64 .npy of (x, y, p, t_us).");
  std::string format_name = "auto", to;
  double time_unit_us = 1.0;
  flags.String("format", &format_name,
               "auto|bs1|bs2|bs3|aedat|npy (auto: from the extension, .bin = bs2)");
  flags.String("to", &to, "write the events of FILE to this .npy (N x 4 int64: x, y, p, t_us)");
  flags.Double("npy_time_unit_us", &time_unit_us,
               "microseconds per time unit of .npy input (1000 for ms)");
  int exit_code;
  if (!flags.Parse(args, &exit_code)) return exit_code;
  const std::vector<std::string>& files = flags.positional();
  if (files.empty()) return flags.Fail("expected an event file");
  if (!to.empty() && files.size() != 1) return flags.Fail("--to converts exactly one file");
  absl::StatusOr<data::EventFormat> format = data::ParseEventFormat(format_name);
  if (!format.ok()) return flags.Fail(std::string(format.status().message()));
  if (!(time_unit_us > 0)) return flags.Fail("--npy_time_unit_us must be > 0");
  data::NpyEventOptions npy;
  npy.time_unit_us = time_unit_us;

  int failures = 0;
  for (const std::string& file : files) {
    data::EventFormat f = *format;
    if (f == data::EventFormat::kAuto) {
      absl::StatusOr<data::EventFormat> detected = data::DetectEventFormat(file);
      if (!detected.ok()) return flags.Fail(std::string(detected.status().message()));
      f = *detected;
    }
    absl::StatusOr<data::EventStream> events = data::ReadEvents(file, f, npy);
    if (!events.ok()) {
      std::fprintf(stderr, "slayer events: %s\n", std::string(events.status().message()).c_str());
      ++failures;
      continue;
    }
    if (!to.empty()) {
      absl::Status s = data::WriteNpyEvents(to, *events);
      if (!s.ok()) {
        std::fprintf(stderr, "slayer events: %s\n", std::string(s.message()).c_str());
        return 1;
      }
      std::printf("wrote %lld events of %s to %s\n", static_cast<long long>(events->size()),
                  file.c_str(), to.c_str());
      continue;
    }
    std::printf("file:          %s\nformat:        %s\n%s", file.c_str(),
                data::EventFormatName(f), data::FormatStats(data::ComputeStats(*events)).c_str());
    if (files.size() > 1) std::printf("\n");
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace tools
}  // namespace slayer
