#include "slayer/cuda/caching_allocator.h"

#include <cstdlib>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace slayer {
namespace cuda {
namespace {

// Host memory standing in for the device, with a budget to provoke "out of
// memory" and counters to see what reached it.
class FakeMemory : public RawMemory {
 public:
  explicit FakeMemory(size_t budget = ~size_t{0}) : budget_(budget) {}
  absl::StatusOr<void*> Allocate(size_t bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (in_use_ + bytes > budget_) return absl::ResourceExhaustedError("fake out of memory");
    in_use_ += bytes;
    ++allocs_;
    void* p = std::malloc(bytes);
    sizes_[p] = bytes;
    return p;
  }
  void Free(void* ptr) override {
    std::lock_guard<std::mutex> lock(mu_);
    in_use_ -= sizes_.at(ptr);
    sizes_.erase(ptr);
    ++frees_;
    std::free(ptr);
  }
  int allocs() const { return allocs_; }
  int frees() const { return frees_; }
  size_t in_use() const { return in_use_; }

 private:
  std::mutex mu_;
  size_t budget_;
  size_t in_use_ = 0;
  int allocs_ = 0, frees_ = 0;
  std::unordered_map<void*, size_t> sizes_;
};

TEST(CachingAllocator, BucketsRoundUpByQuarterPowersOfTwo) {
  EXPECT_EQ(CachingAllocator::BucketSize(1), 512u);
  EXPECT_EQ(CachingAllocator::BucketSize(512), 512u);
  EXPECT_EQ(CachingAllocator::BucketSize(513), 640u);   // 512 + 128
  EXPECT_EQ(CachingAllocator::BucketSize(1024), 1024u);
  EXPECT_EQ(CachingAllocator::BucketSize(1025), 1280u);
  EXPECT_EQ(CachingAllocator::BucketSize(3000), 3072u);  // 2048 + 2*512
  EXPECT_EQ(CachingAllocator::BucketSize(size_t{1} << 30), size_t{1} << 30);
  for (size_t b = 1; b < 100000; b += 997) {
    const size_t bucket = CachingAllocator::BucketSize(b);
    EXPECT_GE(bucket, b);
    EXPECT_LT(bucket, b + b / 4 + 512) << b;
  }
}

TEST(CachingAllocator, ReusesFreedBlocksOnTheSameStream) {
  FakeMemory raw;
  CachingAllocator alloc(&raw);
  void* a = *alloc.Allocate(1000, /*stream=*/1);
  alloc.Free(a);
  void* b = *alloc.Allocate(900, 1);  // same bucket (1024)
  EXPECT_EQ(a, b);
  EXPECT_EQ(raw.allocs(), 1);
  EXPECT_EQ(alloc.stats().cache_hits, 1);
  EXPECT_EQ(alloc.stats().bytes_in_use, 1024);
  alloc.Free(b);
  EXPECT_EQ(alloc.stats().bytes_in_use, 0);
  EXPECT_EQ(alloc.stats().bytes_cached, 1024);
}

TEST(CachingAllocator, OtherStreamsDoNotGetABlockUntilItsStreamIsReleased) {
  FakeMemory raw;
  CachingAllocator alloc(&raw);
  void* a = *alloc.Allocate(4096, 1);
  alloc.Free(a);
  void* b = *alloc.Allocate(4096, 2);
  EXPECT_NE(a, b);
  EXPECT_EQ(raw.allocs(), 2);
  alloc.Free(b);
  alloc.ReleaseStream(1);
  void* c = *alloc.Allocate(4096, 3);
  EXPECT_EQ(c, a);  // stream 1's block now serves anyone
  alloc.Free(c);
}

TEST(CachingAllocator, EmptyCacheReturnsEverythingCached) {
  FakeMemory raw;
  CachingAllocator alloc(&raw);
  std::vector<void*> ptrs;
  for (int i = 0; i < 5; ++i) ptrs.push_back(*alloc.Allocate(1 << (10 + i), 1));
  for (void* p : ptrs) alloc.Free(p);
  EXPECT_GT(raw.in_use(), 0u);
  alloc.EmptyCache();
  EXPECT_EQ(raw.in_use(), 0u);
  EXPECT_EQ(raw.frees(), 5);
  EXPECT_EQ(alloc.stats().bytes_cached, 0);
}

TEST(CachingAllocator, OutOfMemoryFlushesTheCacheAndRetries) {
  FakeMemory raw(/*budget=*/8192);
  CachingAllocator alloc(&raw);
  void* a = *alloc.Allocate(4096, 1);
  void* b = *alloc.Allocate(4096, 1);
  alloc.Free(a);
  alloc.Free(b);
  // 6 KiB does not fit beside the cached 8 KiB: the cache is flushed first.
  absl::StatusOr<void*> c = alloc.Allocate(6144, 1);
  ASSERT_TRUE(c.ok()) << c.status();
  alloc.Free(*c);
  // Truly too big: a clear error.
  absl::StatusOr<void*> d = alloc.Allocate(1 << 20, 1);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(d.status().message().find("1048576 bytes"), absl::string_view::npos);
}

TEST(CachingAllocator, ThreadSafe) {
  FakeMemory raw;
  CachingAllocator alloc(&raw);
  constexpr int kThreads = 8, kRounds = 2000;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<void*> all_live;
  bool overlap = false;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<void*> mine;
      for (int i = 0; i < kRounds; ++i) {
        void* p = *alloc.Allocate(512 * (1 + (i + t) % 7), static_cast<uintptr_t>(t % 3));
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!all_live.insert(p).second) overlap = true;
        }
        mine.push_back(p);
        if (mine.size() > 4) {
          {
            std::lock_guard<std::mutex> lock(mu);
            all_live.erase(mine.front());
          }
          alloc.Free(mine.front());
          mine.erase(mine.begin());
        }
      }
      for (void* p : mine) {
        {
          std::lock_guard<std::mutex> lock(mu);
          all_live.erase(p);
        }
        alloc.Free(p);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_FALSE(overlap) << "one block was handed out twice";
  EXPECT_EQ(alloc.stats().bytes_in_use, 0);
  alloc.EmptyCache();
  EXPECT_EQ(raw.in_use(), 0u);
}

}  // namespace
}  // namespace cuda
}  // namespace slayer
