// GPU benchmark of the CUDA forward pass (model/cuda/cuda_forward.h) on the full Qwen3-30B-A3B
// shape with random weights drawn on the device: decode tokens/s at several batch sizes (CUDA
// graphs, one token per sequence per step, a sync per step as a server does), prefill tokens/s
// of one long prompt, and the batch-1 decode's fraction of the HBM bandwidth limit (active
// weight bytes per token / measured device-to-device copy bandwidth).
//
// Plain C++ over the CUDA toolkit: built by bench/gpu/CMakeLists.txt (standalone on the GPU
// machine). Prints one line per figure and a JSON summary last.
//
//   bench_qwen3_gpu [--layers 48] [--batches 1,8,64] [--context 512] [--steps 64]
//                   [--prefill 2048] [--seed 1] [--no-graphs]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "model/cuda/cuda_forward.h"
#include "model/cuda/cuda_random_weights.h"

namespace {

using moe::cuda::CudaForward;
using moe::cuda::Status;
using Clock = std::chrono::steady_clock;

struct Args {
  int64_t layers = 48;
  std::vector<int64_t> batches = {1, 8, 64};
  int64_t context = 512;
  int64_t steps = 64;
  int64_t prefill = 2048;
  uint64_t seed = 1;
  bool graphs = true;
};

bool ParseArgs(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (f == "--no-graphs") {
      a->graphs = false;
      continue;
    }
    if ((v = next()) == nullptr) return false;
    if (f == "--layers") {
      a->layers = std::atoll(v);
    } else if (f == "--context") {
      a->context = std::atoll(v);
    } else if (f == "--steps") {
      a->steps = std::atoll(v);
    } else if (f == "--prefill") {
      a->prefill = std::atoll(v);
    } else if (f == "--seed") {
      a->seed = std::strtoull(v, nullptr, 10);
    } else if (f == "--batches") {
      a->batches.clear();
      std::stringstream ss(v);
      std::string item;
      while (std::getline(ss, item, ',')) a->batches.push_back(std::atoll(item.c_str()));
    } else {
      return false;
    }
  }
  return a->layers > 0 && a->steps > 0 && !a->batches.empty();
}

// Qwen3-30B-A3B (config.json of Qwen/Qwen3-30B-A3B), `layers` of its 48 layers.
moe::cuda::ForwardConfig Qwen3_30B_A3B(int64_t layers) {
  moe::cuda::ForwardConfig c;
  c.vocab_size = 151936;
  c.hidden_size = 2048;
  c.intermediate_size = 6144;
  c.num_layers = layers;
  c.num_heads = 32;
  c.num_kv_heads = 4;
  c.head_dim = 128;
  c.num_experts = 128;
  c.top_k = 8;
  c.moe_intermediate_size = 768;
  c.norm_topk_prob = true;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 1e6;
  c.is_moe_layer.assign(static_cast<size_t>(layers), true);
  return c;
}

void Die(const Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "bench_qwen3_gpu: %s: %s\n", what, s.message().c_str());
  std::exit(1);
}

// Device-to-device copy bandwidth in GB/s counting bytes read + written, best of 5.
double CopyBandwidthGBs() {
  const size_t bytes = size_t{4} << 30;
  void *a = nullptr, *b = nullptr;
  if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) return 0.0;
  cudaMemset(a, 1, bytes);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  float best_ms = 1e30f;
  for (int i = 0; i < 6; ++i) {
    cudaEventRecord(e0);
    cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(e1);
    cudaEventSynchronize(e1);
    float ms = 0.0f;
    cudaEventElapsedTime(&ms, e0, e1);
    if (i > 0 && ms < best_ms) best_ms = ms;  // first pass warms up
  }
  cudaFree(a);
  cudaFree(b);
  return 2.0 * static_cast<double>(bytes) / (best_ms * 1e-3) / 1e9;
}

// A decode step for sequences 0..B-1 at position `pos`, sequence b owning blocks [b * W, ...).
moe::cuda::StepMeta DecodeStep(int64_t B, int64_t pos, int64_t W, int64_t vocab, uint64_t salt) {
  moe::cuda::StepMeta m;
  m.num_seqs = B;
  m.decode = true;
  m.block_tables.resize(static_cast<size_t>(B * W));
  for (int64_t b = 0; b < B; ++b) {
    m.tokens.push_back(static_cast<int32_t>((salt * 7919 + b * 104729) % vocab));
    m.positions.push_back(static_cast<int32_t>(pos));
    m.seq_index.push_back(static_cast<int32_t>(b));
    for (int64_t j = 0; j < W; ++j) m.block_tables[b * W + j] = static_cast<int32_t>(b * W + j);
    m.sample_rows.push_back(b);
    m.temperature.push_back(0.0f);
    m.seed.push_back(0);
    m.sample_position.push_back(pos + 1);
  }
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, &args)) {
    std::fprintf(stderr,
                 "usage: bench_qwen3_gpu [--layers N] [--batches 1,8,64] [--context N] "
                 "[--steps N] [--prefill N] [--seed N] [--no-graphs]\n");
    return 2;
  }
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    std::printf("SKIP: no CUDA device\n");
    return 77;
  }
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  std::printf("device: %s, %d SMs, %.1f GiB\n", prop.name, prop.multiProcessorCount,
              static_cast<double>(prop.totalGlobalMem) / (1 << 30));
  const double copy_gbs = CopyBandwidthGBs();
  std::printf("copy bandwidth (read + write): %.0f GB/s\n", copy_gbs);

  int64_t max_batch = 1;
  for (int64_t b : args.batches) max_batch = std::max(max_batch, b);
  const int64_t block_size = 16;
  const int64_t max_len = std::max(args.context + args.steps + 8, args.prefill + 1);
  const int64_t W = (max_len + block_size - 1) / block_size;
  moe::cuda::ForwardOptions o;
  o.block_size = block_size;
  o.max_blocks_per_seq = W;
  o.num_blocks = std::max(max_batch, int64_t{1}) * W;
  o.max_tokens = std::max(args.prefill, max_batch);
  o.max_seqs = std::max<int64_t>(max_batch, 1);
  o.use_graphs = args.graphs;
  const moe::cuda::ForwardConfig config = Qwen3_30B_A3B(args.layers);
  std::unique_ptr<CudaForward> f;
  auto t0 = Clock::now();
  Die(CudaForward::Create(config, o, &f), "create");
  Die(moe::cuda::FillRandomWeights(f.get(), args.seed), "random weights");
  std::printf(
      "qwen3-30b-a3b shape, %lld layers: %.1f GB of weights on the device (%.1f s to "
      "allocate and draw), %.2f GB read per decode token\n",
      static_cast<long long>(args.layers), f->weight_bytes() / 1e9,
      std::chrono::duration<double>(Clock::now() - t0).count(),
      f->active_weight_bytes_per_token() / 1e9);

  std::ostringstream json;
  json << "{\"device\": \"" << prop.name << "\", \"layers\": " << args.layers
       << ", \"copy_gbs\": " << copy_gbs << ", \"context\": " << args.context;
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  for (int64_t B : args.batches) {
    // Warm-up (captures the graph), then timed steps with a sync each (tokens come back).
    for (int64_t s = 0; s < 3; ++s) {
      Die(f->Prepare(DecodeStep(B, args.context + s, W, config.vocab_size, s)), "prepare");
      Die(f->Run(), "run");
      Die(f->SampledTokens(&tokens, &logprobs), "sync");
    }
    const auto start = Clock::now();
    for (int64_t s = 0; s < args.steps; ++s) {
      Die(f->Prepare(DecodeStep(B, args.context + 3 + s, W, config.vocab_size, s + 3)), "prepare");
      Die(f->Run(), "run");
      Die(f->SampledTokens(&tokens, &logprobs), "sync");
    }
    const double sec = std::chrono::duration<double>(Clock::now() - start).count();
    const double step_ms = sec / args.steps * 1e3;
    const double tps = static_cast<double>(B * args.steps) / sec;
    std::printf("decode batch %lld (context %lld): %.3f ms/step, %.1f tokens/s\n",
                static_cast<long long>(B), static_cast<long long>(args.context), step_ms, tps);
    json << ", \"decode_b" << B << "_tok_s\": " << tps << ", \"decode_b" << B
         << "_ms_step\": " << step_ms;
    if (B == 1 && copy_gbs > 0) {
      // The limit: every active weight byte read once per token at the copy's read rate
      // (a copy's bytes read + written over its time; reads alone are no faster on HBM).
      const double limit_tps = copy_gbs * 1e9 / f->active_weight_bytes_per_token();
      const double fraction = tps / limit_tps;
      std::printf("batch-1 decode: %.1f%% of the HBM limit (%.0f tokens/s at %.0f GB/s)\n",
                  100.0 * fraction, limit_tps, copy_gbs);
      json << ", \"b1_hbm_fraction\": " << fraction << ", \"b1_limit_tok_s\": " << limit_tps;
    }
  }
  if (args.prefill > 0) {
    moe::cuda::StepMeta m;
    m.num_seqs = 1;
    m.block_tables.resize(static_cast<size_t>(W));
    for (int64_t j = 0; j < W; ++j) m.block_tables[j] = static_cast<int32_t>(j);
    for (int64_t i = 0; i < args.prefill; ++i) {
      m.tokens.push_back(static_cast<int32_t>((i * 7919) % config.vocab_size));
      m.positions.push_back(static_cast<int32_t>(i));
      m.seq_index.push_back(0);
    }
    m.sample_rows = {args.prefill - 1};
    m.temperature = {0.0f};
    m.seed = {0};
    m.sample_position = {args.prefill};
    double best = 1e30;
    for (int rep = 0; rep < 4; ++rep) {  // first is warm-up (cuBLAS heuristics)
      Die(f->Prepare(m), "prepare");
      const auto start = Clock::now();
      Die(f->Run(), "run");
      Die(f->SampledTokens(&tokens, &logprobs), "sync");
      const double sec = std::chrono::duration<double>(Clock::now() - start).count();
      if (rep > 0) best = std::min(best, sec);
    }
    const double tps = static_cast<double>(args.prefill) / best;
    std::printf("prefill %lld tokens: %.1f ms, %.0f tokens/s\n",
                static_cast<long long>(args.prefill), best * 1e3, tps);
    json << ", \"prefill_tokens\": " << args.prefill << ", \"prefill_tok_s\": " << tps;
  }
  json << ", \"graphs\": " << (args.graphs ? "true" : "false") << "}";
  std::printf("JSON %s\n", json.str().c_str());
  return 0;
}
