#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs every test with CTest.
# GPU tests report SKIPPED (with the reason) on machines without a GPU.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash tools/build.sh
build="${BUILD_DIR:-build}"
ctest --test-dir "$build" --output-on-failure -j "${JOBS:-2}" --timeout 600
# A short libFuzzer run of every fuzz target (docs/fuzzing.md; longer runs: tools/fuzz.sh --seconds N).
bash tools/fuzz.sh --seconds "${FUZZ_SECONDS:-15}"
