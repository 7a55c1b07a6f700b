#include <dirent.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "slayer/proto/config.h"

namespace slayer {
namespace config {
namespace {

std::vector<std::string> ExampleConfigs() {
  std::vector<std::string> out;
  const std::string dir = "examples";
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name.size() > 6 && name.substr(name.size() - 6) == ".pbtxt") out.push_back(dir + "/" + name);
    }
    closedir(d);
  }
  return out;
}

TEST(ExamplesTest, EveryConfigValidates) {
  std::vector<std::string> configs = ExampleConfigs();
  ASSERT_GE(configs.size(), 7u) << "examples/*.pbtxt not found in the runfiles";
  for (const std::string& path : configs) {
    absl::StatusOr<proto::Training> t = ReadTrainingFile(path);
    ASSERT_TRUE(t.ok()) << t.status();
    absl::StatusOr<NetworkSpec> spec = BuildNetworkSpec(t->network());
    ASSERT_TRUE(spec.ok()) << path << ": " << spec.status();
    EXPECT_TRUE(ValidateTraining(*t, *spec).ok()) << path << ": " << ValidateTraining(*t, *spec);
  }
}

}  // namespace
}  // namespace config
}  // namespace slayer
