#!/usr/bin/env bash
# On the GPU machine (CUDA toolkit + CMake, none of our Debian libraries): builds the standalone
# CUDA project (bench/gpu/CMakeLists.txt), runs the GPU tests, the benchmark on the full
# qwen3-30b-a3b shape, and the PyTorch + transformers peer when torch is importable.
# Results go to $OUT (or ./gpu-results): build.log, ctest.log, bench.txt, peer.txt.
#
#   bench/gpu/run_h200.sh [--tests-only] [--no-peer] [--layers N]
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-gpu-results}
mkdir -p "$out"
tests_only=0 peer=1 layers=48
while [ $# -gt 0 ]; do
  case "$1" in
    --tests-only) tests_only=1 ;;
    --no-peer) peer=0 ;;
    --layers) layers=$2; shift ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
  shift
done
export PATH=/usr/local/cuda/bin:$PATH
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
build=build-gpu
jobs=$(nproc 2>/dev/null || echo 8)
if command -v cmake > /dev/null; then
  { cmake -S bench/gpu -B $build -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc &&
    cmake --build $build -j "$jobs"; } > "$out/build.log" 2>&1
  rc=$?
else
  # No CMake: the same targets with nvcc directly.
  mkdir -p $build
  arch="-gencode arch=compute_90a,code=sm_90a -gencode arch=compute_90,code=compute_90"
  flags="-O3 -std=c++17 -I. $arch --expt-relaxed-constexpr"
  srcs="kernels/cuda/*.cu kernels/cuda/*.cc model/cuda/cuda_forward.cc model/cuda/cuda_random_weights.cc"
  {
    nvcc $flags -lib -o $build/libmoe_cuda.a $srcs &&
    for t in elementwise moe attention sampling moe_plan_host; do
      nvcc $flags -o $build/cuda_${t}_test tests/cuda/${t}_test.cc $build/libmoe_cuda.a -lcublas || exit 1
    done &&
    nvcc $flags -o $build/bench_qwen3_gpu bench/gpu/bench_qwen3_gpu.cc $build/libmoe_cuda.a -lcublas
  } > "$out/build.log" 2>&1
  rc=$?
fi
if [ $rc -ne 0 ]; then
  tail -50 "$out/build.log"
  echo "build failed" >&2
  exit 1
fi
echo "== tests"
if [ -f $build/CTestTestfile.cmake ]; then
  ctest --test-dir $build --output-on-failure 2>&1 | tee "$out/ctest.log"
else
  for t in $build/cuda_*_test; do echo "## $t"; $t; echo "exit $?"; done 2>&1 | tee "$out/ctest.log"
fi
[ $tests_only -eq 1 ] && exit 0
echo "== benchmark"
cmd="$build/bench_qwen3_gpu --layers $layers --batches 1,8,64 --context 512 --steps 64 --prefill 2048"
echo "$cmd" | tee "$out/bench.txt"
$cmd 2>&1 | tee -a "$out/bench.txt"
if [ $peer -eq 1 ] && python3 -c 'import torch, transformers' 2> /dev/null; then
  echo "== peer: PyTorch + transformers"
  pcmd="python3 bench/gpu/peer_torch.py --layers $layers --batches 1,8,64 --context 512 --steps 16 --prefill 2048"
  echo "$pcmd" | tee "$out/peer.txt"
  $pcmd 2>&1 | tee -a "$out/peer.txt"
else
  echo "peer skipped (no torch/transformers, or --no-peer)" | tee "$out/peer.txt"
fi
