#include "common/thread_pool.h"

#include <sched.h>

#include <algorithm>
#include <chrono>

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
// next_: the job tag in the top bits, the next index below.
constexpr int kTagBits = 24;
constexpr int kIndexBits = 64 - kTagBits;
constexpr uint64_t kTagMask = (uint64_t{1} << kTagBits) - 1;
constexpr uint64_t kIndexMask = (uint64_t{1} << kIndexBits) - 1;
// Above this many items the index could reach the tag bits: such a job runs inline.
constexpr int64_t kMaxItems = int64_t{1} << (kIndexBits - 2);
// Running alone: jobs per accounting window, and the bounds of a period alone.
constexpr int kWindowJobs = 32;
constexpr int64_t kAloneMinNs = 50'000'000;
constexpr int64_t kAloneMaxNs = 1'600'000'000;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
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
    : num_threads_(num_threads > 0 ? num_threads : HardwareThreads()), alone_for_ns_(kAloneMinNs) {
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

int64_t ThreadPool::RunChunks(RangeJob job) {
  const uint64_t tag = job.generation & kTagMask;
  const int64_t grain = job.grain;
  int64_t ran = 0;
  for (;;) {
    uint64_t cur = next_.load(std::memory_order_relaxed);
    int64_t begin;
    do {
      begin = static_cast<int64_t>(cur & kIndexMask);
      if ((cur >> kIndexBits) != tag || begin >= job.n) return ran;  // over, or another job
    } while (!next_.compare_exchange_weak(cur, cur + static_cast<uint64_t>(grain),
                                          std::memory_order_acquire, std::memory_order_relaxed));
    // Claims tile the counter's indices whatever their sizes, so each item is claimed once.
    // The job claimed from cannot end before this claim is done, so it is the current one; a
    // tag equal by wrap-around (a thread asleep for 2^kTagBits jobs) shows here, and the claim
    // is then run with the current job's parameters.
    if (generation_seen_.load(std::memory_order_acquire) != job.generation) {
      std::lock_guard<std::mutex> lock(mu_);
      job = range_;
    }
    const int64_t end = std::min(job.n, begin + grain);
    if (begin >= end) continue;
    (*job.fn)(begin, end);
    ran += end - begin;
    if (done_.fetch_add(end - begin, std::memory_order_acq_rel) + (end - begin) == job.n) {
      std::lock_guard<std::mutex> lock(mu_);  // the caller may be blocked on done_cv_
      done_cv_.notify_all();
    }
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
    const std::function<void(int)>* all_fn;
    RangeJob job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      start_cv_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
      if (stop_) return;
      all_fn = all_fn_;
      job = range_;
    }
    if (all_fn == nullptr) {
      RunChunks(job);  // may find the job finished and its caller gone: then it does nothing
      continue;
    }
    (*all_fn)(index);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mu_);
      done_cv_.notify_all();
    }
  }
}

// Waits, spinning briefly and then blocking, until done() (set by the workers, who notify
// done_cv_ under mu_ after making it true).
template <class Done>
void WaitDone(std::mutex& mu, std::condition_variable& cv, Done done) {
  for (int spins = 0; !done() && spins < kSpinIterations; ++spins) MOE_PAUSE();
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, done);
}

void ThreadPool::RunOnAll(const std::function<void(int)>& fn) {
  if (num_threads_ == 1) {
    fn(0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    all_fn_ = &fn;
    pending_.store(num_threads_ - 1, std::memory_order_relaxed);
    ++generation_;
    generation_seen_.store(generation_, std::memory_order_release);
  }
  start_cv_.notify_all();
  fn(0);
  WaitDone(mu_, done_cv_, [&] { return pending_.load(std::memory_order_acquire) == 0; });
  std::lock_guard<std::mutex> lock(mu_);
  all_fn_ = nullptr;
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain,
                             const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  if (num_threads_ == 1 || n <= grain || n > kMaxItems) {
    fn(0, n);
    return;
  }
  if (RunAlone()) {
    ++stats_.alone_jobs;
    fn(0, n);
    return;
  }
  ++stats_.shared_jobs;
  const int64_t t0 = NowNs();
  RangeJob job;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++generation_;
    job = {&fn, n, grain, generation_};
    range_ = job;
    done_.store(0, std::memory_order_relaxed);
    next_.store((generation_ & kTagMask) << kIndexBits, std::memory_order_release);
    generation_seen_.store(generation_, std::memory_order_release);
  }
  start_cv_.notify_all();
  const int64_t mine = RunChunks(job);
  const int64_t t1 = NowNs();
  // Every chunk claimed has been or is being run; wait for the ones other threads hold.
  WaitDone(mu_, done_cv_, [&] { return done_.load(std::memory_order_acquire) == n; });
  Account(n, mine, t1 - t0, NowNs() - t1);
}

bool ThreadPool::RunAlone() { return alone_until_ns_ != 0 && NowNs() < alone_until_ns_; }

void ThreadPool::Account(int64_t n, int64_t mine, int64_t work_ns, int64_t wait_ns) {
  // What the other threads' items would have cost the caller, at the rate it ran its own. If
  // it ran none, they did the whole job while it was getting there.
  window_saved_ns_ += mine > 0 ? static_cast<int64_t>(static_cast<double>(work_ns) *
                                                      static_cast<double>(n - mine) / mine)
                               : work_ns + wait_ns;
  window_waited_ns_ += wait_ns;
  if (++window_jobs_ < kWindowJobs) return;
  if (window_waited_ns_ > window_saved_ns_) {
    alone_until_ns_ = NowNs() + alone_for_ns_;
    alone_for_ns_ = std::min(2 * alone_for_ns_, kAloneMaxNs);
  } else {
    alone_until_ns_ = 0;
    alone_for_ns_ = kAloneMinNs;
  }
  window_jobs_ = 0;
  window_saved_ns_ = window_waited_ns_ = 0;
}

}  // namespace moe
