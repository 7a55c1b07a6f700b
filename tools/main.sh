#!/usr/bin/env bash
# README's main command: installs what is missing, builds the `slayer` tool
# and trains the built-in default (a spiking MLP on Fashion-MNIST), printing
# progress and the test accuracy. Extra arguments go to `slayer train`.
#
#   bash tools/main.sh                 # default run into runs/fashion_mnist_mlp
#   bash tools/main.sh --epochs 1      # a shorter run
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bazel build //tools:slayer
exec bazel-bin/tools/slayer train "$@"
