// A fork-join thread pool for the layer math.
//
// The calling thread takes part in every job, so ThreadPool(1) runs everything inline. Work is
// handed out in chunks from an atomic counter: a thread that is descheduled holds up at most
// one chunk, never a fixed share. A ParallelFor is over when its chunks are done, not when every
// worker has looked in: a worker that was not running while the others did the job is not
// waited for (it finds the job gone when it wakes). Threads wait by spinning briefly and then
// blocking on a condition variable, so two threads on one physical core do not burn each
// other's time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace moe {

class ThreadPool {
 public:
  // num_threads <= 0 means one per hardware thread.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Calls fn(begin, end) over [0, n) in chunks of about `grain` items (at least 1), spread over
  // the threads that are running; returns when every chunk is done. With one thread (or n <=
  // grain) it is one call fn(0, n). Not reentrant: fn must not call the pool.
  void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

  // Calls fn(thread_index) once on each of the num_threads() threads.
  void RunOnAll(const std::function<void(int)>& fn);

 private:
  // A ParallelFor as one thread sees it (copied under mu_ when it joins).
  struct RangeJob {
    const std::function<void(int64_t, int64_t)>* fn;
    int64_t n, grain;
    uint64_t generation;  // its low bits tag the chunk counter (see next_)
  };
  void WorkerLoop(int index);
  // Claims and runs chunks of `job` while it is the current job and chunks are left.
  void RunChunks(RangeJob job);

  const int num_threads_;
  std::vector<std::thread> workers_;

  std::mutex mu_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  uint64_t generation_ = 0;  // guarded by mu_; bumped per job
  bool stop_ = false;        // guarded by mu_
  std::atomic<uint64_t> generation_seen_{0};

  // The current job (written under mu_ with the generation_ it is published as).
  RangeJob range_{};  // when all_fn_ is null
  const std::function<void(int)>* all_fn_ = nullptr;
  // The next chunk's first index, tagged in the top kTagBits bits with the low bits of the job's
  // generation: a thread still holding an earlier job's parameters cannot claim from this one.
  std::atomic<uint64_t> next_{0};
  std::atomic<int64_t> done_{0};  // items of the current ParallelFor finished
  std::atomic<int> pending_{0};   // RunOnAll: workers that have not finished
};

// Number of hardware threads available to this process.
int HardwareThreads();

}  // namespace moe
