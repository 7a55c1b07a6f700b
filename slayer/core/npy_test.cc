#include "slayer/core/npy.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "slayer/core/file.h"
#include "slayer/core/tensor.h"

namespace slayer {
namespace {

// Bytes written by numpy 1.24.2 (np.save / np.savez / np.savez_compressed):
//   kNumpyF4_2x3         np.arange(6, dtype='<f4').reshape(2, 3) * 0.5
//   kNumpyBigEndianF8    np.array([1.5, -2.25, 1e300], dtype='>f8')
//   kNumpyFortranI4_2x3  np.asfortranarray(np.arange(6, dtype='<i4').reshape(2, 3))
//   kNumpyBool           np.array([True, False, True])
//   kNumpyScalarF4       np.float32(3.25)
//   kNumpyU1_2x2x2       np.arange(8, dtype='u1').reshape(2, 2, 2)
//   kNumpyI8             np.array([-1, 0, 1 << 40], dtype='<i8')
//   kNumpyNpz{Stored,Deflated}  {'fc1/weight': [[1, 2], [3, 4]] f4, 'loss': f4 0.125}
// 152 bytes
const char kNumpyF4_2x3[] =
    "\x93\x4e\x55\x4d\x50\x59\x01\x00\x76\x00\x7b\x27\x64\x65\x73\x63"
    "\x72\x27\x3a\x20\x27\x3c\x66\x34\x27\x2c\x20\x27\x66\x6f\x72\x74"
    "\x72\x61\x6e\x5f\x6f\x72\x64\x65\x72\x27\x3a\x20\x46\x61\x6c\x73"
    "\x65\x2c\x20\x27\x73\x68\x61\x70\x65\x27\x3a\x20\x28\x32\x2c\x20"
    "\x33\x29\x2c\x20\x7d\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x0a"
    "\x00\x00\x00\x00\x00\x00\x00\x3f\x00\x00\x80\x3f\x00\x00\xc0\x3f"
    "\x00\x00\x00\x40\x00\x00\x20\x40";
// 152 bytes
const char kNumpyBigEndianF8[] =
    "\x93\x4e\x55\x4d\x50\x59\x01\x00\x76\x00\x7b\x27\x64\x65\x73\x63"
    "\x72\x27\x3a\x20\x27\x3e\x66\x38\x27\x2c\x20\x27\x66\x6f\x72\x74"
    "\x72\x61\x6e\x5f\x6f\x72\x64\x65\x72\x27\x3a\x20\x46\x61\x6c\x73"
    "\x65\x2c\x20\x27\x73\x68\x61\x70\x65\x27\x3a\x20\x28\x33\x2c\x29"
    "\x2c\x20\x7d\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x0a"
    "\x3f\xf8\x00\x00\x00\x00\x00\x00\xc0\x02\x00\x00\x00\x00\x00\x00"
    "\x7e\x37\xe4\x3c\x88\x00\x75\x9c";
// 152 bytes
const char kNumpyFortranI4_2x3[] =
    "\x93\x4e\x55\x4d\x50\x59\x01\x00\x76\x00\x7b\x27\x64\x65\x73\x63"
    "\x72\x27\x3a\x20\x27\x3c\x69\x34\x27\x2c\x20\x27\x66\x6f\x72\x74"
    "\x72\x61\x6e\x5f\x6f\x72\x64\x65\x72\x27\x3a\x20\x54\x72\x75\x65"
    "\x2c\x20\x27\x73\x68\x61\x70\x65\x27\x3a\x20\x28\x32\x2c\x20\x33"
    "\x29\x2c\x20\x7d\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x0a"
    "\x00\x00\x00\x00\x03\x00\x00\x00\x01\x00\x00\x00\x04\x00\x00\x00"
    "\x02\x00\x00\x00\x05\x00\x00\x00";
// 131 bytes
const char kNumpyBool[] =
    "\x93\x4e\x55\x4d\x50\x59\x01\x00\x76\x00\x7b\x27\x64\x65\x73\x63"
    "\x72\x27\x3a\x20\x27\x7c\x62\x31\x27\x2c\x20\x27\x66\x6f\x72\x74"
    "\x72\x61\x6e\x5f\x6f\x72\x64\x65\x72\x27\x3a\x20\x46\x61\x6c\x73"
    "\x65\x2c\x20\x27\x73\x68\x61\x70\x65\x27\x3a\x20\x28\x33\x2c\x29"
    "\x2c\x20\x7d\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x0a"
    "\x01\x00\x01";
// 132 bytes
const char kNumpyScalarF4[] =
    "\x93\x4e\x55\x4d\x50\x59\x01\x00\x76\x00\x7b\x27\x64\x65\x73\x63"
    "\x72\x27\x3a\x20\x27\x3c\x66\x34\x27\x2c\x20\x27\x66\x6f\x72\x74"
    "\x72\x61\x6e\x5f\x6f\x72\x64\x65\x72\x27\x3a\x20\x46\x61\x6c\x73"
    "\x65\x2c\x20\x27\x73\x68\x61\x70\x65\x27\x3a\x20\x28\x29\x2c\x20"
    "\x7d\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x0a"
    "\x00\x00\x50\x40";
// 136 bytes
const char kNumpyU1_2x2x2[] =
    "\x93\x4e\x55\x4d\x50\x59\x01\x00\x76\x00\x7b\x27\x64\x65\x73\x63"
    "\x72\x27\x3a\x20\x27\x7c\x75\x31\x27\x2c\x20\x27\x66\x6f\x72\x74"
    "\x72\x61\x6e\x5f\x6f\x72\x64\x65\x72\x27\x3a\x20\x46\x61\x6c\x73"
    "\x65\x2c\x20\x27\x73\x68\x61\x70\x65\x27\x3a\x20\x28\x32\x2c\x20"
    "\x32\x2c\x20\x32\x29\x2c\x20\x7d\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x0a"
    "\x00\x01\x02\x03\x04\x05\x06\x07";
// 152 bytes
const char kNumpyI8[] =
    "\x93\x4e\x55\x4d\x50\x59\x01\x00\x76\x00\x7b\x27\x64\x65\x73\x63"
    "\x72\x27\x3a\x20\x27\x3c\x69\x38\x27\x2c\x20\x27\x66\x6f\x72\x74"
    "\x72\x61\x6e\x5f\x6f\x72\x64\x65\x72\x27\x3a\x20\x46\x61\x6c\x73"
    "\x65\x2c\x20\x27\x73\x68\x61\x70\x65\x27\x3a\x20\x28\x33\x2c\x29"
    "\x2c\x20\x7d\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x0a"
    "\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x01\x00\x00";
// 534 bytes
const char kNumpyNpzStored[] =
    "\x50\x4b\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x21\x00\x4e\xfb"
    "\x20\x75\x90\x00\x00\x00\x90\x00\x00\x00\x0e\x00\x14\x00\x66\x63"
    "\x31\x2f\x77\x65\x69\x67\x68\x74\x2e\x6e\x70\x79\x01\x00\x10\x00"
    "\x90\x00\x00\x00\x00\x00\x00\x00\x90\x00\x00\x00\x00\x00\x00\x00"
    "\x93\x4e\x55\x4d\x50\x59\x01\x00\x76\x00\x7b\x27\x64\x65\x73\x63"
    "\x72\x27\x3a\x20\x27\x3c\x66\x34\x27\x2c\x20\x27\x66\x6f\x72\x74"
    "\x72\x61\x6e\x5f\x6f\x72\x64\x65\x72\x27\x3a\x20\x46\x61\x6c\x73"
    "\x65\x2c\x20\x27\x73\x68\x61\x70\x65\x27\x3a\x20\x28\x32\x2c\x20"
    "\x32\x29\x2c\x20\x7d\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x0a"
    "\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x00\x00\x80\x40"
    "\x50\x4b\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x21\x00\xfd\xf4"
    "\x1b\xe1\x84\x00\x00\x00\x84\x00\x00\x00\x08\x00\x14\x00\x6c\x6f"
    "\x73\x73\x2e\x6e\x70\x79\x01\x00\x10\x00\x84\x00\x00\x00\x00\x00"
    "\x00\x00\x84\x00\x00\x00\x00\x00\x00\x00\x93\x4e\x55\x4d\x50\x59"
    "\x01\x00\x76\x00\x7b\x27\x64\x65\x73\x63\x72\x27\x3a\x20\x27\x3c"
    "\x66\x34\x27\x2c\x20\x27\x66\x6f\x72\x74\x72\x61\x6e\x5f\x6f\x72"
    "\x64\x65\x72\x27\x3a\x20\x46\x61\x6c\x73\x65\x2c\x20\x27\x73\x68"
    "\x61\x70\x65\x27\x3a\x20\x28\x29\x2c\x20\x7d\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x0a\x00\x00\x00\x3e\x50\x4b"
    "\x01\x02\x14\x03\x14\x00\x00\x00\x00\x00\x00\x00\x21\x00\x4e\xfb"
    "\x20\x75\x90\x00\x00\x00\x90\x00\x00\x00\x0e\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x00\x80\x01\x00\x00\x00\x00\x66\x63\x31\x2f"
    "\x77\x65\x69\x67\x68\x74\x2e\x6e\x70\x79\x50\x4b\x01\x02\x14\x03"
    "\x14\x00\x00\x00\x00\x00\x00\x00\x21\x00\xfd\xf4\x1b\xe1\x84\x00"
    "\x00\x00\x84\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x80\x01\xd0\x00\x00\x00\x6c\x6f\x73\x73\x2e\x6e\x70\x79"
    "\x50\x4b\x05\x06\x00\x00\x00\x00\x02\x00\x02\x00\x72\x00\x00\x00"
    "\x8e\x01\x00\x00\x00\x00";
// 411 bytes
const char kNumpyNpzDeflated[] =
    "\x50\x4b\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00\x21\x00\x4e\xfb"
    "\x20\x75\x53\x00\x00\x00\x90\x00\x00\x00\x0e\x00\x14\x00\x66\x63"
    "\x31\x2f\x77\x65\x69\x67\x68\x74\x2e\x6e\x70\x79\x01\x00\x10\x00"
    "\x90\x00\x00\x00\x00\x00\x00\x00\x53\x00\x00\x00\x00\x00\x00\x00"
    "\x9b\xec\x17\xea\x1b\x10\xc9\xc8\x50\xc6\x50\xad\x9e\x92\x5a\x9c"
    "\x5c\xa4\x6e\xa5\xa0\x6e\x93\x66\xa2\xae\xa3\xa0\x9e\x96\x5f\x54"
    "\x52\x94\x98\x17\x9f\x5f\x94\x92\x0a\x12\x77\x4b\xcc\x29\x4e\x05"
    "\x8a\x17\x67\x24\x16\xa4\x02\xf9\x1a\x46\x3a\x0a\x46\x9a\x3a\x0a"
    "\xb5\x0a\x64\x03\x2e\x06\x86\x06\x7b\x06\x06\x06\x07\x20\x02\xe2"
    "\x06\x07\x00\x50\x4b\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00\x21"
    "\x00\xfd\xf4\x1b\xe1\x46\x00\x00\x00\x84\x00\x00\x00\x08\x00\x14"
    "\x00\x6c\x6f\x73\x73\x2e\x6e\x70\x79\x01\x00\x10\x00\x84\x00\x00"
    "\x00\x00\x00\x00\x00\x46\x00\x00\x00\x00\x00\x00\x00\x9b\xec\x17"
    "\xea\x1b\x10\xc9\xc8\x50\xc6\x50\xad\x9e\x92\x5a\x9c\x5c\xa4\x6e"
    "\xa5\xa0\x6e\x93\x66\xa2\xae\xa3\xa0\x9e\x96\x5f\x54\x52\x94\x98"
    "\x17\x9f\x5f\x94\x92\x0a\x12\x77\x4b\xcc\x29\x4e\x05\x8a\x17\x67"
    "\x24\x16\xa4\x02\xf9\x1a\x9a\x3a\x0a\xb5\x0a\x14\x01\x2e\x06\x06"
    "\x06\x3b\x00\x50\x4b\x01\x02\x14\x03\x14\x00\x00\x00\x08\x00\x00"
    "\x00\x21\x00\x4e\xfb\x20\x75\x53\x00\x00\x00\x90\x00\x00\x00\x0e"
    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x01\x00\x00\x00"
    "\x00\x66\x63\x31\x2f\x77\x65\x69\x67\x68\x74\x2e\x6e\x70\x79\x50"
    "\x4b\x01\x02\x14\x03\x14\x00\x00\x00\x08\x00\x00\x00\x21\x00\xfd"
    "\xf4\x1b\xe1\x46\x00\x00\x00\x84\x00\x00\x00\x08\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x00\x00\x80\x01\x93\x00\x00\x00\x6c\x6f\x73"
    "\x73\x2e\x6e\x70\x79\x50\x4b\x05\x06\x00\x00\x00\x00\x02\x00\x02"
    "\x00\x72\x00\x00\x00\x13\x01\x00\x00\x00\x00";

std::string Bytes(const char* literal, size_t size_with_nul) {
  return std::string(literal, size_with_nul - 1);
}
#define GOLDEN(name) Bytes(name, sizeof(name))

std::string TempDir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d ? d : "/tmp";
}

template <typename T>
std::vector<T> Values(const NpyArray& a) {
  std::vector<T> v(a.data.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), a.data.data(), v.size() * sizeof(T));
  return v;
}

template <typename T>
NpyArray Make(NpyDType dtype, Shape shape, const std::vector<T>& values) {
  NpyArray a;
  a.dtype = dtype;
  a.shape = std::move(shape);
  a.data.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
  return a;
}

// A .npy file with the given header dict (padded like numpy) and data.
std::string HandNpy(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  const size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(major));
  out.push_back('\0');
  const uint32_t len = static_cast<uint32_t>(header.size());
  for (size_t i = 0; i < (major == 1 ? 2u : 4u); ++i) {
    out.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
  }
  return out + header + data;
}

std::string FloatBytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

// ---------------------------------------------------------------------------
// numpy-written bytes

TEST(NpyGoldenTest, Float32Matrix) {
  absl::StatusOr<NpyArray> a = ParseNpy(GOLDEN(kNumpyF4_2x3), "f4.npy");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->dtype, NpyDType::kFloat32);
  EXPECT_EQ(a->shape, (Shape{2, 3}));
  EXPECT_EQ(Values<float>(*a), (std::vector<float>{0, 0.5, 1, 1.5, 2, 2.5}));
  absl::StatusOr<Tensor> t = a->ToTensor();
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->shape(), (Shape{2, 3}));
  EXPECT_EQ(t->at({1, 2}), 2.5f);
  // Our writer is byte-identical to numpy's.
  EXPECT_EQ(SerializeNpy(*a), GOLDEN(kNumpyF4_2x3));
  EXPECT_EQ(SerializeNpy(NpyArray::FromTensor(*t)), GOLDEN(kNumpyF4_2x3));
}

TEST(NpyGoldenTest, BigEndianIsConverted) {
  absl::StatusOr<NpyArray> a = ParseNpy(GOLDEN(kNumpyBigEndianF8), "be.npy");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->dtype, NpyDType::kFloat64);
  EXPECT_EQ(a->shape, (Shape{3}));
  EXPECT_EQ(Values<double>(*a), (std::vector<double>{1.5, -2.25, 1e300}));
}

TEST(NpyGoldenTest, FortranOrderIsTransposedToC) {
  absl::StatusOr<NpyArray> a = ParseNpy(GOLDEN(kNumpyFortranI4_2x3), "f.npy");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->dtype, NpyDType::kInt32);
  EXPECT_EQ(a->shape, (Shape{2, 3}));
  EXPECT_EQ(Values<int32_t>(*a), (std::vector<int32_t>{0, 1, 2, 3, 4, 5}));
}

TEST(NpyGoldenTest, BoolScalarUInt8Int64) {
  absl::StatusOr<NpyArray> b = ParseNpy(GOLDEN(kNumpyBool), "b.npy");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->dtype, NpyDType::kBool);
  EXPECT_EQ(b->shape, (Shape{3}));
  EXPECT_EQ(b->ToTensor()->span()[0], 1.0f);
  EXPECT_EQ(b->ToTensor()->span()[1], 0.0f);
  EXPECT_EQ(SerializeNpy(*b), GOLDEN(kNumpyBool));

  absl::StatusOr<NpyArray> s = ParseNpy(GOLDEN(kNumpyScalarF4), "s.npy");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->shape.empty());
  EXPECT_EQ(s->numel(), 1);
  EXPECT_EQ(s->ToTensor()->span()[0], 3.25f);
  EXPECT_EQ(SerializeNpy(*s), GOLDEN(kNumpyScalarF4));
  EXPECT_EQ(SerializeNpy(NpyArray::Scalar(3.25f)), GOLDEN(kNumpyScalarF4));

  absl::StatusOr<NpyArray> u = ParseNpy(GOLDEN(kNumpyU1_2x2x2), "u.npy");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->dtype, NpyDType::kUInt8);
  EXPECT_EQ(u->shape, (Shape{2, 2, 2}));
  EXPECT_EQ(*u->ToInt64(), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(SerializeNpy(*u), GOLDEN(kNumpyU1_2x2x2));

  absl::StatusOr<NpyArray> i = ParseNpy(GOLDEN(kNumpyI8), "i.npy");
  ASSERT_TRUE(i.ok()) << i.status();
  EXPECT_EQ(*i->ToInt64(), (std::vector<int64_t>{-1, 0, int64_t{1} << 40}));
  EXPECT_EQ(SerializeNpy(NpyArray::FromInt64({3}, *i->ToInt64())), GOLDEN(kNumpyI8));
}

TEST(NpzGoldenTest, StoredAndDeflatedArchivesFromNumpy) {
  for (const std::string& bytes : {GOLDEN(kNumpyNpzStored), GOLDEN(kNumpyNpzDeflated)}) {
    absl::StatusOr<NpzMap> m = ParseNpz(bytes, "numpy.npz");
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_EQ(m->size(), 2u);
    const NpyArray& w = m->at("fc1/weight");
    EXPECT_EQ(w.shape, (Shape{2, 2}));
    EXPECT_EQ(Values<float>(w), (std::vector<float>{1, 2, 3, 4}));
    EXPECT_TRUE(m->at("loss").shape.empty());
    EXPECT_EQ(Values<float>(m->at("loss")), (std::vector<float>{0.125f}));
  }
}

// ---------------------------------------------------------------------------
// round trips

TEST(NpyRoundTripTest, EveryDTypeAndShape) {
  const std::vector<Shape> shapes = {{}, {0}, {5}, {2, 3, 4}, {0, 3}, {1, 1, 1, 1, 7}};
  const NpyDType dtypes[] = {NpyDType::kBool,   NpyDType::kInt8,    NpyDType::kUInt8,
                             NpyDType::kInt16,  NpyDType::kUInt16,  NpyDType::kInt32,
                             NpyDType::kUInt32, NpyDType::kInt64,   NpyDType::kUInt64,
                             NpyDType::kFloat32, NpyDType::kFloat64};
  NpzMap all;
  for (NpyDType dtype : dtypes) {
    for (const Shape& shape : shapes) {
      NpyArray a;
      a.dtype = dtype;
      a.shape = shape;
      const size_t n = static_cast<size_t>(NumElements(shape)) * NpyDTypeSize(dtype);
      for (size_t i = 0; i < n; ++i) {
        a.data.push_back(dtype == NpyDType::kBool ? static_cast<char>(i % 2)
                                                  : static_cast<char>(i * 37 + 11));
      }
      const std::string bytes = SerializeNpy(a);
      EXPECT_EQ((bytes.size() - a.data.size()) % 64, 0u);
      absl::StatusOr<NpyArray> b = ParseNpy(bytes, "rt.npy");
      ASSERT_TRUE(b.ok()) << b.status();
      EXPECT_EQ(b->dtype, dtype);
      EXPECT_EQ(b->shape, shape);
      EXPECT_EQ(b->data, a.data);
      all[absl::StrCat(NpyDTypeName(dtype), "/", ShapeString(shape))] = a;
    }
  }
  for (bool compress : {false, true}) {
    for (bool zip64 : {false, true}) {
      SCOPED_TRACE(absl::StrCat("compress ", compress, " zip64 ", zip64));
      const std::string z = internal::SerializeNpz(all, compress, zip64);
      absl::StatusOr<NpzMap> back = ParseNpz(z, "rt.npz");
      ASSERT_TRUE(back.ok()) << back.status();
      ASSERT_EQ(back->size(), all.size());
      for (const auto& [key, a] : all) {
        ASSERT_EQ(back->count(key), 1u) << key;
        EXPECT_EQ(back->at(key).dtype, a.dtype);
        EXPECT_EQ(back->at(key).shape, a.shape);
        EXPECT_EQ(back->at(key).data, a.data);
      }
    }
  }
}

TEST(NpzRoundTripTest, DeterministicAndCompresses) {
  NpzMap m;
  m["fc1/weight"] = NpyArray::FromTensor(Tensor::Zeros({100, 100}));
  m["step"] = NpyArray::FromInt64({}, {42});
  EXPECT_EQ(SerializeNpz(m), SerializeNpz(m));
  EXPECT_LT(SerializeNpz(m, true).size(), SerializeNpz(m, false).size() / 10);
  EXPECT_EQ(*ParseNpz(SerializeNpz(m, true), "z")->at("step").ToInt64(),
            std::vector<int64_t>{42});
  absl::StatusOr<NpzMap> empty = ParseNpz(SerializeNpz({}), "empty.npz");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());
}

TEST(NpzRoundTripTest, FilesAreWrittenAtomically) {
  const std::string dir = TempDir() + "/npz_files";
  ASSERT_TRUE(MakeDirs(dir).ok());
  NpzMap m;
  m["a"] = NpyArray::FromTensor(Tensor::FromVector({2}, {1.0f, -1.0f}));
  ASSERT_TRUE(WriteNpz(dir + "/p.npz", m, true).ok());
  ASSERT_TRUE(WriteNpy(dir + "/a.npy", m["a"]).ok());
  absl::StatusOr<NpzMap> back = ReadNpz(dir + "/p.npz");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->at("a").data, m["a"].data);
  absl::StatusOr<NpyArray> a = ReadNpy(dir + "/a.npy");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->data, m["a"].data);

  absl::StatusOr<NpzMap> missing = ReadNpz(dir + "/missing.npz");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "missing.npz"));
  // A .npy where an .npz is expected (and the other way round) says so.
  absl::StatusOr<NpzMap> wrong = ReadNpz(dir + "/a.npy");
  EXPECT_TRUE(absl::StrContains(wrong.status().message(), "expected a .npz"))
      << wrong.status();
  absl::StatusOr<NpyArray> wrong2 = ReadNpy(dir + "/p.npz");
  EXPECT_TRUE(absl::StrContains(wrong2.status().message(), "expected a .npy"))
      << wrong2.status();
}

// ---------------------------------------------------------------------------
// hand-built headers

TEST(NpyHeaderTest, AcceptsVersionsQuotesAndPython2Longs) {
  const std::string data = FloatBytes({1, 2, 3, 4, 5, 6});
  for (int major : {1, 2, 3}) {
    absl::StatusOr<NpyArray> a =
        ParseNpy(HandNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data,
                         major),
                 "v.npy");
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(a->shape, (Shape{2, 3}));
  }
  absl::StatusOr<NpyArray> b = ParseNpy(
      HandNpy("{\"shape\":(2L,3L),\"fortran_order\":False,\"descr\":\"<f4\"}", data), "q.npy");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->shape, (Shape{2, 3}));
  absl::StatusOr<NpyArray> c =
      ParseNpy(HandNpy("{'descr': 'f4', 'fortran_order': True, 'shape': (6,)}", data), "c.npy");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->shape, (Shape{6}));
  // Fortran order in three dimensions: element (i, j, k) sits at i + 2j + 4k.
  std::vector<float> f(24);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k < 6; ++k) f[i + 2 * j + 4 * k] = 100 * i + 10 * j + k;
  absl::StatusOr<NpyArray> d = ParseNpy(
      HandNpy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2, 6), }", FloatBytes(f)),
      "d.npy");
  ASSERT_TRUE(d.ok()) << d.status();
  std::vector<float> got = Values<float>(*d);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k < 6; ++k) EXPECT_EQ(got[i * 12 + j * 6 + k], 100 * i + 10 * j + k);
}

struct BadHeaderCase {
  std::string bytes;
  std::string expect;  // substring of the error
};

TEST(NpyHeaderTest, RejectsBadInputWithClearErrors) {
  const std::string d6 = FloatBytes({1, 2, 3, 4, 5, 6});
  const std::vector<BadHeaderCase> cases = {
      {"", "too short"},
      {std::string("\x93NUMPX\x01\x00\x00\x00", 10), "bad magic at byte 0"},
      {std::string("\x93NUMPY\x04\x00\x00\x00", 10), "unsupported .npy version 4.0"},
      {std::string("\x93NUMPY\x01\x00\xff\x00{", 11), "truncated"},
      {HandNpy("{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }", d6),
       "unsupported dtype descr '<c8'"},
      {HandNpy("{'descr': '<U3', 'fortran_order': False, 'shape': (2,), }", d6),
       "unsupported dtype descr '<U3'"},
      {HandNpy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }", d6),
       "structured dtypes"},
      {HandNpy("{'descr': '<f4', 'shape': (6,), }", d6), "missing key 'fortran_order'"},
      {HandNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}", d6),
       "unexpected key 'x'"},
      {HandNpy("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (6,), }", d6),
       "expected True or False"},
      {HandNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (-6,), }", d6),
       "expected a non-negative dimension"},
      {HandNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }", d6),
       "needs 28 data bytes from byte 128, found 24 (truncated)"},
      {HandNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", d6),
       "(trailing bytes)"},
      {HandNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
               d6),
       "too large"},
      {HandNpy("{'descr': '<f4' 'fortran_order': False, 'shape': (6,), }", d6),
       "malformed .npy header at byte 26: expected '}', found \"'\""},
  };
  for (const BadHeaderCase& c : cases) {
    absl::StatusOr<NpyArray> a = ParseNpy(c.bytes, "bad.npy");
    ASSERT_FALSE(a.ok()) << c.expect;
    EXPECT_TRUE(absl::StrContains(a.status().message(), c.expect)) << a.status();
    EXPECT_TRUE(absl::StartsWith(a.status().message(), "bad.npy: ")) << a.status();
  }
}

TEST(NpyArrayTest, Conversions) {
  NpyArray f = Make<double>(NpyDType::kFloat64, {3}, {1.0, -2.0, 2.5});
  EXPECT_EQ(f.ToTensor()->span()[2], 2.5f);
  absl::StatusOr<std::vector<int64_t>> bad = f.ToInt64();
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "element 2")) << bad.status();
  NpyArray g = Make<double>(NpyDType::kFloat64, {2}, {1.0, -2.0});
  EXPECT_EQ(*g.ToInt64(), (std::vector<int64_t>{1, -2}));
  NpyArray u = Make<uint64_t>(NpyDType::kUInt64, {1}, {~uint64_t{0}});
  EXPECT_FALSE(u.ToInt64().ok());
  NpyArray s = Make<int16_t>(NpyDType::kInt16, {2}, {-300, 7});
  EXPECT_EQ(s.ToTensor()->span()[0], -300.0f);
  NpyArray broken = Make<float>(NpyDType::kFloat32, {3}, {1, 2});
  EXPECT_FALSE(broken.ToTensor().ok());
  EXPECT_FALSE(WriteNpz(TempDir() + "/broken.npz", {{"x", broken}}).ok());
  EXPECT_STREQ(NpyDTypeName(NpyDType::kUInt16), "uint16");
  EXPECT_EQ(NpyDTypeSize(NpyDType::kFloat64), 8u);
}

// ---------------------------------------------------------------------------
// corruption: every truncation and byte flip is an error or a valid result,
// never a crash (also run under --config=asan).

NpzMap SmallMap() {
  NpzMap m;
  m["fc1/weight"] = NpyArray::FromTensor(Tensor::FromVector({2, 3}, {1, 2, 3, 4, 5, 6}));
  m["loss"] = NpyArray::Scalar(0.5f);
  return m;
}

TEST(NpzCorruptionTest, EveryTruncationIsAnError) {
  std::vector<std::string> archives = {
      SerializeNpz(SmallMap(), false), SerializeNpz(SmallMap(), true),
      internal::SerializeNpz(SmallMap(), true, true), GOLDEN(kNumpyNpzStored),
      GOLDEN(kNumpyNpzDeflated)};
  for (const std::string& z : archives) {
    for (size_t n = 0; n < z.size(); ++n) {
      absl::StatusOr<NpzMap> m = ParseNpz(z.substr(0, n), "cut.npz");
      ASSERT_FALSE(m.ok()) << "truncated to " << n << " of " << z.size();
      EXPECT_TRUE(absl::StartsWith(m.status().message(), "cut.npz: ")) << m.status();
    }
  }
  for (const std::string& npy : {GOLDEN(kNumpyF4_2x3), GOLDEN(kNumpyScalarF4),
                                 GOLDEN(kNumpyFortranI4_2x3)}) {
    for (size_t n = 0; n < npy.size(); ++n) {
      absl::StatusOr<NpyArray> a = ParseNpy(npy.substr(0, n), "cut.npy");
      ASSERT_FALSE(a.ok()) << "truncated to " << n;
    }
  }
  absl::StatusOr<NpyArray> a = ParseNpy(GOLDEN(kNumpyF4_2x3).substr(0, 140), "cut.npy");
  EXPECT_TRUE(absl::StrContains(a.status().message(), "found 12 (truncated)")) << a.status();
}

TEST(NpzCorruptionTest, EveryByteFlipIsSafe) {
  std::vector<std::string> archives = {
      SerializeNpz(SmallMap(), false), SerializeNpz(SmallMap(), true),
      internal::SerializeNpz(SmallMap(), false, true), GOLDEN(kNumpyNpzStored),
      GOLDEN(kNumpyNpzDeflated)};
  int errors = 0, total = 0;
  for (const std::string& z : archives) {
    for (size_t i = 0; i < z.size(); ++i) {
      for (unsigned char x : {0x01, 0x80, 0xff}) {
        std::string bad = z;
        bad[i] = static_cast<char>(bad[i] ^ x);
        absl::StatusOr<NpzMap> m = ParseNpz(bad, "flip.npz");
        ++total;
        if (!m.ok()) {
          ++errors;
          EXPECT_TRUE(absl::StartsWith(m.status().message(), "flip.npz: ")) << m.status();
        }
      }
    }
  }
  // Most flips must be caught (CRC, signatures, sizes); the rest hit fields
  // that do not matter (timestamps, attributes, padding).
  EXPECT_GT(errors, total / 2);
  for (const std::string& npy : {GOLDEN(kNumpyF4_2x3), GOLDEN(kNumpyBigEndianF8)}) {
    for (size_t i = 0; i < npy.size(); ++i) {
      std::string bad = npy;
      bad[i] = static_cast<char>(bad[i] ^ 0xff);
      (void)ParseNpy(bad, "flip.npy");
    }
  }
}

TEST(NpzCorruptionTest, ErrorsNameMemberOffsetAndExpectation) {
  const std::string z = SerializeNpz(SmallMap(), false);
  // The first member's data starts after its 30-byte local header and name.
  const size_t data = 30 + std::string("fc1/weight.npy").size();
  std::string bad = z;
  bad[data + 130] ^= 0x10;  // inside the float data
  absl::StatusOr<NpzMap> m = ParseNpz(bad, "p.npz");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(m.status().message(),
                                absl::StrCat("p.npz: member 'fc1/weight.npy': bad CRC32 of data "
                                             "at byte ",
                                             data, ": computed 0x")))
      << m.status();

  bad = z;
  bad[0] = 'X';
  m = ParseNpz(bad, "p.npz");
  EXPECT_TRUE(absl::StrContains(m.status().message(),
                                "bad local header signature at byte 0: expected PK\\3\\4"))
      << m.status();

  bad = z;
  bad[8] = 9;  // compression method 9 in the local header only
  m = ParseNpz(bad, "p.npz");
  EXPECT_TRUE(absl::StrContains(m.status().message(), "compression method 9")) << m.status();

  m = ParseNpz("not a zip file at all, just some text bytes", "t.npz");
  EXPECT_TRUE(absl::StrContains(m.status().message(), "no zip end of central directory"))
      << m.status();

  // A member whose payload is not .npy.
  NpzMap one;
  one["x"] = NpyArray::Scalar(1);
  std::string z1 = SerializeNpz(one);
  const size_t magic = z1.find("\x93NUMPY");
  ASSERT_NE(magic, std::string::npos);
  z1[magic + 1] = 'M';  // also breaks the CRC, which is checked first
  m = ParseNpz(z1, "x.npz");
  EXPECT_TRUE(absl::StrContains(m.status().message(), "bad CRC32")) << m.status();
}

// ---------------------------------------------------------------------------
// numpy interoperability (needs python3 with numpy; skipped otherwise)

bool HavePythonNumpy() {
  return std::system("python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

TEST(NumpyInteropTest, NumpyReadsOursAndWeReadNumpys) {
  if (!HavePythonNumpy()) GTEST_SKIP() << "SKIP: python3 with numpy not found on PATH";
  const std::string dir = TempDir() + "/interop";
  ASSERT_TRUE(MakeDirs(dir).ok());
  NpzMap m;
  std::vector<float> w(3 * 5);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.25f * static_cast<float>(i) - 1.0f;
  m["fc1/weight"] = NpyArray::FromTensor(Tensor::FromVector({3, 5}, w));
  m["optimizer/step"] = NpyArray::FromInt64({}, {7});
  m["mask"] = Make<uint8_t>(NpyDType::kBool, {2}, {1, 0});
  m["empty"] = NpyArray::FromTensor(Tensor::Zeros({0, 4}));
  ASSERT_TRUE(WriteNpz(dir + "/stored.npz", m, false).ok());
  ASSERT_TRUE(WriteNpz(dir + "/deflated.npz", m, true).ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/zip64.npz", internal::SerializeNpz(m, true, true)).ok());
  ASSERT_TRUE(WriteNpy(dir + "/w.npy", m["fc1/weight"]).ok());

  const std::string script = dir + "/check.py";
  ASSERT_TRUE(WriteFileAtomic(script, R"PY(
import sys, zipfile, numpy as np
d = sys.argv[1]
w = (np.arange(15, dtype=np.float32) * 0.25 - 1).reshape(3, 5)
for name in ("stored", "deflated", "zip64"):
    path = "%s/%s.npz" % (d, name)
    assert zipfile.ZipFile(path).testzip() is None, name
    z = np.load(path)
    assert sorted(z.files) == ["empty", "fc1/weight", "mask", "optimizer/step"], z.files
    assert z["fc1/weight"].dtype == np.float32 and np.array_equal(z["fc1/weight"], w)
    assert z["optimizer/step"].shape == () and z["optimizer/step"] == 7
    assert z["optimizer/step"].dtype == np.int64
    assert z["mask"].dtype == np.bool_ and list(z["mask"]) == [True, False]
    assert z["empty"].shape == (0, 4)
assert np.array_equal(np.load(d + "/w.npy"), w)
rng = np.random.default_rng(5)
big = rng.standard_normal((64, 300)).astype(np.float32)
np.savez_compressed(d + "/from_numpy.npz", big=big, ints=np.arange(10, dtype=np.int16),
                    be=np.arange(4, dtype=">i4"),
                    f=np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)))
np.save(d + "/big.npy", big)
print("python ok")
)PY").ok());
  ASSERT_EQ(std::system(("python3 " + script + " " + dir).c_str()), 0);

  absl::StatusOr<NpzMap> back = ReadNpz(dir + "/from_numpy.npz");
  ASSERT_TRUE(back.ok()) << back.status();
  absl::StatusOr<NpyArray> big = ReadNpy(dir + "/big.npy");
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(back->at("big").data, big->data);
  EXPECT_EQ(back->at("big").shape, (Shape{64, 300}));
  EXPECT_EQ(*back->at("ints").ToInt64(), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(*back->at("be").ToInt64(), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(Values<double>(back->at("f")),
            (std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
}

}  // namespace
}  // namespace slayer
