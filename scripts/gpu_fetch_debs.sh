#!/usr/bin/env bash
# Run HERE (Debian 12, with the package archive): downloads the .deb files of every C++ dependency except
# LibTorch into .debs/ (git-ignored), so a GPU machine without a package archive can unpack them.
# Then call the device tool with carry [".debs"] and run scripts/gpu_build.sh there.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .debs
cd .debs
pkgs=(libopencv-dev libopencv-core-dev libopencv-core406 libopencv-imgproc-dev libopencv-imgproc406
      libopencv-imgcodecs-dev libopencv-imgcodecs406 libyaml-cpp-dev libyaml-cpp0.7 libspdlog-dev libspdlog1.10
      libfmt-dev libfmt9 libcli11-dev libsentencepiece-dev libsentencepiece0 libarchive-dev libarchive13
      libzip-dev libzip4 nlohmann-json3-dev libgtest-dev libgmock-dev libprotobuf32 libprotobuf-lite32
      libgdcm3.0 libjpeg62-turbo libpng16-16 libtiff6 libwebp7 libopenjp2-7 libdc1394-25 libgdal32 ninja-build)
apt-get download "${pkgs[@]}" 2>&1 | tail -n 2 || true
ls -1 | wc -l
