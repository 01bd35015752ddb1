#!/usr/bin/env bash
# The main job on an embedded default: build; make a tiny MSA model; generate a synthetic
# contract corpus; ingest it into a memory session; route and ask a few questions, printing the
# routing and the timings. The model's weights are random, so its answers are noise: the demo
# shows the machinery (ingest -> routing -> sparse attention -> interleaved generation) end to end.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash tools/build.sh >&2
mneme="$root/${BUILD_DIR:-build}/tools/mneme"
work="$root/mneme-data/demo"
model="$work/models/tiny-msa"
export MNEME_DATA="$work"
rm -rf "$work/sessions/contracts"
mkdir -p "$work"
[ -f "$model/config.json" ] || "$mneme" model init --preset tiny-msa --seed 0 --out "$model"

echo "== generating 300 contracts (masters, amendments, NDAs, purchase orders)"
"$mneme" gen contracts --count 300 --seed 7 --out "$work/corpus.jsonl" \
  --questions "$work/questions.jsonl" --num-questions 3 --format json
echo "== creating session 'contracts'"
"$mneme" session create contracts --model "$model"
echo "== ingesting (one durable line per document; last 3 shown)"
start=$(date +%s%N)
"$mneme" doc add --session contracts --jsonl "$work/corpus.jsonl" --format json | tail -n 3
echo "ingest took $(( ($(date +%s%N) - start) / 1000000 )) ms"

sed -n 's/.*"question":"\([^"]*\)".*/\1/p' "$work/questions.jsonl" | head -n 2 | while IFS= read -r q; do
  echo
  echo "== question: $q"
  echo "-- routing (per routed layer: the selected documents and their scores)"
  "$mneme" route --session contracts --question "$q"
  echo "-- ask (JSON: answer, rounds with routing and injected documents, timings)"
  "$mneme" ask --session contracts --question "$q" --max-tokens 32 --format json
done
