// npz_allclose: whether two .npz files hold the same arrays (names, shapes)
// with every element within atol + rtol * |b|. Prints the largest difference
// per array; exit 0 when all close, 1 when not (or unreadable), 2 on usage.
// Used by the distributed training test to compare parameters of runs.
//
//   npz_allclose two_ranks/params.npz one_process/params.npz --atol 1e-4 --rtol 1e-3
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "slayer/core/npy.h"
#include "tools/command_flags.h"

int main(int argc, char** argv) {
  using slayer::tools::CommandFlags;
  CommandFlags flags("npz_allclose", "A.npz B.npz [--atol X] [--rtol Y]",
                     "Compares two .npz files element by element.");
  double atol = 1e-5, rtol = 1e-4;
  flags.Double("atol", &atol, "absolute tolerance");
  flags.Double("rtol", &rtol, "tolerance relative to |B|");
  int exit_code;
  if (!flags.Parse(std::vector<std::string>(argv + 1, argv + argc), &exit_code)) return exit_code;
  if (flags.positional().size() != 2) return flags.Fail("expected two .npz files");
  const std::string& path_a = flags.positional()[0];
  const std::string& path_b = flags.positional()[1];
  absl::StatusOr<slayer::NpzMap> a = slayer::ReadNpz(path_a);
  absl::StatusOr<slayer::NpzMap> b = slayer::ReadNpz(path_b);
  for (const auto* m : {&a, &b}) {
    if (!m->ok()) {
      std::fprintf(stderr, "npz_allclose: %s\n", std::string(m->status().message()).c_str());
      return 1;
    }
  }
  bool close = a->size() == b->size();
  if (!close) std::printf("%zu arrays vs %zu arrays\n", a->size(), b->size());
  for (const auto& [name, array_a] : *a) {
    auto it = b->find(name);
    if (it == b->end()) {
      std::printf("%s: only in %s\n", name.c_str(), path_a.c_str());
      close = false;
      continue;
    }
    absl::StatusOr<slayer::Tensor> ta = array_a.ToTensor();
    absl::StatusOr<slayer::Tensor> tb = it->second.ToTensor();
    if (!ta.ok() || !tb.ok() || ta->shape() != tb->shape()) {
      std::printf("%s: not comparable (%s vs %s)\n", name.c_str(),
                  slayer::ShapeString(array_a.shape).c_str(),
                  slayer::ShapeString(it->second.shape).c_str());
      close = false;
      continue;
    }
    double max_diff = 0;
    int64_t bad = 0;
    for (int64_t i = 0; i < ta->numel(); ++i) {
      const double x = ta->data()[i], y = tb->data()[i];
      const double d = std::fabs(x - y);
      max_diff = std::isnan(d) ? d : std::max(max_diff, d);
      if (!(d <= atol + rtol * std::fabs(y))) ++bad;
    }
    std::printf("%s: %lld elements, max |a-b| %.3g, %lld outside tolerance\n", name.c_str(),
                static_cast<long long>(ta->numel()), max_diff, static_cast<long long>(bad));
    close = close && bad == 0;
  }
  std::printf("%s\n", close ? "allclose" : "DIFFERENT");
  return close ? 0 : 1;
}
