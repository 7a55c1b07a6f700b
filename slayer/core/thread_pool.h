// A fixed pool of worker threads with a blocking parallel-for. The calling
// thread takes part: a pool of size n has n-1 workers plus the caller.
// Between calls a worker spins for a while (50 us; $SLAYER_POOL_SPIN_US sets
// it, 0 switches it off) before it sleeps, and so does a caller waiting for
// the workers' last chunks: an op's calls come microseconds apart, and
// waking a sleeping thread costs tens of microseconds.
//
//   ThreadPool& pool = ThreadPool::Default();
//   pool.ParallelFor(rows, /*grain=*/1, [&](int64_t begin, int64_t end) {
//     for (int64_t r = begin; r < end; ++r) Work(r);
//   });
#ifndef SLAYER_CORE_THREAD_POOL_H_
#define SLAYER_CORE_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace slayer {

class ThreadPool {
 public:
  // `num_threads` >= 1 counts the caller: ThreadPool(1) runs inline.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Calls fn(begin, end) on disjoint chunks covering [0, n), each at least
  // `grain` long (but the last), and returns when all are done. Nested calls
  // from inside a chunk run inline. On x86, chunks run with denormal floats
  // flushed to zero (FTZ/DAZ; the caller's mode is restored on return), so
  // results below ~1.2e-38 are zero on every thread count.
  void ParallelFor(int64_t n, int64_t grain,
                   const std::function<void(int64_t, int64_t)>& fn);

  // The process-wide pool: SLAYER_THREADS, else SetDefaultThreads, else the
  // number of hardware threads.
  static ThreadPool& Default();
  // Replaces the default pool's size (call before heavy work starts).
  static void SetDefaultThreads(int num_threads);

 private:
  void WorkerLoop();
  void RunChunks();

  const int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  bool stop_ = false;
  // Written under mu_; atomic so that a spinning thread may read them
  // without it.
  std::atomic<uint64_t> generation_{0};
  // The job in flight (guarded by mu_ for publication).
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int64_t chunk_ = 0;
  int64_t next_ = 0;
  std::atomic<int> active_{0};
  std::mutex call_mu_;  // one ParallelFor at a time per pool
};

}  // namespace slayer

#endif  // SLAYER_CORE_THREAD_POOL_H_
