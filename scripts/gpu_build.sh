#!/usr/bin/env bash
# Run ON THE GPU MACHINE (no package archive; PyTorch 2.x with CUDA installed): unpacks the carried .debs into a
# private prefix (never into /), and builds against the LibTorch inside that PyTorch.
# Usage: scripts/gpu_build.sh [build dir]   (default build-gpu)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${TIPS_DEB_PREFIX:-/tmp/tips-debs}
mkdir -p "$prefix"
for f in .debs/*.deb; do dpkg -x "$f" "$prefix"; done
torch_prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
export PATH="$prefix/usr/bin:$PATH"
export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
export PKG_CONFIG_PATH="$prefix/usr/lib/x86_64-linux-gnu/pkgconfig:$prefix/usr/share/pkgconfig:${PKG_CONFIG_PATH:-}"
build=${1:-build-gpu}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTIPS_CUDA=ON \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$prefix/usr;$prefix/usr/lib/x86_64-linux-gnu/cmake" \
  -DCMAKE_FIND_ROOT_PATH="$prefix" -DCMAKE_INCLUDE_PATH="$prefix/usr/include" \
  -DCMAKE_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu"
cmake --build "$build" -j "$(nproc)"
echo "gpu_build: built $build/tips against $(python3 -c 'import torch;print(torch.__version__)')"
