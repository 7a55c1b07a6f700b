#include "slayer/train/communicator.h"

#include <condition_variable>
#include <cstring>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"

namespace slayer {
namespace train {
namespace {

// Shared state of a thread group: a two-phase barrier around a table of
// per-rank buffers.
class ThreadGroup {
 public:
  explicit ThreadGroup(int size) : size_(size), buffers_(size) {}

  // Runs `reduce` on rank 0's thread once all ranks have posted a buffer;
  // everyone leaves after it finished.
  template <typename Fn>
  absl::Status Collective(int rank, void* buffer, size_t bytes, Fn reduce) {
    std::unique_lock<std::mutex> lock(mu_);
    const uint64_t gen = generation_;
    buffers_[rank] = {buffer, bytes};
    if (++arrived_ == size_) {
      for (const Slot& s : buffers_) {
        if (s.bytes != bytes) {
          status_ = absl::InvalidArgumentError(
              absl::StrCat("collective buffers differ in size across ranks (", s.bytes, " vs ",
                           bytes, " bytes)"));
        }
      }
      if (status_.ok()) reduce(buffers_);
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return generation_ != gen; });
    }
    return status_;
  }

  struct Slot {
    void* data = nullptr;
    size_t bytes = 0;
  };
  int size() const { return size_; }

 private:
  const int size_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Slot> buffers_;
  int arrived_ = 0;
  uint64_t generation_ = 0;
  absl::Status status_;
};

template <typename T>
void SumIntoAll(std::vector<ThreadGroup::Slot>& slots) {
  const size_t n = slots[0].bytes / sizeof(T);
  std::vector<T> sum(n, T(0));
  for (const ThreadGroup::Slot& s : slots) {
    const T* p = static_cast<const T*>(s.data);
    for (size_t i = 0; i < n; ++i) sum[i] += p[i];
  }
  for (ThreadGroup::Slot& s : slots) std::memcpy(s.data, sum.data(), n * sizeof(T));
}

class ThreadCommunicator : public Communicator {
 public:
  ThreadCommunicator(std::shared_ptr<ThreadGroup> group, int rank)
      : group_(std::move(group)), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return group_->size(); }
  absl::Status AllReduceSum(absl::Span<float> data) override {
    return group_->Collective(rank_, data.data(), data.size() * sizeof(float),
                              [](auto& slots) { SumIntoAll<float>(slots); });
  }
  absl::Status AllReduceSum(absl::Span<double> data) override {
    return group_->Collective(rank_, data.data(), data.size() * sizeof(double),
                              [](auto& slots) { SumIntoAll<double>(slots); });
  }
  absl::Status Broadcast(absl::Span<float> data, int root) override {
    return group_->Collective(rank_, data.data(), data.size() * sizeof(float),
                              [root](auto& slots) {
                                for (auto& s : slots) {
                                  if (s.data != slots[root].data) {
                                    std::memcpy(s.data, slots[root].data, s.bytes);
                                  }
                                }
                              });
  }

 private:
  std::shared_ptr<ThreadGroup> group_;
  int rank_;
};

}  // namespace

std::vector<std::unique_ptr<Communicator>> MakeThreadGroup(int size) {
  auto group = std::make_shared<ThreadGroup>(size);
  std::vector<std::unique_ptr<Communicator>> out;
  for (int r = 0; r < size; ++r) out.push_back(std::make_unique<ThreadCommunicator>(group, r));
  return out;
}

}  // namespace train
}  // namespace slayer
