#!/usr/bin/env bash
# Training benchmarks: throughput of every model family at batch 64 on a short run, and the
# accuracy targets (slow on a software adapter: see BENCHMARKS.md for how long each took).
# Results go to bench-results/train-*.json.
# Usage: scripts/bench-train.sh [throughput|mnist|fashion|all]   (default: throughput)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-throughput}
scripts/setup.sh >/dev/null
source scripts/env.sh
cargo build --release --quiet
mkdir -p bench-results
train() { target/release/snapfreeze train --quiet "$@"; }

if [[ $what == throughput || $what == all ]]; then
  # 10 to 20 steps each on Fashion-MNIST: images per second and the sustained GFLOP/s.
  for model in "small" "vgg --depth 11" "resnet --depth 20" "densenet --depth 40 --width 12"; do
    name=${model%% *}
    steps=20
    [[ $name == vgg || $name == densenet ]] && steps=10
    printf '==> %s: %s steps of 64, Fashion-MNIST\n' "$model" "$steps"
    # shellcheck disable=SC2086
    train --dataset fashion --model $model --epochs 1 --batch 64 --train-limit $((64 * steps)) \
      --test-limit 512 --json "bench-results/train-throughput-$name.json"
  done
fi
if [[ $what == mnist || $what == all ]]; then
  # The CLI's defaults for the small CNN (batch 16, lr 0.005): the target holds at the defaults.
  printf '==> small CNN, MNIST, 2 epochs at the default settings (target: 99.0%% test accuracy)\n'
  train --dataset mnist --model small --epochs 2 \
    --json bench-results/train-small-mnist.json
fi
if [[ $what == fashion || $what == all ]]; then
  printf '==> ResNet-20, Fashion-MNIST, 10 epochs (target: 92%% test accuracy)\n'
  train --dataset fashion --model resnet --depth 20 --epochs 10 --batch 128 --lr 0.1 \
    --json bench-results/train-resnet20-fashion.json
fi
