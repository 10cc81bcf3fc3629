#!/usr/bin/env bash
# Kernel benchmarks on both adapters in one run: natively (wgpu on whatever adapter it finds,
# lavapipe without a GPU) and in headless Chromium on its WebGPU adapter.
# Usage: scripts/bench.sh [size] [seconds]   (defaults: 1024, 5)
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1024}
seconds=${2:-5}
scripts/setup.sh >/dev/null
source scripts/env.sh
printf '==> building (release)\n'
cargo build --release --quiet
trunk build --release >/dev/null 2>&1 || trunk build --release
printf '==> matmul %s^3, native\n' "$size"
target/release/snapfreeze bench-matmul --size "$size" --seconds "$seconds"
printf '==> matmul %s^3, headless Chromium (WebGPU)\n' "$size"
node scripts/bench-browser.mjs "$size" "$seconds"
