// moe-bench moe-layer: one MoE layer's MLP alone (post-attention norm, router, expert grouping,
// expert GEMMs: Qwen3Model::MlpPartial) on random hidden states of T tokens, against the memory
// read bandwidth measured in the same run (bench_common.h).
//
//   moe-bench moe-layer --like qwen3-30b-a3b --batch 1,4,16,64 --threads 1
//   moe-bench moe-layer --model DIR --layers 2 --weights int8 --json
//
// Bytes read per call are the router matrix plus gate, up and down of every distinct expert the
// call routes to, in the weights' dtype (kernels::MatrixBytes of the loaded matrices; int8
// counts its scales), cross-checked against the model's own weight-byte counter.
#pragma once

#include "common/status.h"

namespace moe {

// Runs the benchmark on argv[0..argc) (the flags after the subcommand); prints the report to
// stdout. INVALID_ARGUMENT for bad flags or a model without MoE layers.
absl::Status MoeLayerBench(int argc, char** argv);

}  // namespace moe
