#!/bin/bash
# Runs tests/comm/mpi_worker_death under mpirun with the failure-handling flags and checks that
# the job ends non-zero, in time, with a message naming the failed rank.
# Usage: run_worker_death.sh BINARY MODE EXPECTED_MESSAGE MAX_SECONDS LAUNCHER...
# LAUNCHER: the mpirun command before its job arguments, e.g. `mpirun --oversubscribe` or
# `scripts/netns/mpirun-netns.sh -n 3 --` (exit code 77, skip, is passed on).
set -u
binary=$1 mode=$2 expected=$3 max_seconds=$4
shift 4
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s%N)
# orte_abort_on_non_zero_status 0: mpirun does not kill the job when one rank dies, so rank 0
# lives until its deadline, names the rank and ends the job itself (MPI_Abort).
# odls_base_sigkill_timeout 0: the daemons then kill the ranks at once (default: 1 s between
# SIGCONT, SIGTERM and SIGKILL; about 3.5 s more for an abort across hosts).
timeout 60 "$@" --mca orte_abort_on_non_zero_status 0 --mca odls_base_sigkill_timeout 0 \
  -np 3 "$binary" --mode "$mode" --victim 2 --timeout-ms 1000 >"$log" 2>&1
rc=$?
[[ $rc == 77 ]] && { cat "$log"; exit 77; }
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
cat "$log"
echo "mode $mode: mpirun exit code $rc after $elapsed_ms ms"
if [[ $mode == none ]]; then
  [[ $rc == 0 ]] || { echo "FAIL: a job without failures exited $rc"; exit 1; }
  exit 0
fi
[[ $rc != 0 && $rc != 124 ]] || { echo "FAIL: want a non-zero exit code, not $rc"; exit 1; }
grep -q -- "$expected" "$log" || { echo "FAIL: no message '$expected'"; exit 1; }
(( elapsed_ms <= max_seconds * 1000 )) || { echo "FAIL: took over $max_seconds s"; exit 1; }
echo PASS
