#include "bench/offline/bench_common.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_format.h"
#include "kernels/kernels.h"
#include "tools/flags.h"

namespace moe {

absl::StatusOr<std::vector<int64_t>> BatchSizesFromFlags(const Flags& flags,
                                                         std::vector<int64_t> fallback) {
  std::vector<int64_t> batches = std::move(fallback);
  if (flags.Has("batch")) {
    MOE_ASSIGN_OR_RETURN(batches, flags.GetIntList("batch"));
  }
  if (batches.empty() || *std::min_element(batches.begin(), batches.end()) < 1) {
    return absl::InvalidArgumentError("--batch: batch sizes must be >= 1");
  }
  return batches;
}

absl::StatusOr<ArithmeticNames> SetMathFromFlags(const Flags& flags, WeightFormat weights) {
  MOE_ASSIGN_OR_RETURN(kernels::MathMode math,
                       kernels::ParseMathMode(flags.GetString("math", "fast")));
  kernels::SetMathMode(math);
  ArithmeticNames names;
  names.math = kernels::FastLinearActive() ? "fast" : "exact";
  names.weights = weights != WeightFormat::kInt8 ? std::string(WeightFormatName(weights))
                  : kernels::Int8LinearActive()  ? "int8 (vnni)"
                                                 : "int8 (scalar reference)";
  return names;
}

Spread SummarizeRuns(std::vector<double> v) {
  Spread s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.min = v.front();
  s.max = v.back();
  const size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  return s;
}

BandwidthProbe::BandwidthProbe(ThreadPool* pool, int64_t bytes)
    : pool_(pool), n_(std::max<int64_t>(bytes / 4, 1 << 20)), data_(new float[n_]) {
  // Fault the pages in with the same threads that read them (first-touch placement).
  constexpr int64_t kChunk = 1 << 20;
  const int64_t chunks = (n_ + kChunk - 1) / kChunk;
  auto fill = [this](int64_t c0, int64_t c1) {
    std::fill(data_.get() + c0 * kChunk, data_.get() + std::min(n_, c1 * kChunk), 1.0f);
  };
  if (pool_ != nullptr) {
    pool_->ParallelFor(chunks, 4, fill);
  } else {
    fill(0, chunks);
  }
}

double BandwidthProbe::Probe(int passes) {
  double best = 0.0;
  for (int p = 0; p < std::max(1, passes); ++p) {
    best = std::max(best, kernels::ReadPassGBs(pool_, data_.get(), n_));
  }
  probes_.push_back(best);
  return best;
}

double BandwidthProbe::limit() const {
  return probes_.empty() ? 0.0 : *std::max_element(probes_.begin(), probes_.end());
}

double BandwidthProbe::min() const {
  return probes_.empty() ? 0.0 : *std::min_element(probes_.begin(), probes_.end());
}

std::string BandwidthProbe::Describe() const {
  return absl::StrFormat("max of %d probes in this run; min %.1f GB/s",
                         static_cast<int>(probes_.size()), min());
}

CpuTimes CpuTimes::Now() {
  CpuTimes t;
  const long hz = sysconf(_SC_CLK_TCK);
  if (FILE* f = std::fopen("/proc/stat", "r"); f != nullptr && hz > 0) {
    // cpu user nice system idle iowait irq softirq steal ...
    unsigned long long v[8] = {};
    const int got = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                                &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
    std::fclose(f);
    if (got == 8) {
      t.busy = static_cast<double>(v[0] + v[1] + v[2] + v[5] + v[6]) / static_cast<double>(hz);
      t.stolen = static_cast<double>(v[7]) / static_cast<double>(hz);
    }
  }
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    t.self = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
             1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  }
  return t;
}

std::string CpuTimes::DescribeSince(const CpuTimes& start) const {
  const double others = std::max(0.0, (busy - start.busy) - (self - start.self));
  return absl::StrFormat(
      "this run %.1f CPU-s, other processes %.1f CPU-s, stolen by the host "
      "%.1f CPU-s",
      self - start.self, others, stolen - start.stolen);
}

}  // namespace moe
