#!/usr/bin/env bash
# On the GPU host, from the repository root with .gpu-pack/ carried along (tools/gpu/bundle.sh): runs the CUDA parity tests
# (op by op against the CPU reference; end to end against the torch/transformers fixtures on both
# backends) and a CLI smoke test with --backend auto. Logs go to ${OUT:-/tmp/mneme-gpu}.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/mneme-gpu}
mkdir -p "$OUT"
[[ -d .gpu ]] || tar -xzf .gpu-pack/gpu.tgz
# cuBLASLt is dlopen()ed: find libcublasLt.so.13 in the CUDA toolkit or PyTorch's wheel.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
         /opt/torch/.venv/lib/python3.12/site-packages/nvidia/cublas/lib \
         /opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib; do
  if [[ -e "$d/libcublasLt.so.13" ]]; then CUBLAS_DIR=$d; break; fi
done
export LD_LIBRARY_PATH="$PWD/.gpu/lib:${CUBLAS_DIR:-}:${LD_LIBRARY_PATH:-}"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; echo "cublasLt from: ${CUBLAS_DIR:-NOT FOUND}"; } | tee "$OUT/device.txt"
status=0
for t in mneme_kernels_test mneme_model_test mneme_engine_test; do
  # The engine suite's store tests are CPU-only and covered by CI; run the GPU-relevant ones.
  filter='*'
  [[ $t == mneme_engine_test ]] && filter='*Fixture*:*Router*:*MemorySession*:*ContentCache*:*Mirror*:*AppendBatch*'
  if ./.gpu/bin/$t --gtest_filter="$filter" > "$OUT/$t.log" 2>&1; then r=pass; else r=FAIL; status=1; fi
  echo "$t: $r ($(grep -c '^\[       OK \]' "$OUT/$t.log") ok, $(grep -c '^\[  SKIPPED \]' "$OUT/$t.log") skipped lines)" | tee -a "$OUT/summary.txt"
done
# CLI: the same store queried with --backend cpu and --backend auto (which must pick cuda here);
# then the same corpus ingested by each backend. The outputs are kept for comparison.
m=./.gpu/bin/mneme
w=$(mktemp -d)
{
  $m model init --preset tiny-msa --seed 0 --out "$w/model" &&
  $m gen contracts --count 60 --seed 7 --out "$w/corpus.jsonl" --questions "$w/q.jsonl" --num-questions 3 &&
  for b in cpu auto; do
    $m --data "$w/$b" session create c --model "$w/model" &&
    $m --data "$w/$b" --backend $b doc add --session c --jsonl "$w/corpus.jsonl" > /dev/null || exit 1
  done
} > "$OUT/cli_setup.log" 2>&1 || { echo "cli setup FAILED" | tee -a "$OUT/summary.txt"; status=1; }
q=$(sed -n 's/.*"question":"\([^"]*\)".*/\1/p' "$w/q.jsonl" | head -n 1)
for b in cpu cuda auto; do
  # cuda runs at --precision fp32 (must equal cpu); auto is the deployment default (bf16 weights).
  p=fp32; [[ $b == auto ]] && p=auto
  $m --data "$w/cpu" --backend $b --precision $p --format json ask --session c --question "$q" --max-tokens 16 \
    > "$OUT/ask_cpu_store_$b.json" 2> "$OUT/ask_cpu_store_$b.err"
done
for b in cpu auto; do
  $m --data "$w/$b" --backend $b --format json route --session c --question "$q" \
    > "$OUT/route_own_store_$b.json" 2>&1
done
python3 - "$OUT" <<'PY' | tee -a "$OUT/summary.txt"
import json, sys
out = sys.argv[1]
def load(name):
    try:
        return json.load(open(f"{out}/{name}"))
    except Exception as e:
        return {"error": str(e)}
a, b, c = load("ask_cpu_store_cpu.json"), load("ask_cpu_store_cuda.json"), load("ask_cpu_store_auto.json")
ids = lambda r: [t for rd in r.get("rounds", []) for t in rd.get("new_ids", [])]
print("ask on one store, cpu vs cuda --precision fp32: token ids equal:", ids(a) == ids(b) and len(ids(a)) > 0)
same = sum(x == y for x, y in zip(ids(a), ids(c)))
print(f"ask on one store, cpu vs auto (bf16 weights): {same}/{len(ids(a))} leading token ids agree")
r1, r2 = load("route_own_store_cpu.json"), load("route_own_store_auto.json")
sets = lambda r: [sorted(d["ordinal"] for d in l["docs"]) for l in r.get("layers", [])]
s1, s2 = sets(r1), sets(r2)
same = sum(a == b for a, b in zip(s1, s2))
print(f"route over each backend's own ingest: {same}/{len(s1)} layer top-k sets equal; "
      f"cpu {s1} vs auto {s2}")
PY
[[ -n "${SKIP_BENCH:-}" ]] && exit $status
# Product-level figures, both backends on the same machine: the small-msa preset (random
# weights), 20,000 documents in memory (200 encoded, the rest copies of their pooled memory).
$m model init --preset small-msa --seed 0 --out "$w/small" > /dev/null 2>&1
for b in cpu cuda; do
  timeout 240 $m --backend $b --format json bench memory --model "$w/small" --docs 20000 --encode-docs 200 \
    --questions 4 --repeats 3 > "$OUT/bench_memory_$b.json" 2> "$OUT/bench_memory_$b.err" || echo "bench memory $b failed" | tee -a "$OUT/summary.txt"
done
exit $status
