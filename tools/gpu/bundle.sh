#!/usr/bin/env bash
# Builds the GPU-host bundle here (TOOLCHAIN.md §5 recipe A: static third-party libraries) and
# stages it in .gpu/ and .gpu-pack/gpu.tgz (both git-ignored): bin/ holds mneme and the test binaries that carry GPU cases,
# lib/ the few shared libraries the GPU host lacks. Carry `.gpu-pack` to the GPU host and run
# tools/gpu/run_tests.sh there (docs/gpu.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${GPU_BUILD_DIR:-build-gpu}
if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMNEME_STATIC_DEPS=ON \
    -DMNEME_WITH_CUDA=ON -DMNEME_BUILD_TESTS=ON
fi
targets=(mneme mneme_kernels_test mneme_model_test mneme_engine_test mneme_parallel_cli_test mneme_kernels_capi)
cmake --build "$BUILD_DIR" -j"${JOBS:-2}" --target "${targets[@]}"
rm -rf .gpu && mkdir -p .gpu/bin .gpu/lib
cp "$BUILD_DIR/tools/mneme" "$BUILD_DIR/kernels/mneme_kernels_test" \
   "$BUILD_DIR/engine/model/mneme_model_test" "$BUILD_DIR/engine/mneme_engine_test" \
   "$BUILD_DIR/tests/mneme_parallel_cli_test" .gpu/bin/
cp "$BUILD_DIR/tools/bench/libmneme_kernels_capi.so" .gpu/lib/
strip .gpu/bin/* .gpu/lib/libmneme_kernels_capi.so
# Shared libraries Debian links dynamically and Ubuntu's GPU image lacks (checked with ldd there).
for lib in libopenblas.so.0 libgfortran.so.5 libquadmath.so.0 libpcre2-8.so.0 libutf8proc.so.2 libsnappy.so.1; do
  path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ && !found {print $NF; found = 1}')
  [[ -n "$path" ]] && cp -L "$path" .gpu/lib/
done
# The carry limit is 64 MiB per call: ship a tarball (run_tests.sh unpacks it).
mkdir -p .gpu-pack && tar -czf .gpu-pack/gpu.tgz .gpu
du -sh .gpu .gpu-pack/gpu.tgz
