#!/usr/bin/env bash
# On the GPU host, from the repository root with .gpu-pack/ carried along (tools/gpu/bundle.sh):
# memory parallel on the GPU (docs/parallel.md, docs/perf.md).
#   1. exact mode on 2 ranks equals 1 rank (route of a tiny-model store, --backend cuda fp32);
#   2. `mneme bench parallel` (exact vs IDSA-style) at the memory sizes in $TOKENS on 1 and
#      $RANKS ranks (ranks share the GPUs round robin: on a one-GPU host two ranks share it);
#   3. weak scaling: $PER_RANK tokens per rank on 1..$RANKS ranks.
# With CHECKS=1 it first runs the mpirun CLI tests (tests/integration/parallel_cli_test.cc) on
# the CUDA backend: on a multi-GPU host ranks on distinct GPUs move data over NCCL, and the tests
# check single-process parity, re-sharding and lost ranks there. COMPARE_TRANSPORTS=1 adds rows
# with --transport mpi beside the default (NCCL where every rank has its own GPU).
# Results: $OUT/*.json and $OUT/summary.txt.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/mneme-gpu}
TOKENS=${TOKENS:-"1000000 10000000"}
RANKS=${RANKS:-2}
PER_RANK=${PER_RANK:-2000000}
mkdir -p "$OUT"
[[ -d .gpu ]] || tar -xzf .gpu-pack/gpu.tgz
for d in /usr/local/cuda/lib64 /opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib \
         /opt/torch/.venv/lib/python3.12/site-packages/nvidia/cublas/lib; do
  if [[ -e "$d/libcublasLt.so.13" ]]; then CUBLAS_DIR=$d; break; fi
done
export LD_LIBRARY_PATH="$PWD/.gpu/lib:${CUBLAS_DIR:-}:${LD_LIBRARY_PATH:-}"
export NCCL_NVLS_ENABLE=0
m=./.gpu/bin/mneme
mpi() { mpirun --allow-run-as-root --oversubscribe --bind-to none -x LD_LIBRARY_PATH -x NCCL_NVLS_ENABLE -np "$@"; }
{ date -u; nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; mpirun --version | head -1; } | tee "$OUT/summary.txt"

if [[ -n "${CHECKS:-}" ]]; then
  mkdir -p /tmp/mneme-bin/tools && ln -sf "$PWD/$m" /tmp/mneme-bin/tools/mneme
  MNEME_BINARY_DIR=/tmp/mneme-bin MNEME_TEST_BACKEND=cuda timeout "${CHECKS_TIMEOUT:-300}" \
    ./.gpu/bin/mneme_parallel_cli_test > "$OUT/cli_tests_cuda.txt" 2>&1
  echo "mpirun CLI tests on cuda fp32 (rc=$?): $(grep -E '^\[  (PASSED|FAILED) ' "$OUT/cli_tests_cuda.txt" | tr '\n' ' ')" | tee -a "$OUT/summary.txt"
fi

# 1. Parity on the GPU.
w=$(mktemp -d)
$m model init --preset tiny-msa --seed 2 --out "$w/tiny" >/dev/null
$m gen contracts --count 24 --seed 3 --out "$w/c.jsonl" >/dev/null
for np in 1 2; do
  mpi $np $m ${PARITY_FLAGS:-} --backend cuda --precision fp32 --data "$w/d$np" session create legal --model "$w/tiny" >/dev/null 2>>"$OUT/parity.err"
  mpi $np $m --backend cuda --precision fp32 --data "$w/d$np" -q doc add --session legal --jsonl "$w/c.jsonl" 2>>"$OUT/parity.err"
  mpi $np $m --backend cuda --precision fp32 --data "$w/d$np" --format json route --session legal \
    --question "What is the payment term?" > "$OUT/route_np$np.json" 2>>"$OUT/parity.err"
done
if cmp -s <(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['layers'])" "$OUT/route_np1.json") \
          <(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['layers'])" "$OUT/route_np2.json"); then
  echo "parity: route on 2 ranks == 1 rank (cuda fp32)" | tee -a "$OUT/summary.txt"
else
  echo "parity: ROUTE DIFFERS between 1 and 2 ranks" | tee -a "$OUT/summary.txt"
fi
grep -h "^mneme: .* ranks on" "$OUT/parity.err" | sort | uniq -c | sed 's/^/transport: /' | tee -a "$OUT/summary.txt"
# Two ranks made to share one GPU must fall back to MPI by themselves and say so.
CUDA_VISIBLE_DEVICES=0 mpi 2 $m --backend cuda --precision fp32 --data "$w/d2" route --session legal \
  --question "What is the payment term?" > /dev/null 2> "$OUT/shared.err"
echo "one GPU shared (rc=$?): $(grep "^mneme: .* ranks on" "$OUT/shared.err")" | tee -a "$OUT/summary.txt"
rm -rf "$w"

# 2 and 3. The 4B-shape MSA model (random weights), bf16.
[[ -d /tmp/m4b ]] || $m model init --preset 4b-msa --seed 0 --out /tmp/m4b >/dev/null
ENCODE_DOCS=${ENCODE_DOCS:-101}  # prime to the rank count: copies of a document spread over ranks
bench() {  # ranks tokens tag [extra global flags]
  timeout "${BENCH_TIMEOUT:-300}" mpirun --allow-run-as-root --oversubscribe --bind-to none -x LD_LIBRARY_PATH -x NCCL_NVLS_ENABLE -np "$1" $m ${4:-} --backend cuda --precision bf16 --format json bench parallel --model /tmp/m4b --memory-tokens "$2" \
    --encode-docs "$ENCODE_DOCS" --questions 8 --repeats 3 > "$OUT/$3.json" 2> "$OUT/$3.err"
  echo "$3 rc=$?: $(cat "$OUT/$3.json")" | tee -a "$OUT/summary.txt"
}
if [[ -z "${SKIP_MODES:-}" ]]; then
  for t in $TOKENS; do
    bench 1 "$t" "modes_np1_$t"
    bench "$RANKS" "$t" "modes_np${RANKS}_$t"
  done
fi
if [[ -n "${COMPARE_TRANSPORTS:-}" ]]; then  # multi-GPU hosts: MPI beside the default (NCCL)
  for t in $TOKENS; do bench "$RANKS" "$t" "transport_mpi_np${RANKS}_$t" "--transport mpi"; done
fi
if [[ -n "${WEAK:-}" ]]; then  # a row the modes already ran is not run again
  for np in $(seq 1 "$RANKS"); do
    t=$((PER_RANK * np))
    if [[ -z "${SKIP_MODES:-}" && " $TOKENS " == *" $t "* && ( $np == 1 || $np == "$RANKS" ) ]]; then
      echo "weak_np$np: see modes_np${np}_$t" | tee -a "$OUT/summary.txt"
    else
      bench "$np" "$t" "weak_np$np"
    fi
  done
fi
