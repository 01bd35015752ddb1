#!/usr/bin/env bash
# Installs missing Debian packages, then configures and builds mneme.
#   BUILD_DIR (default build), MNEME_SANITIZE (e.g. address,undefined), CMAKE_ARGS (extra).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash tools/ci/install_deps.sh
[ -d /usr/local/cuda/bin ] && export PATH="$PATH:/usr/local/cuda/bin"
# ccache hits across clones in other folders (CI builds a fresh clone elsewhere).
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
build="${BUILD_DIR:-build}"
cmake -S . -B "$build" -G Ninja -DMNEME_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  -DMNEME_FATAL_WARNINGS=ON -DMNEME_SANITIZE="${MNEME_SANITIZE:-}" ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "${JOBS:-2}"
