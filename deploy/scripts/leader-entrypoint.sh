#!/usr/bin/env bash
# leader-entrypoint.sh: the leader pod of a serving group (LeaderWorkerSet worker index 0).
#
# Finds the group's worker pods, waits (bounded) until each one's sshd lets us in, writes an
# OpenMPI hostfile and execs mpirun: rank 0 (the coordinator, with the APIs) runs here, ranks
# 1..P*E run on the workers, started over ssh. The exit status is mpirun's, so the loss of any
# rank ends this container non-zero and the LeaderWorkerSet recreates the whole group.
# SIGTERM and SIGINT go to rank 0 (graceful drain); see forward_term below.
#
#   leader-entrypoint.sh [--dry-run] [-- PROGRAM [ARGS...]]
#     --dry-run   print the hostfile and the mpirun command; do not wait or launch
#     -- PROGRAM  run PROGRAM on every rank instead of moe-serve (debugging, rehearsals)
#
# Environment (the defaults match the container image and deploy/k8s):
#   Group (set by LeaderWorkerSet):
#     LWS_LEADER_ADDRESS     this pod's DNS name, <lws>-<group>.<subdomain>.<namespace>
#     LWS_GROUP_SIZE         pods in the group: 1 leader + workers
#     MOE_WORKER_HOSTS       worker hosts, space-separated; overrides the two above (rehearsals)
#     MOE_LEADER_HOST        the hostfile entry for this pod (default localhost)
#   Ranks:
#     MOE_PP, MOE_EP         pipeline stages and expert-parallel ranks (default 1, 1);
#                            mpirun -np 1 + PP*EP
#     MOE_RANKS_PER_WORKER   worker ranks per worker pod (default PP*EP / workers)
#   ssh:
#     MOE_SSH_PORT           the workers' sshd port (default 2222)
#     MOE_SSH_KEY            private key (default /etc/moe/ssh/id_ed25519, a Secret mount)
#     MOE_SSH_KNOWN_HOSTS    known_hosts to check the workers' host keys against (optional;
#                            without it host keys are not checked: see deploy/README.md)
#     MOE_WAIT_SECONDS       how long to wait for every worker's sshd (default 300)
#     MOE_STATE_DIR          writable directory for hostfile, ssh config, key copy
#                            (default /run/moe/leader; an emptyDir in the pod)
#   moe-serve (rank program):
#     MOE_SERVE_BIN          default moe-serve (from PATH)
#     MOE_MODEL_DIR          model directory (required unless -- PROGRAM)
#     MOE_GRPC_PORT, MOE_HTTP_PORT, MOE_HEALTH_PORT   default 50051, 8000, 8081
#     MOE_API_KEYS_FILE      --api-keys FILE when the file exists (optional Secret)
#     MOE_TLS_CERT, MOE_TLS_KEY   --tls-cert/--tls-key when both files exist (optional Secret)
#     MOE_SERVE_ARGS         more moe-serve flags, split on whitespace (no quoting)
#   mpirun:
#     MOE_MPIRUN_BIN         default mpirun
#     MOE_MPIRUN_ARGS        more mpirun flags, split on whitespace
#     PATH, LD_LIBRARY_PATH and variables named NCCL_*, OMP_*, CUDA_*, UCX_* are exported to
#     every rank.
set -euo pipefail

log() { echo "leader-entrypoint: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
# positive NAME VALUE: dies unless VALUE is an integer >= 1.
positive() {
  if ! [[ "$2" =~ ^[0-9]+$ ]] || [ "$2" -lt 1 ]; then die "$1 must be an integer >= 1, got '$2'"; fi
}

dry_run=0
program=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --)
      shift
      program=("$@")
      [ ${#program[@]} -gt 0 ] || die "nothing after --"
      break
      ;;
    *) die "unknown argument '$1' (usage: leader-entrypoint.sh [--dry-run] [-- PROGRAM ...])" ;;
  esac
  shift
done

pp="${MOE_PP:-1}"
ep="${MOE_EP:-1}"
positive MOE_PP "$pp"
positive MOE_EP "$ep"
worker_ranks=$((pp * ep))
np=$((1 + worker_ranks))

# --- The group's worker hosts --------------------------------------------------------------
# LWS names the leader pod <lws>-<group> and its workers <lws>-<group>-<i>, i = 1..size-1, all
# under the same subdomain, so worker i's address is the leader's first DNS label plus "-i",
# followed by the rest of the leader's address.
workers=()
if [ -n "${MOE_WORKER_HOSTS:-}" ]; then
  read -r -a workers <<<"$MOE_WORKER_HOSTS"
elif [ -n "${LWS_LEADER_ADDRESS:-}" ]; then
  size="${LWS_GROUP_SIZE:-}"
  positive LWS_GROUP_SIZE "$size"
  leader_name="${LWS_LEADER_ADDRESS%%.*}"
  domain=""
  [ "$leader_name" != "$LWS_LEADER_ADDRESS" ] && domain=".${LWS_LEADER_ADDRESS#*.}"
  for ((i = 1; i < size; i++)); do
    workers+=("${leader_name}-${i}${domain}")
  done
else
  die "set LWS_LEADER_ADDRESS and LWS_GROUP_SIZE (LeaderWorkerSet does) or MOE_WORKER_HOSTS"
fi

n_workers=${#workers[@]}
if [ "$n_workers" -eq 0 ]; then
  per_worker=0
else
  per_worker="${MOE_RANKS_PER_WORKER:-$((worker_ranks / n_workers))}"
  positive MOE_RANKS_PER_WORKER "$per_worker"
  [ $((per_worker * n_workers)) -eq "$worker_ranks" ] ||
    die "$worker_ranks worker ranks (PP=$pp x EP=$ep) do not fill $n_workers worker pods" \
      "with $per_worker each; set MOE_RANKS_PER_WORKER or the group size"
fi

# --- State: hostfile, ssh config, key copy ----------------------------------------------------
state="${MOE_STATE_DIR:-/run/moe/leader}"
ssh_port="${MOE_SSH_PORT:-2222}"
ssh_key="${MOE_SSH_KEY:-/etc/moe/ssh/id_ed25519}"
known_hosts="${MOE_SSH_KNOWN_HOSTS:-}"
is_uint "$ssh_port" || die "MOE_SSH_PORT must be a number, got '$ssh_port'"
umask 077
mkdir -p "$state"
chmod 700 "$state"

hostfile="$state/hostfile"
{
  if [ "$n_workers" -eq 0 ]; then
    echo "${MOE_LEADER_HOST:-localhost} slots=$np"
  else
    echo "${MOE_LEADER_HOST:-localhost} slots=1"
    for h in "${workers[@]}"; do echo "$h slots=$per_worker"; done
  fi
} >"$hostfile"

ssh_config="$state/ssh_config"
if [ "$n_workers" -gt 0 ] && [ "$dry_run" -eq 0 ]; then
  [ -r "$ssh_key" ] || die "cannot read ssh key $ssh_key (mount the ssh Secret)"
  # ssh refuses a private key readable by others; Secret mounts may be.
  install -m 600 "$ssh_key" "$state/ssh_key"
fi
{
  echo "# Written by leader-entrypoint.sh; see there."
  echo "Host *"
  echo "  Port $ssh_port"
  echo "  IdentityFile $state/ssh_key"
  echo "  IdentitiesOnly yes"
  echo "  BatchMode yes"
  echo "  ConnectTimeout 10"
  echo "  ServerAliveInterval 15"
  echo "  ServerAliveCountMax 4"
  echo "  LogLevel ERROR"
  echo "  GlobalKnownHostsFile /dev/null"
  if [ -n "$known_hosts" ]; then
    echo "  StrictHostKeyChecking yes"
    echo "  UserKnownHostsFile $known_hosts"
  else
    echo "  StrictHostKeyChecking no"
    echo "  UserKnownHostsFile /dev/null"
  fi
} >"$ssh_config"

# --- The rank program ----------------------------------------------------------------------
if [ ${#program[@]} -eq 0 ]; then
  [ -n "${MOE_MODEL_DIR:-}" ] || die "MOE_MODEL_DIR is required"
  program=("${MOE_SERVE_BIN:-moe-serve}" --model "$MOE_MODEL_DIR" --pp "$pp" --ep "$ep"
    --grpc-port "${MOE_GRPC_PORT:-50051}" --http-port "${MOE_HTTP_PORT:-8000}"
    --health-port "${MOE_HEALTH_PORT:-8081}")
  if [ -n "${MOE_API_KEYS_FILE:-}" ] && [ -f "$MOE_API_KEYS_FILE" ]; then
    program+=(--api-keys "$MOE_API_KEYS_FILE")
  fi
  if [ -n "${MOE_TLS_CERT:-}" ] && [ -f "$MOE_TLS_CERT" ] &&
    [ -n "${MOE_TLS_KEY:-}" ] && [ -f "$MOE_TLS_KEY" ]; then
    program+=(--tls-cert "$MOE_TLS_CERT" --tls-key "$MOE_TLS_KEY")
  fi
  read -r -a extra <<<"${MOE_SERVE_ARGS:-}"
  program+=("${extra[@]}")
fi

# --- mpirun --------------------------------------------------------------------------------
mpirun=("${MOE_MPIRUN_BIN:-mpirun}" --hostfile "$hostfile" -np "$np" --map-by slot --bind-to none
  # ssh to the workers with our config; the leader launches every daemon itself (no tree
  # spawn), so only the leader needs the private key.
  --mca plm_rsh_agent "ssh -F $ssh_config" --mca plm_rsh_no_tree_spawn 1
  # A rank that dies does not make mpirun tear the job down: rank 0 notices within
  # --step-timeout, ends every stream naming the rank, and aborts the job itself (non-zero);
  # an abort then kills the ranks at once (comm/README.md).
  --mca orte_abort_on_non_zero_status 0 --mca odls_base_sigkill_timeout 0
  --tag-output)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root) # CI rehearsal only; pods are uid 1000
for name in PATH LD_LIBRARY_PATH $(compgen -e | grep -E '^(NCCL|OMP|CUDA|UCX)_' || true); do
  [ -n "${!name+x}" ] && mpirun+=(-x "$name")
done
read -r -a mpirun_extra <<<"${MOE_MPIRUN_ARGS:-}"
mpirun+=("${mpirun_extra[@]}" "${program[@]}")

if [ "$dry_run" -eq 1 ]; then
  echo "# hostfile $hostfile"
  cat "$hostfile"
  echo "# command"
  printf '%q ' "${mpirun[@]}"
  echo
  exit 0
fi

# --- Wait for every worker's sshd (bounded) ---------------------------------------------------
wait_seconds="${MOE_WAIT_SECONDS:-300}"
is_uint "$wait_seconds" || die "MOE_WAIT_SECONDS must be a number, got '$wait_seconds'"
deadline=$((SECONDS + wait_seconds))
for h in "${workers[@]}"; do
  until ssh -F "$ssh_config" -o ConnectTimeout=5 "$h" true 2>"$state/ssh.err"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "worker $h did not accept ssh on port $ssh_port within ${wait_seconds}s:" \
        "$(tr '\n' ' ' <"$state/ssh.err")"
      exit 1
    fi
    sleep 2
  done
  log "worker $h is ready"
done

log "starting $np ranks (PP=$pp EP=$ep) on $((n_workers + 1)) pods"
"${mpirun[@]}" &
mpirun_pid=$!

# SIGTERM (pod deletion, rolling update) goes to rank 0 alone, the coordinator, which drains
# and then shuts the worker ranks down, so that mpirun ends 0. mpirun itself would instead
# abort the job: SIGTERM to every rank, SIGKILL a second later. Without a local rank 0 (not
# started yet, or gone) mpirun gets the signal.
# shellcheck disable=SC2317 # called by the trap
forward_term() {
  local rank0
  rank0="$(pgrep -P "$mpirun_pid" -x "$(basename "${program[0]}" | cut -c1-15)" | head -n1 || true)"
  if [ -n "$rank0" ]; then
    log "SIGTERM: passing it to rank 0 (pid $rank0)"
    kill -TERM "$rank0" 2>/dev/null || true
  else
    log "SIGTERM: no local rank 0; passing it to mpirun"
    kill -TERM "$mpirun_pid" 2>/dev/null || true
  fi
}
trap forward_term TERM INT

# wait returns early (> 128) when a trapped signal arrives; keep waiting until mpirun is gone.
while true; do
  rc=0
  wait "$mpirun_pid" || rc=$?
  kill -0 "$mpirun_pid" 2>/dev/null || break
done
log "mpirun exited with status $rc"
exit "$rc"
