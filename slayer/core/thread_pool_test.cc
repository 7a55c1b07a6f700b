#include "slayer/core/thread_pool.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace slayer {
namespace {

TEST(ThreadPoolTest, CoversEveryIndexOnce) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 7, 1000, 100003}) {
      std::vector<std::atomic<int>> hits(n);
      pool.ParallelFor(n, 3, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[i]++;
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << threads << " " << n;
    }
  }
}

TEST(ThreadPoolTest, ManyCallsInARow) {
  ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  for (int rep = 0; rep < 2000; ++rep) {
    pool.ParallelFor(64, 1, [&](int64_t b, int64_t e) { sum += e - b; });
  }
  EXPECT_EQ(sum.load(), 64 * 2000);
}

TEST(ThreadPoolTest, CallsAfterTheWorkersSleptAndWhileTheySpin) {
  // Calls far enough apart that the workers have stopped spinning and sleep
  // (woken by the condition variable), and calls right after each other
  // (taken while they spin); both threads take part in a long call.
  ThreadPool pool(2);
  int shared_after_sleep = 0, shared_back_to_back = 0;
  for (int rep = 0; rep < 6; ++rep) {
    if (rep % 2 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::vector<std::atomic<int>> hits(500);
    std::mutex mu;
    std::set<std::thread::id> threads;
    pool.ParallelFor(500, 1, [&](int64_t b, int64_t e) {
      {
        std::lock_guard<std::mutex> lock(mu);
        threads.insert(std::this_thread::get_id());
      }
      for (int64_t i = b; i < e; ++i) hits[i]++;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    });
    for (int64_t i = 0; i < 500; ++i) ASSERT_EQ(hits[i].load(), 1) << rep;
    (rep % 2 == 0 ? shared_after_sleep : shared_back_to_back) += threads.size() == 2;
  }
  // (Not every call: on a loaded machine the worker may come too late.)
  EXPECT_GT(shared_after_sleep, 0) << "the worker never woke for a call";
  EXPECT_GT(shared_back_to_back, 0) << "the worker never took part in a call";
}

TEST(ThreadPoolTest, NestedCallsRunInline) {
  ThreadPool pool(2);
  std::atomic<int> count{0};
  pool.ParallelFor(4, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      pool.ParallelFor(10, 1, [&](int64_t bb, int64_t ee) { count += ee - bb; });
    }
  });
  EXPECT_EQ(count.load(), 40);
}

TEST(ThreadPoolTest, GrainIsRespected) {
  ThreadPool pool(4);
  std::atomic<int> small{0};
  pool.ParallelFor(100, 30, [&](int64_t b, int64_t e) {
    if (e - b < 30 && e != 100) small++;
  });
  EXPECT_EQ(small.load(), 0);
}

}  // namespace
}  // namespace slayer
