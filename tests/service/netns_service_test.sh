#!/usr/bin/env bash
# moe-serve as one MPI job whose ranks are separate hosts: each rank in its own network
# namespace (scripts/netns: 10.77.0.x, MPI over TCP, ranks started by a launch agent instead of
# ssh). A client inside the coordinator's namespace gets the same greedy tokens as from a
# single process, for concurrent requests; SIGUSR1 to mpirun drains and ends the job with 0; in a
# second job a worker killed with SIGKILL mid-stream ends the client's stream with UNAVAILABLE
# naming the rank, and the job exits non-zero.
#
#   tests/service/netns_service_test.sh BUILD_DIR MODEL_DIR
# Exit 77 (ctest skip) where namespaces cannot be made (not root, no `ip netns`).
set -uo pipefail
build=$1 model=$2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
netns="$root/scripts/netns"
client="$build/client/moe-client"
serve="$build/tools/moe-serve"
"$netns/netns.sh" check || { echo "skipped: no network namespaces here"; exit 77; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$work"/*.log; do echo "--- $f"; cat "$f"; done
  exit 1
}

# Polls (up to 60 s) until FILE holds the gRPC port; prints it.
wait_port() {
  for _ in $(seq 1 600); do
    if [[ -s $1 ]]; then
      sed -n 's/.*"grpc":\([0-9]*\).*/\1/p' "$1"
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# The namespace of host 0 of the mpirun-netns.sh run with pid $1.
host0() { ip netns list | awk '{print $1}' | grep -m1 "^moe-$1-.*-h0$"; }

# Polls (up to 60 s) until the server at $2 in namespace $1 ("" = here) is healthy.
wait_healthy() {
  local exec=()
  [[ -n $1 ]] && exec=(ip netns exec "$1")
  for _ in $(seq 1 600); do
    "${exec[@]}" "$client" --target "$2" health >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

prompts=("1,2,3,4,5" "17,300,45" "9,9,9,9,9,9,9,9,9,9,9,9" "500")
# Runs the prompts concurrently against $2 from namespace $1; outputs in $3.N.
generate_all() {
  local exec=() i=0 jobs=()
  [[ -n $1 ]] && exec=(ip netns exec "$1")
  for p in "${prompts[@]}"; do
    "${exec[@]}" "$client" --target "$2" generate --ids "$p" --max-tokens 12 --temperature 0 \
      --ignore-eos >"$3.$i" 2>&1 &
    jobs+=($!)
    i=$((i + 1))
  done
  for j in "${jobs[@]}"; do wait "$j" || return 1; done
}

# Exact math: the answers of every layout are those of one process (fast math is not
# batch- or layout-invariant: README).
common=(--model "$model" --threads 1 --block-size 4 --kv-blocks 256 --http-port -1 --math exact)

# 1. The reference: one process.
"$serve" "${common[@]}" --grpc-port 0 --port-file "$work/single.port" >"$work/single.log" 2>&1 &
pids+=($!)
port=$(wait_port "$work/single.port") || fail "the single process did not start"
wait_healthy "" "localhost:$port" || fail "the single process is not healthy"
generate_all "" "localhost:$port" "$work/want" || fail "single-process requests failed"

# 2. PP2 across three hosts.
mpi=(--mca orte_abort_on_non_zero_status 0 --mca odls_base_sigkill_timeout 0)
"$netns/mpirun-netns.sh" -n 3 -- "${mpi[@]}" -np 3 "$serve" "${common[@]}" --pp 2 \
  --grpc-port 0 --port-file "$work/pp2.port" --step-timeout 5 >"$work/pp2.log" 2>&1 &
job=$!
pids+=($job)
port=$(wait_port "$work/pp2.port") || fail "the PP2 job did not start"
ns=$(host0 "$job") || fail "no namespace for the job"
wait_healthy "$ns" "10.77.0.1:$port" || fail "the PP2 job is not healthy"
grep -q "rank 2 on moe-h2" "$work/pp2.log" || fail "rank 2 does not run on host moe-h2"
generate_all "$ns" "10.77.0.1:$port" "$work/got" || fail "PP2 requests failed"
for i in "${!prompts[@]}"; do
  diff <(head -1 "$work/want.$i") <(head -1 "$work/got.$i") ||
    fail "prompt ${prompts[$i]}: PP2 across hosts differs from one process"
done
mpirun_pid=$(pgrep -P "$job" | head -1)
kill -USR1 "$mpirun_pid"
wait "$job"
rc=$?
[[ $rc == 0 ]] || fail "the drained PP2 job exited $rc"
grep -q "moe-serve: stopped" "$work/pp2.log" || fail "the coordinator did not drain"

# 3. A worker on host 2 killed mid-stream.
# (A random 2-layer qwen3-0.6b: its 151k-entry vocabulary makes a step take milliseconds, so
# the stream is still running when the worker dies.)
"$netns/mpirun-netns.sh" -n 3 -- "${mpi[@]}" -np 3 "$serve" --like qwen3-0.6b --layers 2 \
  --threads 1 --kv-blocks 256 --http-port -1 --pp 2 --grpc-port 0 --port-file "$work/kill.port" \
  --step-timeout 3 >"$work/kill.log" 2>&1 &
job=$!
pids+=($job)
port=$(wait_port "$work/kill.port") || fail "the second job did not start"
ns=$(host0 "$job") || fail "no namespace for the second job"
wait_healthy "$ns" "10.77.0.1:$port" || fail "the second job is not healthy"
victim=$(sed -n 's/.*rank 2 on moe-h2 (pid \([0-9]*\)).*/\1/p' "$work/kill.log")
[[ -n $victim ]] || fail "no pid for rank 2"
ip netns exec "$ns" "$client" --target "10.77.0.1:$port" generate --ids 1,2,3 --max-tokens 1000 \
  --temperature 0 --ignore-eos --json >"$work/stream.log" 2>&1 &
stream=$!
for _ in $(seq 1 600); do [[ -s $work/stream.log ]] && break; sleep 0.1; done
[[ -s $work/stream.log ]] || fail "no tokens streamed before the kill"
kill -KILL "$victim"
start=$(date +%s)
wait "$stream" && fail "the stream ended OK after its worker was killed"
grep -q '"finish_reason"' "$work/stream.log" && fail "the stream finished before the kill"
grep -q "UNAVAILABLE" "$work/stream.log" || fail "the stream did not end with UNAVAILABLE"
grep -q "rank 2" "$work/stream.log" || fail "the error does not name rank 2"
wait "$job"
rc=$?
elapsed=$(($(date +%s) - start))
[[ $rc != 0 ]] || fail "the job exited 0 after losing a worker"
((elapsed <= 20)) || fail "the job took ${elapsed} s to end"
echo "PASS (PP2 across 3 namespaces equals one process; killed worker: exit $rc in ${elapsed} s)"
