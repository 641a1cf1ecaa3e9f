#include "common/thread_pool.h"

#include <sched.h>

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#define MOE_PAUSE() _mm_pause()
#else
#define MOE_PAUSE() \
  do {              \
  } while (0)
#endif

namespace moe {
namespace {
// Spin iterations before blocking. Short: on an oversubscribed machine the thread we wait for
// may not be running at all.
constexpr int kSpinIterations = 2000;
}  // namespace

int HardwareThreads() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

ThreadPool::ThreadPool(int num_threads)
    : num_threads_(num_threads > 0 ? num_threads : HardwareThreads()) {
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    ++generation_;
    generation_seen_.store(generation_, std::memory_order_release);
  }
  start_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::RunJob(int index) {
  if (all_fn_ != nullptr) {
    (*all_fn_)(index);
    return;
  }
  for (;;) {
    int64_t begin = next_.fetch_add(grain_, std::memory_order_relaxed);
    if (begin >= n_) break;
    int64_t end = std::min(n_, begin + grain_);
    (*range_fn_)(begin, end);
  }
}

void ThreadPool::WorkerLoop(int index) {
  uint64_t seen = 0;
  for (;;) {
    // Spin briefly for the next job, then block.
    int spins = 0;
    while (generation_seen_.load(std::memory_order_acquire) == seen && spins < kSpinIterations) {
      MOE_PAUSE();
      ++spins;
    }
    {
      std::unique_lock<std::mutex> lock(mu_);
      start_cv_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
      if (stop_) return;
    }
    RunJob(index);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mu_);
      done_cv_.notify_one();
    }
  }
}

void ThreadPool::Dispatch() {
  start_cv_.notify_all();
  RunJob(0);
  int spins = 0;
  while (pending_.load(std::memory_order_acquire) != 0 && spins < kSpinIterations) {
    MOE_PAUSE();
    ++spins;
  }
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
  range_fn_ = nullptr;
  all_fn_ = nullptr;
}

void ThreadPool::RunOnAll(const std::function<void(int)>& fn) {
  if (num_threads_ == 1) {
    fn(0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    all_fn_ = &fn;
    range_fn_ = nullptr;
    pending_.store(num_threads_ - 1, std::memory_order_relaxed);
    ++generation_;
    generation_seen_.store(generation_, std::memory_order_release);
  }
  Dispatch();
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain,
                             const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  if (num_threads_ == 1 || n <= grain) {
    fn(0, n);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    range_fn_ = &fn;
    all_fn_ = nullptr;
    n_ = n;
    grain_ = grain;
    next_.store(0, std::memory_order_relaxed);
    pending_.store(num_threads_ - 1, std::memory_order_relaxed);
    ++generation_;
    generation_seen_.store(generation_, std::memory_order_release);
  }
  Dispatch();
}

}  // namespace moe
