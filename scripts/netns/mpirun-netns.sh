#!/usr/bin/env bash
# Runs an MPI job with each host a network namespace on this machine (netns.sh, agent.sh):
#
#   scripts/netns/mpirun-netns.sh -n HOSTS [-v] -- MPIRUN_ARGS...
#   e.g. scripts/netns/mpirun-netns.sh -n 3 -- -np 3 build/tools/moe-serve --model DIR --pp 2
#
# Makes HOSTS namespaces (10.77.0.1 .. 10.77.0.HOSTS, host names moe-h0 ..), starts mpirun in
# the first one with a hostfile of all of them (one slot each: rank i on host i with -np HOSTS),
# the launch agent agent.sh and MPI over TCP only, and deletes the namespaces when it ends
# (also on Ctrl-C or an error; sets left by killed runs are collected by the next run).
# Exits with mpirun's code, or 77 when namespaces cannot be made here (not root, no `ip netns`):
# ctest's SKIP_RETURN_CODE. -v prints the mpirun command line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
hosts=0
verbose=0
while [[ $# -gt 0 ]]; do
  case $1 in
    -n) hosts=$2; shift 2 ;;
    -v) verbose=1; shift ;;
    --) shift; break ;;
    *)
      echo "mpirun-netns.sh: unknown option $1 (usage: -n HOSTS [-v] -- MPIRUN_ARGS...)" >&2
      exit 2
      ;;
  esac
done
((hosts >= 1)) || { echo "mpirun-netns.sh: give the host count with -n" >&2; exit 2; }

if ! "$here/netns.sh" check; then
  echo "mpirun-netns.sh: skipped: no network namespaces here" >&2
  exit 77
fi
"$here/netns.sh" gc

id="$$-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
work=$(mktemp -d)
cleanup() {
  "$here/netns.sh" down "$id"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$here/netns.sh" up "$id" "$hosts"
"$here/netns.sh" hostfile "$hosts" >"$work/hostfile"

export MOE_NETNS_ID=$id
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# mpirun (and rank 0) in namespace 0, the others started by agent.sh through orted; TCP only,
# on the namespaces' subnet, for MPI traffic (btl) and OpenMPI's own (oob).
cmd=(mpirun --hostfile "$work/hostfile"
  --mca plm_rsh_agent "$here/agent.sh" --mca plm_rsh_no_tree_spawn 1
  --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24
  "$@")
((verbose)) && echo "mpirun-netns.sh: ${cmd[*]}" >&2
# In the background, so that a signal to this script ends the run at once (cleanup kills
# everything left in the namespaces).
ip netns exec "moe-$id-h0" unshare --uts sh -c 'hostname moe-h0; exec "$@"' agent "${cmd[@]}" <&0 &
set +e
wait $!
rc=$?
set -e
exit $rc
