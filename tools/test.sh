#!/usr/bin/env bash
# README's test command: sets up the machine, builds everything (CUDA
# objects included) and runs every test, then the data readers' corruption
# tests again under AddressSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bazel build //...
bazel test --test_summary=short //...
bazel test --config=asan --test_summary=short //slayer/data/...
