#!/usr/bin/env bash
# The README's test command: installs dependencies, configures, builds and runs every CPU test.
# Usage: scripts/test.sh [extra ctest args]      (BUILD_DIR=build by default)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTIPS_BUILD_TESTS=ON
cmake --build "$build_dir" -j "$jobs"
cd "$build_dir"
# No GPU in CI: label `gpu` tests are excluded. OMP threads=1 per test keeps -j2 from oversubscribing 2 cores.
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} ctest -LE gpu -j "$jobs" --output-on-failure --timeout 900 "$@"
