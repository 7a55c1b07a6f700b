#!/usr/bin/env bash
# Installs every Debian package that slayer-cpp's build, tests and main job
# need, and nothing else. Idempotent: packages already present are skipped,
# and a machine that has them all makes no network call.
#
#   bash tools/setup.sh            # as root (or with sudo available)
set -euo pipefail

PACKAGES=(
  bazel-bootstrap          # Bazel 4.2.3, works offline
  g++                      # the C++ toolchain
  libabsl-dev              # Abseil 20220623
  libeigen3-dev            # Eigen (dense GEMM path)
  libgtest-dev libgmock-dev
  libbenchmark-dev         # Google Benchmark
  protobuf-compiler libprotobuf-dev
  zlib1g-dev               # .npz (deflate) and gzipped IDX
  libopenmpi-dev openmpi-bin  # MPI: `mpirun ... slayer train --distributed`
  dataset-fashion-mnist    # the main job's default data set
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "setup: need root to install: ${missing[*]}" >&2; exit 1
  fi
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || echo "setup: apt-get update failed; trying the cached lists" >&2
  if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/slayer-setup-apt.log 2>&1; then
    echo "setup: apt-get could not install: ${missing[*]}" >&2
    tail -20 /tmp/slayer-setup-apt.log >&2
    for p in "${missing[@]}"; do
      apt-cache policy "$p" 2>/dev/null | grep -q "Candidate: (none)" &&
        echo "setup: package '$p' is not available from the configured archives" >&2
    done
    exit 1
  fi
else
  echo "setup: all ${#PACKAGES[@]} packages present"
fi

if [ ! -x /usr/local/cuda/bin/nvcc ]; then
  echo "setup: the CUDA Toolkit (/usr/local/cuda/bin/nvcc) is missing; the CUDA targets need it" >&2
  exit 1
fi
