// ThreadPool: every index covered exactly once, every thread runs RunOnAll, many small jobs in a
// row neither deadlock nor lose work (the pattern of a decode step's many small matrix products).
#include "common/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace moe {
namespace {

TEST(ThreadPool, ParallelForCoversEachIndexOnce) {
  for (int threads : {1, 2, 3}) {
    // At most 20 jobs per pool: fewer than one accounting window (32), so the pool never decides to
    // run alone here and every job is split into chunks of at most `grain`.
    ThreadPool pool(threads);
    EXPECT_EQ(pool.num_threads(), threads);
    for (int64_t n : {0, 1, 7, 64, 1000}) {
      for (int64_t grain : {1, 3, 16, 5000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        pool.ParallelFor(n, grain, [&](int64_t b, int64_t e) {
          EXPECT_LE(0, b);
          EXPECT_LE(e, n);
          if (threads > 1) {  // one thread: the whole range at once
            EXPECT_LE(e - b, grain);
          }
          for (int64_t i = b; i < e; ++i) hits[i]++;
        });
        for (int64_t i = 0; i < n; ++i)
          ASSERT_EQ(hits[i].load(), 1) << n << " " << grain << " " << i;
      }
    }
  }
}

TEST(ThreadPool, RunOnAllRunsEveryThreadIndex) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> seen(3);
  pool.RunOnAll([&](int i) { seen[static_cast<size_t>(i)]++; });
  for (auto& s : seen) EXPECT_EQ(s.load(), 1);
}

TEST(ThreadPool, ManySmallJobsInARow) {
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  for (int job = 0; job < 20000; ++job) {
    pool.ParallelFor(4, 1, [&](int64_t b, int64_t e) { sum += e - b; });
  }
  EXPECT_EQ(sum.load(), 80000);
}

// Jobs of every kind back to back: a worker that wakes late for a ParallelFor finds it over (or
// the next job current) and must neither run a finished job's function nor lose a chunk.
TEST(ThreadPool, MixedJobsBackToBack) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> ran(3);
  int64_t expected = 0;
  std::atomic<int64_t> sum{0};
  for (int job = 0; job < 3000; ++job) {
    if (job % 7 == 0) {
      pool.RunOnAll([&](int i) { ran[static_cast<size_t>(i)]++; });
      continue;
    }
    const int64_t n = 1 + job % 13, grain = 1 + job % 3;
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    pool.ParallelFor(n, grain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
      sum += e - b;
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << job;
    expected += n;
  }
  EXPECT_EQ(sum.load(), expected);
  for (auto& r : ran) EXPECT_EQ(r.load(), 429);  // jobs 0, 7, ..., 2996
}

// A chunk that waits for the other chunks: they are done by the other threads (or by the one
// that took it, after), never waited for by a thread that holds no chunk.
TEST(ThreadPool, OtherThreadsFinishWhileOneChunkWaits) {
  ThreadPool pool(3);
  std::atomic<int64_t> done{0};
  constexpr int64_t kN = 64;
  pool.ParallelFor(kN, 1, [&](int64_t b, int64_t e) {
    if (b == 0) {
      while (done.load() < kN - 1) std::this_thread::yield();
    }
    done += e - b;
  });
  EXPECT_EQ(done.load(), kN);
}

// Spins for about `us` microseconds (a chunk's worth of work).
void Work(int64_t us) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
  while (std::chrono::steady_clock::now() < end) {
  }
}

// A worker that holds its chunk far longer than the chunk's work (as one descheduled by another
// process would) costs the caller more than it helps: the pool then runs jobs alone, as one
// call fn(0, n) on the caller, and once workers are prompt again it shares jobs again.
TEST(ThreadPool, RunsAloneWhileWorkersStallAndSharesAgainAfter) {
  ThreadPool pool(2);
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<bool> stall{true};
  std::atomic<int64_t> calls{0}, worker_chunks{0};
  auto job = [&](int64_t b, int64_t e) {
    ++calls;
    if (std::this_thread::get_id() != caller) {
      ++worker_chunks;
      if (stall.load()) std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
    Work(5 * (e - b));
  };
  constexpr int64_t kN = 16;
  int jobs = 0;
  while (pool.stats().alone_jobs == 0) {
    ASSERT_LT(jobs++, 5000) << "the pool never ran a job alone";
    pool.ParallelFor(kN, 1, job);
  }
  EXPECT_GT(pool.stats().shared_jobs, 0);
  // The job that went alone was one call on the caller.
  calls = 0;
  worker_chunks = 0;
  pool.ParallelFor(kN, 1, job);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(worker_chunks.load(), 0);

  // Prompt workers again: after the period alone (50 ms at first) the pool shares jobs with
  // them again. Poll for up to 20 s (a loaded machine may run the worker rarely).
  stall = false;
  worker_chunks = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (worker_chunks.load() == 0) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the workers were never used again";
    pool.ParallelFor(kN, 1, job);
  }
}

TEST(ThreadPool, DefaultUsesHardwareThreads) {
  ThreadPool pool(0);
  EXPECT_EQ(pool.num_threads(), HardwareThreads());
  EXPECT_GE(HardwareThreads(), 1);
}

}  // namespace
}  // namespace moe
