// moe-bench-tokenizer: single-thread encode and decode throughput of the Qwen3 tokenizer on
// English prose (bench/tokenizer/prose.txt plus the repository's tokenizer and model fixture
// READMEs, repeated to a few hundred KB). Prints MB/s against the 5 MB/s encode target.
//
// Usage: moe-bench-tokenizer [--tokenizer DIR] [--corpus-kb N] [--passes N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/file.h"
#include "coordinator/tokenizer/tokenizer.h"

namespace {

constexpr double kTargetEncodeMBps = 5.0;

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = std::string(MOE_TEST_DATA_DIR) + "/tokenizer/qwen3";
  size_t corpus_kb = 400;
  int passes = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--tokenizer") == 0) {
      dir = argv[i + 1];
    } else if (std::strcmp(argv[i], "--corpus-kb") == 0) {
      corpus_kb = std::strtoul(argv[i + 1], nullptr, 10);
    } else if (std::strcmp(argv[i], "--passes") == 0) {
      passes = std::max(1, std::atoi(argv[i + 1]));
    } else {
      std::fprintf(stderr,
                   "usage: moe-bench-tokenizer [--tokenizer DIR] [--corpus-kb N] [--passes N]\n");
      return 2;
    }
  }

  std::string base;
  for (const char* path : {MOE_BENCH_PROSE, MOE_TEST_DATA_DIR "/tokenizer/README.md",
                           MOE_TEST_DATA_DIR "/models/README.md"}) {
    auto text = moe::ReadFile(path);
    if (!text.ok()) {
      std::fprintf(stderr, "%s\n", std::string(text.status().message()).c_str());
      return 1;
    }
    base += *text;
    base += "\n\n";
  }
  std::string corpus;
  while (corpus.size() < corpus_kb * 1024) corpus += base;
  const double mb = static_cast<double>(corpus.size()) / 1e6;

  auto load_start = std::chrono::steady_clock::now();
  auto tokenizer = moe::Tokenizer::Load(dir);
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "%s\n", std::string(tokenizer.status().message()).c_str());
    return 1;
  }
  const double load_s = Seconds(load_start);

  // Distinct text only, on a fresh tokenizer: every piece misses the BPE cache.
  auto start = std::chrono::steady_clock::now();
  auto base_ids = (*tokenizer)->Encode(base);
  const double base_s = Seconds(start);
  if (!base_ids.ok()) {
    std::fprintf(stderr, "%s\n", std::string(base_ids.status().message()).c_str());
    return 1;
  }

  // The whole corpus, first pass.
  start = std::chrono::steady_clock::now();
  auto ids = (*tokenizer)->Encode(corpus);
  const double cold_s = Seconds(start);
  if (!ids.ok()) {
    std::fprintf(stderr, "%s\n", std::string(ids.status().message()).c_str());
    return 1;
  }
  std::vector<double> times;
  for (int p = 0; p < passes; ++p) {
    start = std::chrono::steady_clock::now();
    auto again = (*tokenizer)->Encode(corpus);
    times.push_back(Seconds(start));
    if (!again.ok() || *again != *ids) {
      std::fprintf(stderr, "encode is not deterministic\n");
      return 1;
    }
  }
  std::sort(times.begin(), times.end());
  const double warm_s = times[times.size() / 2];

  // Line by line (many short calls).
  std::vector<std::string> lines;
  for (size_t pos = 0; pos < corpus.size();) {
    size_t nl = corpus.find('\n', pos);
    size_t end = nl == std::string::npos ? corpus.size() : nl + 1;
    lines.push_back(corpus.substr(pos, end - pos));
    pos = end;
  }
  start = std::chrono::steady_clock::now();
  size_t line_tokens = 0;
  for (const std::string& line : lines) line_tokens += (*tokenizer)->Encode(line)->size();
  const double lines_s = Seconds(start);

  start = std::chrono::steady_clock::now();
  std::string decoded = (*tokenizer)->Decode(*ids);
  const double decode_s = Seconds(start);
  if (decoded != corpus) {
    std::fprintf(stderr, "decode(encode(corpus)) != corpus\n");
    return 1;
  }

  const double warm_mbps = mb / warm_s;
  std::printf("corpus: %.0f KB English prose, %zu tokens (%.2f bytes/token); load %.2f s\n",
              static_cast<double>(corpus.size()) / 1024, ids->size(),
              static_cast<double>(corpus.size()) / static_cast<double>(ids->size()), load_s);
  std::printf("encode, 1 thread, cold cache : %7.2f MB/s  (%.0f KB of distinct text)\n",
              static_cast<double>(base.size()) / 1e6 / base_s,
              static_cast<double>(base.size()) / 1024);
  std::printf("encode, 1 thread, first pass : %7.2f MB/s\n", mb / cold_s);
  std::printf("encode, 1 thread, warm cache : %7.2f MB/s  (median of %d passes)\n", warm_mbps,
              passes);
  std::printf("encode, 1 thread, per line   : %7.2f MB/s  (%zu calls, %zu tokens)\n", mb / lines_s,
              lines.size(), line_tokens);
  std::printf("decode, 1 thread             : %7.2f MB/s\n", mb / decode_s);
  std::printf(
      "target: encode >= %.1f MB/s per core: %s\n", kTargetEncodeMBps,
      std::min(warm_mbps, static_cast<double>(base.size()) / 1e6 / base_s) >= kTargetEncodeMBps
          ? "OK"
          : "BELOW TARGET");
  return 0;
}
