#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz; docs/fuzzing.md) with Clang in build-fuzz and runs
# each for N seconds on a temporary copy of its seed corpus (the repository's corpus is never
# written). Exits 1 if any target crashes, leaks, times out or trips a sanitizer; its reproducer
# is kept in <build>/fuzz-artifacts/<target>/.
#   bash tools/fuzz.sh [--seconds N] [--target NAME]
#   FUZZ_BUILD_DIR (default build-fuzz; not BUILD_DIR, which names the main build in tools/test.sh), JOBS (default 2), FUZZ_ARGS (extra libFuzzer flags).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# One line per fuzz target: <CMake target>:<seed corpus directory>.
targets=(
  segment_decode_fuzzer:tests/fuzz/corpus/segment
  record_decode_fuzzer:tests/fuzz/corpus/record
)

usage() { sed -n '2,7s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
seconds=20
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="${2:-}"; shift 2 ;;
    --target) only="${2:-}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "fuzz.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz.sh: --seconds needs a positive integer" >&2
  exit 2
fi
selected=()
for entry in "${targets[@]}"; do
  [ -z "$only" ] || [ "${entry%%:*}" = "$only" ] && selected+=("$entry")
done
if [ ${#selected[@]} -eq 0 ]; then
  echo "fuzz.sh: no target '$only'; known: ${targets[*]%%:*}" >&2
  exit 2
fi

if ! command -v clang++ >/dev/null ||
   ! ls "$(clang++ -print-resource-dir)"/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "fuzz.sh: needs clang++ with libFuzzer (Debian: clang libclang-rt-14-dev)" >&2
  exit 2
fi

export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
build="${FUZZ_BUILD_DIR:-build-fuzz}"
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMNEME_FUZZ=ON -DMNEME_BUILD_TESTS=OFF -DMNEME_WITH_CUDA=OFF -DMNEME_WITH_MPI=OFF >/dev/null
build_target=mneme_fuzzers
[ -z "$only" ] || build_target="$only"
cmake --build "$build" --target "$build_target" -j "${JOBS:-2}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=()
for entry in "${selected[@]}"; do
  name="${entry%%:*}"
  seeds="${entry#*:}"
  dir="$work/$name"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp -R "$seeds"/. "$dir/corpus/"
  seeds_n=$(find "$dir/corpus" -type f | wc -l)
  echo "== $name: ${seconds} s on a copy of $seeds ($seeds_n seeds)"
  rc=0
  # shellcheck disable=SC2086  # FUZZ_ARGS is a list of flags
  "$build/tests/fuzz/$name" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$dir/artifacts/" ${FUZZ_ARGS:-} "$dir/corpus" \
    >"$dir/log" 2>&1 || rc=$?
  stat() { sed -n "s/^stat::$1: *//p" "$dir/log" | tail -n 1; }
  corpus_n=$(find "$dir/corpus" -type f | wc -l)
  printf '%s: %s runs, %s exec/s, corpus %s -> %s, peak RSS %s MB, exit %d\n' "$name" \
    "$(stat number_of_executed_units)" "$(stat average_exec_per_sec)" "$seeds_n" "$corpus_n" \
    "$(stat peak_rss_mb)" "$rc"
  if [ "$rc" -ne 0 ]; then
    failed+=("$name")
    keep="$build/fuzz-artifacts/$name"
    mkdir -p "$keep"
    cp -R "$dir/artifacts"/. "$keep/" 2>/dev/null || true
    cp "$dir/log" "$keep/log"
    tail -n 40 "$dir/log" >&2
    echo "$name FAILED; reproducer and log in $keep (rerun: $build/tests/fuzz/$name <file>)" >&2
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: all ${#selected[@]} target(s) ran ${seconds} s without a finding"
