#!/usr/bin/env bash
# check_scripts.sh SOURCE_DIR: the deployment's shell scripts parse (bash -n) and pass the
# linter (shellcheck, when installed); the leader's plan (hosts from the LWS variables, hostfile,
# mpirun command) is what the manifests expect.
set -euo pipefail
src="${1:?usage: check_scripts.sh SOURCE_DIR}"
scripts=("$src"/deploy/scripts/*.sh "$src"/tests/deploy/*.sh)
for s in "${scripts[@]}"; do bash -n "$s"; done
if command -v shellcheck >/dev/null; then
  shellcheck "${scripts[@]}"
else
  echo "note: shellcheck not installed; syntax checked only"
fi

fail() { echo "FAIL: $*"; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
leader="$src/deploy/scripts/leader-entrypoint.sh"

# LWS names: leader moe-1.moe-serve.prod -> workers moe-1-1.moe-serve.prod, moe-1-2...
out="$(env -i PATH="$PATH" LWS_LEADER_ADDRESS=moe-1.moe-serve.prod LWS_GROUP_SIZE=3 MOE_PP=2 \
  MOE_EP=2 MOE_MODEL_DIR=/models MOE_STATE_DIR="$tmp/a" MOE_SERVE_ARGS="--threads 8" \
  NCCL_DEBUG=WARN "$leader" --dry-run)"
expected_hostfile="localhost slots=1
moe-1-1.moe-serve.prod slots=2
moe-1-2.moe-serve.prod slots=2"
[ "$(cat "$tmp/a/hostfile")" = "$expected_hostfile" ] || fail "hostfile: $(cat "$tmp/a/hostfile")"
for want in "-np 5" "--hostfile $tmp/a/hostfile" "plm_rsh_agent ssh\\ -F\\ $tmp/a/ssh_config" \
  "-x NCCL_DEBUG" "moe-serve --model /models --pp 2 --ep 2 --grpc-port 50051 --http-port 8000 --health-port 8081 --threads 8"; do
  [[ "$out" == *"$want"* ]] || fail "dry run lacks '$want': $out"
done
grep -q '^  Port 2222$' "$tmp/a/ssh_config" || fail "ssh config: $(cat "$tmp/a/ssh_config")"

# Optional Secrets: flags only when the files exist.
touch "$tmp/keys"
out="$(env -i PATH="$PATH" LWS_LEADER_ADDRESS=m-0.m.ns LWS_GROUP_SIZE=2 MOE_EP=1 MOE_MODEL_DIR=/m \
  MOE_STATE_DIR="$tmp/b" MOE_API_KEYS_FILE="$tmp/keys" MOE_TLS_CERT=/nonexistent \
  MOE_TLS_KEY=/nonexistent "$leader" --dry-run)"
[[ "$out" == *"--api-keys $tmp/keys"* ]] || fail "no --api-keys: $out"
[[ "$out" != *"--tls-cert"* ]] || fail "--tls-cert without the files: $out"

# A group that the ranks do not fill evenly is refused before anything starts.
if env -i PATH="$PATH" LWS_LEADER_ADDRESS=m-0.m.ns LWS_GROUP_SIZE=3 MOE_EP=3 MOE_MODEL_DIR=/m \
  MOE_STATE_DIR="$tmp/c" "$leader" --dry-run >/dev/null 2>&1; then
  fail "3 worker ranks on 2 worker pods accepted"
fi

# The worker's sshd config is accepted by sshd itself (when installed).
sshd="${MOE_SSHD_BIN:-/usr/sbin/sshd}"
if [ -x "$sshd" ]; then
  ssh-keygen -q -t ed25519 -N '' -f "$tmp/id"
  MOE_SSH_AUTHORIZED_KEYS="$tmp/id.pub" MOE_SSH_STATE_DIR="$tmp/sshd" MOE_SSHD_BIN="$sshd" \
    "$src/deploy/scripts/worker-entrypoint.sh" --check
else
  echo "note: no sshd at $sshd; worker sshd config not tested"
fi
echo "ok"
