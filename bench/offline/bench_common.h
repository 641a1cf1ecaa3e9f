// Shared by moe-bench offline and moe-bench moe-layer: run statistics and a memory read
// bandwidth probe repeated through the run.
//
// Why repeated: on a shared VM one probe can read far below what the machine delivers a few
// seconds later (other tenants, the hypervisor, the page cache after a big fill), and a low
// limit would make a kernel look faster than the memory. The limit is therefore the MAX of all
// probes of the run (the conservative choice: the lowest fraction of the limit); the min is
// reported beside it to show the spread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/thread_pool.h"
#include "model/weights.h"

namespace moe {

class Flags;

// --batch as a list of batch sizes (`fallback` when absent). INVALID_ARGUMENT when empty or a
// size is below 1.
absl::StatusOr<std::vector<int64_t>> BatchSizesFromFlags(const Flags& flags,
                                                         std::vector<int64_t> fallback);

// The arithmetic that runs, for the reports: "fast" only where the CPU has the fast kernels,
// int8 with or without VNNI.
struct ArithmeticNames {
  std::string math;
  std::string weights;
};
// Sets the process-wide math mode from --math (default fast) and names what runs with
// `weights` (the source's weight format).
absl::StatusOr<ArithmeticNames> SetMathFromFlags(const Flags& flags, WeightFormat weights);

struct Spread {
  double median = 0, min = 0, max = 0;
};

// Median (mean of the middle two for an even count), min and max; zeros when `v` is empty.
Spread SummarizeRuns(std::vector<double> v);

// A buffer of `bytes` (bigger than the caches) kept for the whole run, read by
// kernels::ReadPassGBs. Not thread-safe; `pool` (may be null: the calling thread) must outlive
// the probe.
class BandwidthProbe {
 public:
  explicit BandwidthProbe(ThreadPool* pool, int64_t bytes = int64_t{1} << 30);

  // Best of `passes` streaming passes over the buffer in GB/s (10^9 bytes/s); recorded.
  double Probe(int passes = 3);

  // Max of the probes so far (0 before the first): the run's bandwidth limit.
  double limit() const;
  // Min of the probes so far (0 before the first).
  double min() const;
  const std::vector<double>& probes() const { return probes_; }
  // "max of N probes in this run; min X GB/s", for the text reports.
  std::string Describe() const;

 private:
  ThreadPool* pool_;
  int64_t n_;                      // floats
  std::unique_ptr<float[]> data_;  // [n_]
  std::vector<double> probes_;
};

// CPU time of the whole (virtual) machine, summed over CPUs, for telling whether a run shared
// the machine: differences of two snapshots give what others ran and what the host stole.
struct CpuTimes {
  double busy = 0;    // user + nice + system + irq + softirq of every process (/proc/stat)
  double stolen = 0;  // taken by the hypervisor (/proc/stat "steal")
  double self = 0;    // this process's user + system time (getrusage)
  // Now; zeros for what cannot be read.
  static CpuTimes Now();
  // "others used X CPU-s, the host stole Y CPU-s" since `start`.
  std::string DescribeSince(const CpuTimes& start) const;
};

}  // namespace moe
