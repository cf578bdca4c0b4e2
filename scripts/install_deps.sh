#!/usr/bin/env bash
# Installs every Debian package tipsv2.cpp builds, tests or runs with.
# Idempotent: packages already present are skipped by apt; safe to re-run.
# Usage: scripts/install_deps.sh   (as root, or with sudo available)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libtorch-dev libgloo-dev libopenblas0-pthread libopenblas-dev
  libopencv-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev
  libsentencepiece-dev sentencepiece libgtest-dev libgmock-dev
  libarchive-dev libzip-dev nlohmann-json3-dev libprotobuf-dev libsleef-dev
  dataset-fashion-mnist
  python3-torch python3-numpy python3-torchvision python3-pil
  gnuplot-nox
)

sudo_cmd=()
if [ "$(id -u)" != 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install_deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
