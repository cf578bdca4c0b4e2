#!/usr/bin/env bash
# Run ON THE GPU MACHINE (no package archive; PyTorch 2.x with CUDA installed): unpacks the carried .debs into a
# private prefix (never into /), and builds against the LibTorch inside that PyTorch, tests included.
# Writes <build dir>/env.sh (PATH, LD_LIBRARY_PATH, TIPS_PYTHON): source it before running anything built here.
# Usage: scripts/gpu_build.sh [build dir]   (default build-gpu)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${TIPS_DEB_PREFIX:-/tmp/tips-debs}
python=${TIPS_PYTHON:-/opt/torch/.venv/bin/python}
[ -x "$python" ] || python=$(command -v python3)
mkdir -p "$prefix"
for f in .debs/*.deb; do dpkg -x "$f" "$prefix"; done
lib="$prefix/usr/lib/x86_64-linux-gnu"
# dpkg -x runs no maintainer scripts: make the links that update-alternatives would have made.
for so in libblas.so.3 liblapack.so.3; do
  src=$(ls "$lib"/blas/"$so" "$lib"/lapack/"$so" 2>/dev/null | head -1 || true)
  [ -n "$src" ] && ln -sf "$src" "$lib/$so"
done
torch_prefix=$("$python" -c 'import torch;print(torch.utils.cmake_prefix_path)')
nccl_include=$("$python" -c 'import nvidia.nccl as n;print(n.__path__[0] + "/include")' 2>/dev/null || true)
build=${1:-build-gpu}
mkdir -p "$build"
cat > "$build/env.sh" <<ENV
export PATH="$prefix/usr/bin:\$PATH"
export LD_LIBRARY_PATH="$lib:$lib/blas:$lib/lapack:\${LD_LIBRARY_PATH:-}"
export PKG_CONFIG_PATH="$lib/pkgconfig:$prefix/usr/share/pkgconfig"
export TIPS_PYTHON="$python"
ENV
# shellcheck disable=SC1091
. "$build/env.sh"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTIPS_CUDA=ON \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$prefix/usr;$lib/cmake" \
  -DCMAKE_FIND_ROOT_PATH="$prefix" -DCMAKE_INCLUDE_PATH="$prefix/usr/include" -DCMAKE_LIBRARY_PATH="$lib" \
  -DTIPS_NCCL_INCLUDE_DIR="$nccl_include" -DTIPS_PYTHON="$python"
cmake --build "$build" -j "$(nproc)"
echo "gpu_build: built $build/tips against torch $("$python" -c 'import torch;print(torch.__version__)')"
