#!/usr/bin/env bash
# Distributed layouts side by side, in one run: the same random-weight model served by one
# process, by PP2 and by EP2 (mpirun on this machine), each measured with `moe-bench serve`
# (greedy decode at concurrency 1). Prints, per layout: output tokens/s, each worker's resident
# memory against its share of the weights (from the workers' start-up reports), and the time a
# step spends waiting for peers (the coordinator's summary at exit).
#
#   bench/distributed/run.sh [BUILD_DIR] [-- MODEL FLAGS...]
#   default model: --like qwen3-30b-a3b --layers 4 (random weights)
set -euo pipefail
build=${1:-build}
shift || true
[[ ${1:-} == -- ]] && shift
model=("$@")
((${#model[@]})) || model=(--like qwen3-30b-a3b --layers 4)
threads=${THREADS:-1}
prompts=${PROMPTS:-4}
out_len=${OUTPUT_LEN:-64}
mpi=(mpirun --allow-run-as-root --oversubscribe --bind-to none
  --mca btl_vader_single_copy_mechanism none --mca orte_abort_on_non_zero_status 0
  --mca odls_base_sigkill_timeout 0)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run_layout() {  # NAME NP FLAGS...
  local name=$1 np=$2
  shift 2
  local launch=()
  ((np > 1)) && launch=("${mpi[@]}" -np "$np")
  rm -f "$work/port"
  "${launch[@]}" "$build/tools/moe-serve" "${model[@]}" --threads "$threads" --kv-blocks 512 \
    --grpc-port 0 --http-port -1 --port-file "$work/port" "$@" >"$work/$name.log" 2>&1 &
  local pid=$!
  local port=""
  for _ in $(seq 1 1200); do
    if [[ -s $work/port ]]; then
      port=$(sed -n 's/.*"grpc":\([0-9]*\).*/\1/p' "$work/port")
      "$build/client/moe-client" --target "localhost:$port" health >/dev/null 2>&1 && break
    fi
    sleep 0.1
  done
  "$build/bench/offline/moe-bench" serve --target "localhost:$port" --concurrency 1 \
    --num-prompts "$prompts" --input-len 32 --output-len "$out_len" --json >"$work/$name.json"
  kill -USR1 "$pid"
  wait "$pid" || true
  local tps
  tps=$(/usr/bin/python3 -c 'import json,sys; print("%.2f" % json.load(open(sys.argv[1]))["output_throughput"])' "$work/$name.json" 2>/dev/null || echo "?")
  echo "## $name: $tps output tok/s (concurrency 1, ${out_len}-token outputs)"
  grep -E "moe-serve: rank|steps over|ready in|weights loaded" "$work/$name.log" | sed 's/^moe-serve: /  /'
}

echo "model: ${model[*]}, $threads thread(s) per worker, $(nproc) cores"
run_layout single 1
run_layout pp2 3 --pp 2
run_layout ep2 3 --ep 2
