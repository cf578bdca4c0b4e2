#!/usr/bin/env bash
# Prints the path of the tips binary ($BUILD_DIR/tips, default build/tips), first installing the dependencies and
# building it when it is missing (the build's output goes to stderr). For the study scripts:
#   tips=$(bash scripts/tips_binary.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
if [ ! -x "$build_dir/tips" ]; then
  { bash scripts/install_deps.sh; cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release;
    cmake --build "$build_dir" --target tips_cli; } >&2
fi
echo "$build_dir/tips"
