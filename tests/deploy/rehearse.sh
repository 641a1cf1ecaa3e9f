#!/usr/bin/env bash
# rehearse.sh: the deployment's entrypoint scripts, run for real on one machine.
#
# Each "pod" is a network namespace (own address, own hostname) on one bridge: a leader
# (rehearse-0), two workers (rehearse-0-1, rehearse-0-2) and a client. The workers run
# deploy/scripts/worker-entrypoint.sh (real sshd, key from a generated "Secret"); the leader runs
# deploy/scripts/leader-entrypoint.sh with the worker addresses given explicitly (no cluster
# DNS here), which waits for the sshds and execs mpirun over ssh, as in the cluster.
#
#   tests/deploy/rehearse.sh [--build-dir DIR] [--mode auto|standin|serve]
#
# standin: the ranks run `hostname` (each pod must answer once; the leader starts first and
#          waits for the workers' sshd), then `sleep`: SIGTERM to the leader must reach rank 0
#          and end the job; killing a worker pod must end the leader with a non-zero status.
# serve:   the ranks run moe-serve on the demo model (MOE_PP x MOE_EP worker ranks, default
#          1 x 2); the client pod streams a chat answer through the leader's gRPC API; SIGTERM
#          to the leader must end the group with status 0 (drain); started again, killing a
#          worker pod must end the leader with a non-zero status.
# auto:    serve when moe-serve accepts --pp (the distributed build), else standin.
#
# Exit status: 0 passed, 1 failed, 77 skipped (not root, or sshd / mpirun / netns missing).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
MODE=auto
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD_DIR="$2"; shift ;;
    --mode) MODE="$2"; shift ;;
    *) echo "usage: rehearse.sh [--build-dir DIR] [--mode auto|standin|serve]" >&2; exit 2 ;;
  esac
  shift
done

log() { echo "rehearse: [${SECONDS}s] $*" >&2; }
skip() {
  echo "rehearse: SKIP: $*"
  exit 77
}
fail() {
  echo "rehearse: FAIL: $*"
  exit 1
}

SSHD="${MOE_SSHD_BIN:-/usr/sbin/sshd}"
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
[ -x "$SSHD" ] || skip "no sshd at $SSHD (Debian package openssh-server)"
for tool in ip unshare mpirun ssh ssh-keygen; do
  command -v "$tool" >/dev/null || skip "$tool not found"
done
SERVE="$BUILD_DIR/tools/moe-serve"
CLIENT="$BUILD_DIR/client/moe-client"
if [ "$MODE" = auto ]; then
  MODE=standin
  if [ -x "$SERVE" ] && [ -x "$CLIENT" ] && "$SERVE" --help 2>/dev/null | grep -q -- '--pp'; then
    MODE=serve
  fi
fi
case "$MODE" in
  standin) ;;
  serve)
    if ! [ -x "$SERVE" ] || ! [ -x "$CLIENT" ]; then fail "serve mode needs $SERVE and $CLIENT"; fi
    ;;
  *) fail "unknown mode '$MODE'" ;;
esac

# Names unique to this run (interface names: at most 15 characters).
tag="$$"
ns_prefix="moe-rehearse-$tag"
bridge="mrb$tag"
subnet=10.77.0
tmp="$(mktemp -d)"
pods=()
bg_pids=()

cleanup() {
  local pod pid
  for pid in "${bg_pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for pod in "${pods[@]}"; do
    for pid in $(ip netns pids "$ns_prefix-$pod" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns_prefix-$pod" 2>/dev/null || true
  done
  ip link del "$bridge" 2>/dev/null || true
  [ -n "${KEEP_LOGS:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT

# add_pod NAME INDEX: a namespace on the bridge with address $subnet.(10+INDEX).
add_pod() {
  local ns="$ns_prefix-$1" veth="mr${tag}p$2"
  ip netns add "$ns"
  pods+=("$1")
  ip link add "$veth" type veth peer name eth0 netns "$ns"
  ip link set "$veth" master "$bridge" up
  ip -n "$ns" addr add "$subnet.$((10 + $2))/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
}

# pod_prefix NAME HOSTNAME: sets $pod to the command prefix that runs a command in the pod's
# namespace under its own hostname. Every step execs the next, so "${pod[@]}" CMD & leaves
# $! = the pid of CMD itself (signals sent to it reach CMD).
pod_prefix() {
  # shellcheck disable=SC2016 # $0 and $@ belong to the inner shell
  pod=(ip netns exec "$ns_prefix-$1" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$2")
}

# in_pod NAME HOSTNAME CMD...: runs CMD in the pod (foreground).
in_pod() {
  pod_prefix "$1" "$2"
  shift 2
  "${pod[@]}" "$@"
}

# pod_has_process NAME COMM: whether a process named COMM runs in the pod.
pod_has_process() {
  local pid
  for pid in $(ip netns pids "$ns_prefix-$1" 2>/dev/null); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] && return 0
  done
  return 1
}

# kill_pod NAME: what a node failure does to a pod: every process in it dies at once.
kill_pod() {
  local pid
  for pid in $(ip netns pids "$ns_prefix-$1"); do kill -9 "$pid" 2>/dev/null || true; done
}

# wait_exit PID SECONDS: waits for PID (a child of this shell) to end; sets $rc to its exit
# status, or to "timeout".
wait_exit() {
  local deadline=$((SECONDS + $2))
  while kill -0 "$1" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      rc=timeout
      return
    fi
    sleep 0.2
  done
  rc=0
  wait "$1" || rc=$?
}

log "mode $MODE, namespaces $ns_prefix-*, logs in $tmp"
ip link add "$bridge" type bridge
ip link set "$bridge" up
add_pod leader 0
add_pod w1 1
add_pod w2 2
add_pod client 9
leader_ip="$subnet.10"
worker_hosts="$subnet.11 $subnet.12"
mkdir -p /run/sshd # sshd's privilege-separation directory (root only; pods do without)

# The ssh "Secret": the leader's key pair; the workers authorize its public half.
mkdir -p "$tmp/secret"
ssh-keygen -q -t ed25519 -N '' -C rehearse -f "$tmp/secret/id_ed25519"
cp "$tmp/secret/id_ed25519.pub" "$tmp/secret/authorized_keys"

start_workers() {
  local w
  for w in 1 2; do
    pod_prefix "w$w" "rehearse-0-$w"
    "${pod[@]}" env MOE_SSH_AUTHORIZED_KEYS="$tmp/secret/authorized_keys" \
      MOE_SSH_STATE_DIR="$tmp/w$w/sshd" MOE_SSHD_BIN="$SSHD" \
      "$ROOT/deploy/scripts/worker-entrypoint.sh" >>"$tmp/w$w.log" 2>&1 &
    bg_pids+=($!)
    disown "$!" # killed with their pod; no job report
  done
}

# start_leader LOG [-- PROGRAM...]: the leader in the background; its pid in $leader_pid.
start_leader() {
  local out="$1"
  shift
  pod_prefix leader rehearse-0
  "${pod[@]}" env MOE_WORKER_HOSTS="$worker_hosts" \
    MOE_SSH_KEY="$tmp/secret/id_ed25519" MOE_STATE_DIR="$tmp/leader" MOE_WAIT_SECONDS=60 \
    MOE_PP="${MOE_PP:-1}" MOE_EP="${MOE_EP:-2}" MOE_SERVE_BIN="$SERVE" \
    MOE_MODEL_DIR="$ROOT/models/demo-qwen3-moe-shakespeare" \
    MOE_SERVE_ARGS="--kv-blocks 256 --threads 1 --drain-seconds 2 --step-timeout 3" \
    "$ROOT/deploy/scripts/leader-entrypoint.sh" "$@" >"$out" 2>&1 &
  leader_pid=$!
  bg_pids+=("$leader_pid")
}

show_logs() {
  local f
  for f in "$tmp"/*.log; do
    echo "----- $(basename "$f")"
    tail -n 40 "$f"
  done
}

# Kills worker 2 and expects the leader to end non-zero within a bound.
expect_leader_fails_on_worker_loss() {
  log "killing worker 2"
  kill_pod w2
  wait_exit "$leader_pid" 60
  [ "$rc" != timeout ] || { show_logs; fail "the leader still runs 60s after worker 2 died"; }
  [ "$rc" -ne 0 ] || { show_logs; fail "the leader exited 0 after worker 2 died"; }
  log "worker 2 killed: the leader exited with status $rc"
}

# wait_ranks: until both worker pods run a rank (a process named $rank_comm).
wait_ranks() {
  local deadline=$((SECONDS + 60))
  until pod_has_process w1 "$rank_comm" && pod_has_process w2 "$rank_comm"; do
    [ "$SECONDS" -lt "$deadline" ] || { show_logs; fail "worker ranks did not start"; }
    kill -0 "$leader_pid" 2>/dev/null || { show_logs; fail "the leader ended early"; }
    sleep 0.2
  done
}

# wait_serving: until the leader's gRPC health says SERVING, asked from the client pod.
wait_serving() {
  local deadline=$((SECONDS + 180))
  until in_pod client client "$CLIENT" --target "$leader_ip:50051" --timeout 5 health \
    >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || { show_logs; fail "moe-serve not SERVING within 180s"; }
    kill -0 "$leader_pid" 2>/dev/null || { show_logs; fail "the leader ended early"; }
    sleep 0.5
  done
}

if [ "$MODE" = standin ]; then
  # The leader starts before the workers exist and must wait for them (LWS starts the pods
  # of a group in parallel).
  start_leader "$tmp/leader-hostname.log" -- hostname
  sleep 1
  start_workers
  wait_exit "$leader_pid" 90
  [ "$rc" = 0 ] || { show_logs; fail "leader with 'hostname' ranks ended with $rc"; }
  for h in rehearse-0 rehearse-0-1 rehearse-0-2; do
    grep -q "^\[1,[0-9]*\]<stdout>:$h\$" "$tmp/leader-hostname.log" ||
      { show_logs; fail "no rank answered from $h"; }
  done
  log "3 ranks ran on rehearse-0, rehearse-0-1, rehearse-0-2 over ssh"

  # SIGTERM to the leader goes to rank 0 and ends the job.
  rank_comm="sleep"
  start_leader "$tmp/leader-term.log" -- sleep 600
  wait_ranks
  kill -TERM "$leader_pid"
  wait_exit "$leader_pid" 30
  [ "$rc" != timeout ] || { show_logs; fail "the leader still runs 30s after SIGTERM"; }
  grep -q "SIGTERM: passing it to rank 0" "$tmp/leader-term.log" ||
    { show_logs; fail "SIGTERM did not reach rank 0"; }
  log "SIGTERM: rank 0 got it, the leader exited with status $rc"

  start_leader "$tmp/leader-sleep.log" -- sleep 600
  wait_ranks
  expect_leader_fails_on_worker_loss
else
  rank_comm="$(basename "$SERVE" | cut -c1-15)"
  start_workers
  start_leader "$tmp/leader-serve.log"
  wait_serving
  in_pod client client "$CLIENT" --target "$leader_ip:50051" --timeout 60 chat --no-think \
    --prompt "What light through yonder window breaks?" --max-tokens 16 --seed 1 --json \
    >"$tmp/answer.jsonl" 2>"$tmp/client.log" || { show_logs; fail "moe-client chat failed"; }
  deltas="$(grep -c . "$tmp/answer.jsonl" || true)"
  [ "$deltas" -ge 2 ] || { show_logs; fail "expected a streamed answer, got $deltas deltas"; }
  log "streamed answer in $deltas deltas through the leader's API"

  # SIGTERM (pod deletion): rank 0 drains and shuts the workers down; mpirun ends 0.
  kill -TERM "$leader_pid"
  wait_exit "$leader_pid" 60
  [ "$rc" = 0 ] || { show_logs; fail "after SIGTERM the leader ended with $rc, not 0"; }
  log "SIGTERM: the group stopped cleanly"

  # Again, then lose a worker.
  start_leader "$tmp/leader-serve2.log"
  wait_serving
  wait_ranks
  expect_leader_fails_on_worker_loss
fi
log "PASS"
