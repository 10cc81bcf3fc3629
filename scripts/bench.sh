#!/usr/bin/env bash
# Kernel benchmarks on both adapters in one run: natively (wgpu on whatever adapter it finds,
# lavapipe without a GPU, beside this machine's CPU sgemm) and in headless Chromium on its
# WebGPU adapter. Results also go to bench-results/ as JSON.
# Usage: scripts/bench.sh [size] [seconds] [batch]   (defaults: 1024, 5, 64)
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1024}
seconds=${2:-5}
batch=${3:-64}
scripts/setup.sh >/dev/null
source scripts/env.sh
printf '==> building (release)\n'
cargo build --release --quiet
trunk build --release >/dev/null 2>&1 || trunk build --release
printf '==> matmul %s^3, native\n' "$size"
target/release/snapfreeze bench-matmul --size "$size" --seconds "$seconds"
printf '==> matmul %s^3, headless Chromium (WebGPU)\n' "$size"
node scripts/bench-browser.mjs matmul "$size" "$seconds"
mkdir -p bench-results
printf '==> every kernel at ResNet-20 shapes, batch %s, native\n' "$batch"
target/release/snapfreeze bench-kernels --batch "$batch" --json bench-results/kernels-native.json
printf '==> every kernel at ResNet-20 shapes, batch %s, headless Chromium (WebGPU)\n' "$batch"
node scripts/bench-browser.mjs kernels "$batch" 0.5 | tee bench-results/kernels-browser.json
