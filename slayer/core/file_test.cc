#include "slayer/core/file.h"

#include <cstdlib>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"

namespace slayer {
namespace {

std::string TempDir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d ? d : "/tmp";
}

TEST(FileTest, AtomicWriteThenRead) {
  std::string path = TempDir() + "/a/b/data.bin";
  ASSERT_TRUE(MakeDirs(TempDir() + "/a/b").ok());
  std::string payload("x\0y", 3);
  ASSERT_TRUE(WriteFileAtomic(path, payload).ok());
  absl::StatusOr<std::string> back = ReadFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, payload);
  ASSERT_TRUE(WriteFileAtomic(path, "second").ok());
  EXPECT_EQ(*ReadFile(path), "second");
  EXPECT_FALSE(FileExists(path + ".tmp." + std::to_string(::getpid())));
}

TEST(FileTest, MissingFileNamesPath) {
  absl::StatusOr<std::string> r = ReadFile("/nonexistent/slayer.bin");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/slayer.bin"), std::string::npos);
}

TEST(FileTest, DirectoryIsNotAFile) {
  EXPECT_EQ(ReadFile(TempDir()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FileTest, WriteIntoMissingDirFails) {
  EXPECT_FALSE(WriteFileAtomic("/nonexistent/dir/x", "y").ok());
}

}  // namespace
}  // namespace slayer
