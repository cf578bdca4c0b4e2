#!/usr/bin/env bash
# Run HERE (Debian 12, with the package archive): downloads the .deb files of every C++ dependency except
# LibTorch into .debs/ (git-ignored), so a GPU machine without a package archive can unpack them.
# Then call the device tool with carry [".debs"] and run scripts/gpu_check.sh (or scripts/gpu_build.sh) there.
# The carry limit is 64 MiB: the script prints the total and fails above it.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .debs
cd .debs
pkgs=(libopencv-dev libopencv-core-dev libopencv-core406 libopencv-imgproc-dev libopencv-imgproc406
      libopencv-imgcodecs-dev libopencv-imgcodecs406 libyaml-cpp-dev libyaml-cpp0.7 libspdlog-dev libspdlog1.10
      libfmt-dev libfmt9 libcli11-dev libsentencepiece-dev libsentencepiece0 libarchive-dev libarchive13
      libzip-dev libzip4 nlohmann-json3-dev libgtest-dev libgmock-dev libprotobuf32 libprotobuf-lite32
      libgdcm3.0 libjpeg62-turbo libpng16-16 libtiff6 libwebp7 libopenjp2-7 libdc1394-25 libgdal32 ninja-build
      libblas3 liblapack3 zlib1g-dev pkgconf pkgconf-bin libpkgconf3
      cmake cmake-data libjsoncpp25 librhash0 libuv1)
failed=()
for p in "${pkgs[@]}"; do
  apt-get download "$p" > /dev/null 2>&1 || failed+=("$p")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "gpu_fetch_debs: could not download: ${failed[*]}" >&2
  exit 1
fi
total=$(du -cb ./*.deb | tail -1 | cut -f1)
echo "gpu_fetch_debs: $(ls -1 ./*.deb | wc -l) packages, $((total / 1048576)) MiB"
if [ "$total" -gt $((64 * 1048576)) ]; then
  echo "gpu_fetch_debs: over the 64 MiB carry limit" >&2
  exit 1
fi
