#!/usr/bin/env bash
# The methods' benchmarks (BENCHMARKS.md "Snapshot Ensembles and FreezeOut"):
#   freezeout: FreezeOut (t0 0.5, linear, scaled) against the cosine baseline on ResNet-20,
#              VGG-11 (width 32) and DenseNet-BC-40, same data, budget and seed: measured wall-clock
#              saving beside the FLOP saving and the expected backward saving (docs/design.md §2.5).
#   snapshot:  Snapshot Ensembles (M = 3) against the step-decay baseline on Fashion-MNIST,
#              3 seeds: test error of the baseline, the final snapshot and the ensemble, and
#              the ensemble-size curve (3 epochs; snapshot-long: 6 epochs, alpha0 0.02).
# Run it alone on the machine: the savings are wall-clock measurements.
# Results go to bench-results/methods-*.json and .log.
# Usage: scripts/bench-methods.sh [freezeout|freezeout-defaults|snapshot|snapshot-long|all]
#        (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
scripts/setup.sh >/dev/null
source scripts/env.sh
cargo build --release --quiet
mkdir -p bench-results
compare() {
  local name=$1
  shift
  target/release/snapfreeze compare --quiet --json "bench-results/methods-$name.json" "$@" \
    2>&1 | grep -v XDG_RUNTIME_DIR | tee "bench-results/methods-$name.log"
}

if [[ $what == freezeout || $what == all ]]; then
  # One epoch of 80 steps of 64 images (5120 Fashion-MNIST images; 40 steps for DenseNet);
  # implicit GEMM for every convolution so both runs use the same kernels.
  freeze=(--dataset fashion --methods cosine,freezeout --t0 0.5 --scaling linear --epochs 1
    --test-limit 2000 --batch 64 --conv-forward implicit --seeds 1)
  printf '==> FreezeOut vs cosine: ResNet-20\n'
  compare freezeout-resnet20 "${freeze[@]}" --train-limit 5120 --model resnet --depth 20
  printf '==> FreezeOut vs cosine: VGG-11 (width 32)\n'
  compare freezeout-vgg11 "${freeze[@]}" --train-limit 5120 --model vgg --depth 11 --width 32
  # DenseNet-BC-40 trains at 6 images/s here: half the steps.
  printf '==> FreezeOut vs cosine: DenseNet-BC-40 (k = 12), 40 steps\n'
  compare freezeout-densenet40 "${freeze[@]}" --train-limit 2560 --model densenet --depth 40 \
    --width 12
fi
if [[ $what == freezeout-defaults || $what == all ]]; then
  # The original code's defaults: t0 0.8, cubic, scaled.
  printf '==> FreezeOut (t0 0.8, cubic, scaled) vs cosine: ResNet-20\n'
  compare freezeout-defaults-resnet20 --dataset fashion --methods cosine,freezeout --t0 0.8 \
    --scaling cubic --epochs 1 --test-limit 2000 --batch 64 --conv-forward implicit --seeds 1 \
    --train-limit 5120 --model resnet --depth 20
fi
if [[ $what == snapshot || $what == all ]]; then
  printf '==> Snapshot Ensembles (M = 3) vs step decay, small CNN, Fashion-MNIST, 3 seeds\n'
  compare snapshot-fashion --dataset fashion --model small --width 16 --methods step,snapshot \
    --cycles 3 --epochs 3 --train-limit 20000 --batch 64 --seeds 1,2,3
fi
if [[ $what == snapshot-long || $what == all ]]; then
  printf '==> the same with two epochs per cycle and cycles restarting at twice the rate\n'
  compare snapshot-fashion-long --dataset fashion --model small --width 16 \
    --methods step,snapshot --cycles 3 --alpha0 0.02 --epochs 6 --train-limit 20000 --batch 64 \
    --seeds 1,2,3
fi
