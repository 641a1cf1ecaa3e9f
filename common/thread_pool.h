// A fork-join thread pool for the layer math.
//
// The calling thread takes part in every job, so ThreadPool(1) runs everything inline. Work is
// handed out in chunks from an atomic counter: a thread that is descheduled holds up at most
// one chunk, never a fixed share. A ParallelFor is over when its chunks are done, not when every
// worker has looked in: a worker that was not running while the others did the job is not
// waited for (it finds the job gone when it wakes). Threads wait by spinning briefly and then
// blocking on a condition variable, so two threads on one physical core do not burn each
// other's time.
//
// A worker can still be descheduled while it holds a chunk (another process takes its core),
// and then the caller waits for it for a scheduler time slice. The caller therefore keeps
// account, over windows of jobs, of the time it spent waiting for other threads' chunks against
// the time those chunks saved it (their items at its own rate). When the waiting costs more
// than the help is worth, it runs jobs alone for a while (50 ms, doubling while the contention
// lasts, up to 1.6 s), then tries the workers again. Results do not depend on it: a job run
// alone is one call fn(0, n), as with one thread.
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

  // ParallelFor calls that were shared with the workers, and those the caller ran alone
  // because waiting for the workers cost more than they helped (see above). Read by the
  // thread that calls ParallelFor.
  struct Stats {
    int64_t shared_jobs = 0;
    int64_t alone_jobs = 0;
  };
  Stats stats() const { return stats_; }

 private:
  // A ParallelFor as one thread sees it (copied under mu_ when it joins).
  struct RangeJob {
    const std::function<void(int64_t, int64_t)>* fn;
    int64_t n, grain;
    uint64_t generation;  // its low bits tag the chunk counter (see next_)
  };
  void WorkerLoop(int index);
  // Claims and runs chunks of `job` while it is the current job and chunks are left; returns
  // the number of items it ran.
  int64_t RunChunks(RangeJob job);
  // The caller's bookkeeping for running alone (only the calling thread touches it).
  bool RunAlone();
  void Account(int64_t n, int64_t mine, int64_t work_ns, int64_t wait_ns);

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

  // Caller-side accounting (see the header comment); times in steady-clock nanoseconds.
  int window_jobs_ = 0;
  int64_t window_saved_ns_ = 0;   // other threads' items, at the caller's rate
  int64_t window_waited_ns_ = 0;  // caller idle, waiting for other threads' chunks
  int64_t alone_until_ns_ = 0;
  int64_t alone_for_ns_;  // the next period alone
  Stats stats_;
};

// Number of hardware threads available to this process.
int HardwareThreads();

}  // namespace moe
