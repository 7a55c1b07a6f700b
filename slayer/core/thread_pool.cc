#include "slayer/core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>

#if defined(__SSE__)
#include <xmmintrin.h>
#endif
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace slayer {
namespace {

// Flush-to-zero and denormals-are-zero (x86 SSE control bits) for the
// lifetime of the object (the previous mode comes back after). A float below 2^-126 (~1.2e-38) then
// counts as zero: far below anything a gradient or potential means, and
// arithmetic on such values no longer drops into microcode (about 100x
// slower per operation; surrogate gradients of very negative potentials,
// exp(-|u - theta| / (tau_rho theta)), land there).
class ScopedFlushDenormals {
 public:
#if defined(__SSE__)
  ScopedFlushDenormals() : saved_(_mm_getcsr() & (kFtz | kDaz)) {
    _mm_setcsr(_mm_getcsr() | kFtz | kDaz);
  }
  // Only the two mode bits go back: exception flags raised meanwhile stay.
  ~ScopedFlushDenormals() { _mm_setcsr((_mm_getcsr() & ~(kFtz | kDaz)) | saved_); }

 private:
  static constexpr unsigned kFtz = 1u << 15;
  static constexpr unsigned kDaz = 1u << 6;
  unsigned saved_;
#else
  ScopedFlushDenormals() {}  // no SSE control register to set
  ~ScopedFlushDenormals() {}
#endif
};

thread_local bool t_inside_pool = false;

// How long a worker that ran out of chunks, and a caller waiting for the
// workers' last chunks, spin before they sleep on a condition variable: an
// op's ParallelFor calls come microseconds apart, and being woken from a
// condition variable costs tens of microseconds (more on a virtual machine).
int64_t SpinNanoseconds() {
  static const int64_t ns = [] {
    constexpr int64_t kDefaultUs = 50;
    const char* env = std::getenv("SLAYER_POOL_SPIN_US");
    if (env == nullptr || env[0] == '\0') return kDefaultUs * 1000;
    char* end = nullptr;
    const long long us = std::strtoll(env, &end, 10);
    if (*end != '\0' || us < 0 || us > 1000000) {
      std::fprintf(stderr,
                   "slayer: SLAYER_POOL_SPIN_US=%s is not a number of microseconds in "
                   "[0, 1000000]; using %lld\n",
                   env, static_cast<long long>(kDefaultUs));
      return kDefaultUs * 1000;
    }
    return static_cast<int64_t>(us) * 1000;
  }();
  return ns;
}

// Spins until done() or the spin time is up; returns done().
template <typename Done>
bool SpinUntil(Done&& done) {
  if (done()) return true;
  const int64_t budget = SpinNanoseconds();
  if (budget <= 0) return false;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 1;; ++i) {
#if defined(__SSE2__)
    _mm_pause();
#endif
    if (done()) return true;
    if (i % 64 == 0 && std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::steady_clock::now() - start)
                               .count() > budget) {
      return done();
    }
  }
}
std::atomic<int> g_default_threads{0};

int DefaultThreadCount() {
  if (int n = g_default_threads.load(); n > 0) return n;
  if (const char* env = std::getenv("SLAYER_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

ThreadPool::ThreadPool(int num_threads)
    : num_threads_(std::max(1, num_threads)) {
  for (int i = 1; i < num_threads_; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::RunChunks() {
  for (;;) {
    int64_t begin, end;
    const std::function<void(int64_t, int64_t)>* fn;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (next_ >= n_) return;
      begin = next_;
      end = std::min(n_, begin + chunk_);
      next_ = end;
      fn = fn_;
    }
    (*fn)(begin, end);
  }
}

void ThreadPool::WorkerLoop() {
  t_inside_pool = true;
  const ScopedFlushDenormals flush;  // workers only ever run chunks
  uint64_t seen = 0;
  for (;;) {
    SpinUntil([&] { return generation_.load(std::memory_order_acquire) != seen; });
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      ++active_;
    }
    RunChunks();
    {
      std::lock_guard<std::mutex> lock(mu_);
      --active_;
    }
    done_cv_.notify_all();
  }
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain,
                             const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const ScopedFlushDenormals flush;  // the caller runs chunks too
  if (num_threads_ == 1 || t_inside_pool || n <= grain) {
    fn(0, n);
    return;
  }
  std::lock_guard<std::mutex> call_lock(call_mu_);
  // Up to 16 chunks per thread (each at least `grain`): an op's tasks are
  // often few and heavy (a sample's GEMM, a panel's backward), and with
  // fewer, larger chunks the threads wait for each other's last one; the
  // lock is taken once per chunk.
  constexpr int64_t kChunksPerThread = 16;
  const int64_t chunk = std::max(
      grain, (n + kChunksPerThread * num_threads_ - 1) / (kChunksPerThread * num_threads_));
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = &fn;
    n_ = n;
    chunk_ = chunk;
    next_ = 0;
    ++generation_;
  }
  work_cv_.notify_all();
  t_inside_pool = true;
  RunChunks();
  t_inside_pool = false;
  // All chunks are claimed; the workers' last ones may still run.
  SpinUntil([&] { return active_.load(std::memory_order_acquire) == 0; });
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return active_ == 0 && next_ >= n_; });
  fn_ = nullptr;
}

namespace {
std::mutex g_default_mu;
std::unique_ptr<ThreadPool> g_default_pool;
}  // namespace

ThreadPool& ThreadPool::Default() {
  std::lock_guard<std::mutex> lock(g_default_mu);
  if (!g_default_pool) g_default_pool = std::make_unique<ThreadPool>(DefaultThreadCount());
  return *g_default_pool;
}

void ThreadPool::SetDefaultThreads(int num_threads) {
  std::lock_guard<std::mutex> lock(g_default_mu);
  g_default_threads.store(num_threads);
  g_default_pool = std::make_unique<ThreadPool>(DefaultThreadCount());
}

}  // namespace slayer
