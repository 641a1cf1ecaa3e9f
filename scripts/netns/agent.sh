#!/usr/bin/env bash
# OpenMPI launch agent (`mpirun --mca plm_rsh_agent agent.sh`) for hosts that are network
# namespaces (netns.sh): called like ssh, `agent.sh [ssh options] HOST COMMAND...`, it runs
# COMMAND with `sh -c` inside the namespace of HOST (10.77.0.(i+1) -> moe-$MOE_NETNS_ID-h<i>),
# in its own UTS namespace with host name moe-h<i>, so every rank sees a different host.
# MOE_NETNS_ID: the set's ID (mpirun-netns.sh exports it; mpirun passes it on to its agent).
set -euo pipefail

while [[ $# -gt 0 && $1 == -* ]]; do
  case $1 in
    -p | -l | -o | -i | -F) shift 2 ;;  # ssh options with a value
    *) shift ;;
  esac
done
host=${1:?agent.sh: no host}
shift
: "${MOE_NETNS_ID:?agent.sh: MOE_NETNS_ID is not set}"

case $host in
  10.77.0.*) index=$((${host##*.} - 1)) ;;
  moe-h*) index=${host#moe-h} ;;
  *)
    echo "agent.sh: unknown host '$host' (want 10.77.0.N or moe-hI)" >&2
    exit 255
    ;;
esac
exec ip netns exec "moe-$MOE_NETNS_ID-h$index" \
  unshare --uts sh -c 'hostname "$1"; shift; exec sh -c "$*"' agent "moe-h$index" "$@"
