// A thread-safe caching allocator for device memory. Freed blocks go to a
// free list keyed by (stream, size bucket) and are handed out again to the
// same stream without a cudaMalloc/cudaFree round trip (both synchronise the
// device). Reuse on the allocating stream is safe without events because
// work on one stream runs in order; a block used from another stream must be
// synchronised by its user before it is freed (as with PyTorch's allocator).
// Sizes round up to a bucket (steps of a quarter of a power of two, at least
// 512 bytes), so the waste is below 25%. The raw allocation functions are
// injected, which lets the bookkeeping be tested on a machine without a GPU.
//
//   CachingAllocator alloc(&raw_cuda_memory);       // RawMemory: Allocate/Free
//   SLAYER_ASSIGN_OR_RETURN(void* p, alloc.Allocate(bytes, StreamKey(stream)));
//   alloc.Free(p);                                   // cached for `stream`
//   alloc.ReleaseStream(StreamKey(stream));          // stream drained and gone
#ifndef SLAYER_CUDA_CACHING_ALLOCATOR_H_
#define SLAYER_CUDA_CACHING_ALLOCATOR_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace slayer {
namespace cuda {

// The uncached memory underneath (cudaMalloc/cudaFree on a GPU).
class RawMemory {
 public:
  virtual ~RawMemory() = default;
  virtual absl::StatusOr<void*> Allocate(size_t bytes) = 0;
  virtual void Free(void* ptr) = 0;
};

class CachingAllocator {
 public:
  // Blocks on this key's list may go to any stream (their stream was drained).
  static constexpr uintptr_t kAnyStream = ~uintptr_t{0};

  struct Stats {
    int64_t bytes_in_use = 0;     // bucket bytes handed out and not freed
    int64_t bytes_cached = 0;     // bucket bytes held in free lists
    int64_t raw_allocations = 0;  // calls to RawMemory::Allocate that succeeded
    int64_t cache_hits = 0;       // Allocate calls served from a free list
    int64_t peak_bytes_in_use = 0;
  };

  explicit CachingAllocator(RawMemory* raw) : raw_(raw) {}
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // A block of at least `bytes` for work on `stream`. On raw allocation
  // failure returns every cached block to RawMemory and tries once more;
  // then ResourceExhausted with the allocator's numbers.
  absl::StatusOr<void*> Allocate(size_t bytes, uintptr_t stream);
  // Returns `ptr` (from Allocate) to the free list of its stream. Freeing a
  // pointer this allocator did not hand out is a programmer error (CHECK).
  void Free(void* ptr);
  // The stream was drained and will not be used again: its free blocks
  // become available to every stream.
  void ReleaseStream(uintptr_t stream);
  // Gives every cached block back to RawMemory.
  void EmptyCache();

  Stats stats() const;
  // The size class `bytes` is rounded up to.
  static size_t BucketSize(size_t bytes);

 private:
  struct Block {
    size_t bucket;
    uintptr_t stream;
  };
  using Key = std::pair<uintptr_t, size_t>;  // (stream, bucket)

  void EmptyCacheLocked();

  RawMemory* raw_;
  mutable std::mutex mu_;
  std::map<Key, std::vector<void*>> free_;
  std::unordered_map<void*, Block> live_;
  Stats stats_;
};

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_CACHING_ALLOCATOR_H_
