#!/usr/bin/env bash
# moe-run as one MPI job prints what one process prints: the demo model (real tokenizer, chat
# template, stop at <|im_end|>) with seeded sampling and greedy, under PP2, EP2 and PP2 x EP2;
# the fixture MoE greedy with top-5 logprobs (--json) under EP = its 8 experts. A layout that
# does not fit the world is refused before anything loads.
#   tests/tools/moe_run_mpi_test.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
build=$1 src=$2
run="$build/tools/moe-run"
command -v mpirun >/dev/null || { echo "skipped: no mpirun"; exit 77; }
mpi=(mpirun --allow-run-as-root --oversubscribe --bind-to none
  --mca btl_vader_single_copy_mechanism none --mca orte_abort_on_non_zero_status 0
  --mca odls_base_sigkill_timeout 0)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; cat "$work"/*.err 2>/dev/null; exit 1; }

# Exact math: layout-invariance is a property of the fp32 path (fast math's bf16 rounding can
# turn EP's other summation order into another token: README).
demo=(--model "$src/models/demo-qwen3-moe-shakespeare" --chat --no-think --threads 1 --math exact
  --prompt "What light through yonder window breaks?" --max-tokens 80 --print-ids)
for sampling in "--temperature 0" "--temperature 0.8 --seed 11"; do
  # shellcheck disable=SC2086
  "$run" "${demo[@]}" $sampling >"$work/want" 2>"$work/want.err" || fail "one process"
  [[ -s $work/want ]] || fail "no output"
  for layout in "3 --pp 2" "3 --ep 2" "5 --pp 2 --ep 2"; do
    set -- $layout
    np=$1
    shift
    # shellcheck disable=SC2086
    "${mpi[@]}" -np "$np" "$run" "${demo[@]}" $sampling "$@" >"$work/got" 2>"$work/got.err" ||
      fail "mpirun -np $np moe-run $* ($sampling)"
    diff "$work/want" "$work/got" || fail "$* ($sampling) differs from one process"
  done
done

# Greedy ids with top-5 logprobs on the fixture MoE, EP = the expert count (8 workers). The
# logprobs may differ in the last digits (expert sums in another order): compare ids exactly and
# logprobs to 1e-3.
tiny=(--model "$src/tests/data/models/tiny-qwen3-moe" --prompt-ids 1,2,3,4,5,6 --max-tokens 12 --math exact
  --temperature 0 --logprobs 5 --json --threads 1)
"$run" "${tiny[@]}" >"$work/want.json" 2>"$work/want.err" || fail "tiny, one process"
"${mpi[@]}" -np 9 "$run" "${tiny[@]}" --ep 8 >"$work/got.json" 2>"$work/got.err" ||
  fail "tiny, --ep 8"
/usr/bin/python3 - "$work/want.json" "$work/got.json" <<'PY' || fail "tiny --ep 8 differs"
import json, sys
want = [json.loads(l) for l in open(sys.argv[1])]
got = [json.loads(l) for l in open(sys.argv[2])]
assert len(want) == len(got) == 12, (len(want), len(got))
for w, g in zip(want, got):
    assert w["id"] == g["id"], (w, g)
    assert [t["id"] for t in w["top"]] == [t["id"] for t in g["top"]], (w, g)
    for a, b in zip(w["top"], g["top"]):
        assert abs(a["logprob"] - b["logprob"]) <= 1e-3, (a, b)
PY

# A layout the world does not fit: refused before loading, naming the fix.
"${mpi[@]}" -np 2 "$run" "${tiny[@]}" --pp 2 >/dev/null 2>"$work/bad.err" && fail "-np 2 --pp 2 ran"
grep -q "needs 3 MPI ranks" "$work/bad.err" || fail "no layout refusal: $(cat "$work/bad.err")"
echo PASS
