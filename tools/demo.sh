#!/usr/bin/env bash
# The main job on an embedded default: build, write a tiny random Qwen3 checkpoint, generate.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash tools/build.sh >&2
build="${BUILD_DIR:-build}"
model="${MNEME_DEMO_MODEL:-$root/mneme-data/models/tiny}"
if [ ! -f "$model/config.json" ]; then
  "$build/tools/mneme" model init --preset tiny --seed 0 --out "$model"
fi
"$build/tools/mneme" tokenize --model "$model" --text "Please answer the question" --format json
"$build/tools/mneme" generate --model "$model" --prompt "Please answer the question" \
  --max-tokens 16 --format json
