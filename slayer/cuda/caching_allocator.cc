#include "slayer/cuda/caching_allocator.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "slayer/core/check.h"

namespace slayer {
namespace cuda {

size_t CachingAllocator::BucketSize(size_t bytes) {
  constexpr size_t kMinBucket = 512;
  if (bytes <= kMinBucket) return kMinBucket;
  // The largest power of two not above `bytes`, then quarter steps of it.
  size_t power = size_t{1} << (63 - __builtin_clzll(static_cast<unsigned long long>(bytes)));
  if (power == bytes) return bytes;
  size_t step = power / 4;
  return (bytes + step - 1) / step * step;
}

absl::StatusOr<void*> CachingAllocator::Allocate(size_t bytes, uintptr_t stream) {
  const size_t bucket = BucketSize(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  for (uintptr_t key : {stream, kAnyStream}) {
    auto it = free_.find(Key(key, bucket));
    if (it != free_.end() && !it->second.empty()) {
      void* ptr = it->second.back();
      it->second.pop_back();
      live_[ptr] = Block{bucket, stream};
      stats_.bytes_cached -= static_cast<int64_t>(bucket);
      stats_.bytes_in_use += static_cast<int64_t>(bucket);
      stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
      ++stats_.cache_hits;
      return ptr;
    }
  }
  absl::StatusOr<void*> ptr = raw_->Allocate(bucket);
  if (!ptr.ok() && stats_.bytes_cached > 0) {
    EmptyCacheLocked();
    ptr = raw_->Allocate(bucket);
  }
  if (!ptr.ok()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "device allocation of ", bytes, " bytes (bucket ", bucket, ") failed with ",
        stats_.bytes_in_use, " bytes in use: ", ptr.status().message()));
  }
  live_[*ptr] = Block{bucket, stream};
  ++stats_.raw_allocations;
  stats_.bytes_in_use += static_cast<int64_t>(bucket);
  stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
  return *ptr;
}

void CachingAllocator::Free(void* ptr) {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(ptr);
  SLAYER_CHECK(it != live_.end()) << "CachingAllocator::Free of a pointer it did not allocate";
  const Block block = it->second;
  live_.erase(it);
  free_[Key(block.stream, block.bucket)].push_back(ptr);
  stats_.bytes_in_use -= static_cast<int64_t>(block.bucket);
  stats_.bytes_cached += static_cast<int64_t>(block.bucket);
}

void CachingAllocator::ReleaseStream(uintptr_t stream) {
  if (stream == kAnyStream) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = free_.lower_bound(Key(stream, 0));
       it != free_.end() && it->first.first == stream;) {
    std::vector<void*>& shared = free_[Key(kAnyStream, it->first.second)];
    shared.insert(shared.end(), it->second.begin(), it->second.end());
    it = free_.erase(it);
  }
  // Live blocks of the stream now belong to nobody in particular: when they
  // come back they are free for every stream.
  for (auto& [ptr, block] : live_) {
    if (block.stream == stream) block.stream = kAnyStream;
  }
}

void CachingAllocator::EmptyCache() {
  std::lock_guard<std::mutex> lock(mu_);
  EmptyCacheLocked();
}

void CachingAllocator::EmptyCacheLocked() {
  for (auto& [key, ptrs] : free_) {
    for (void* ptr : ptrs) raw_->Free(ptr);
  }
  free_.clear();
  stats_.bytes_cached = 0;
}

CachingAllocator::Stats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace cuda
}  // namespace slayer
