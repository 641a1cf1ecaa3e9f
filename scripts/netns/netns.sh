#!/usr/bin/env bash
# Network namespaces as separate hosts for multi-host MPI tests on one machine.
#
#   netns.sh up ID N     make namespaces moe-ID-h0 .. moe-ID-h(N-1), each with loopback and
#                        eth0 = 10.77.0.(i+1)/24 and its own host name moe-h<i> (agent.sh), joined
#                        by a bridge in namespace moe-ID-sw. Nothing is added to the root
#                        namespace, so runs with different IDs do not collide.
#   netns.sh down ID     kill what runs in them and delete them (idempotent)
#   netns.sh gc          `down` every moe-PID-* set whose creating process PID is gone
#   netns.sh hostfile N  an OpenMPI hostfile: 10.77.0.1 .. 10.77.0.N, one slot each
#   netns.sh check       exit 0 when this process may create namespaces (root, `ip netns`)
#
# ID must start with the creating process's PID (mpirun-netns.sh uses PID-RANDOM) for `gc`.
# Needs root and iproute2.
set -euo pipefail

SUBNET_PREFIX=10.77.0

ns_list() {  # namespaces of set $1
  ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^moe-$1-(sw|h[0-9]+)$" || true
}

up() {
  local id=$1 n=$2
  if ((n < 1 || n > 250)); then
    echo "netns.sh: host count $n is not in 1..250" >&2
    return 2
  fi
  local sw="moe-$id-sw"
  ip netns add "$sw"
  ip -n "$sw" link set lo up
  ip -n "$sw" link add br0 type bridge
  ip -n "$sw" link set br0 up
  local i ns
  for ((i = 0; i < n; i++)); do
    ns="moe-$id-h$i"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # The pair is made inside the switch namespace: no names in the root namespace.
    ip -n "$sw" link add "p$i" type veth peer name eth0 netns "$ns"
    ip -n "$sw" link set "p$i" master br0 up
    ip -n "$ns" addr add "$SUBNET_PREFIX.$((i + 1))/24" dev eth0
    ip -n "$ns" link set eth0 up
  done
}

down() {
  local id=$1 ns pid
  for ns in $(ns_list "$id"); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      kill -KILL "$pid" 2>/dev/null || true
    done
    ip netns del "$ns" 2>/dev/null || true
  done
}

gc() {
  local ns owner
  local switches
  switches=$(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^moe-[0-9]+-[0-9a-f]+-sw$' || true)
  for ns in $switches; do
    owner=${ns#moe-}
    owner=${owner%%-*}
    if ! kill -0 "$owner" 2>/dev/null; then
      local id=${ns#moe-}
      down "${id%-sw}"
    fi
  done
}

hostfile() {
  local n=$1 i
  for ((i = 1; i <= n; i++)); do
    echo "$SUBNET_PREFIX.$i slots=1"
  done
}

check() {
  [[ $(id -u) == 0 ]] || { echo "netns.sh: needs root" >&2; return 1; }
  command -v ip >/dev/null || { echo "netns.sh: needs iproute2 (ip)" >&2; return 1; }
  local probe="moe-$$-probe"
  if ! ip netns add "$probe" 2>/dev/null; then
    echo "netns.sh: cannot create network namespaces here" >&2
    return 1
  fi
  ip netns del "$probe"
}

case "${1:-}" in
  up) up "$2" "$3" ;;
  down) down "$2" ;;
  gc) gc ;;
  hostfile) hostfile "$2" ;;
  check) check ;;
  *)
    sed -n '2,15p' "$0" >&2
    exit 2
    ;;
esac
