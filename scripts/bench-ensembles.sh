#!/usr/bin/env bash
# Where ensembles earn their place (BENCHMARKS.md "Ensembles: where they help"): step, cosine,
# Snapshot Ensembles, FGE and SWA at the same budget over 3 seeds, with test errors (mean ± sd),
# the ensembles' curves and the members' diversity table. The regime scales with the adapter:
#   software (a CPU-emulated adapter, as `snapfreeze info` reports it): the small-data regime
#     where variance dominates: the small CNN (width 8) on 1,000 Fashion-MNIST images without
#     augmentation for 60 epochs, M = 5 (12 epochs per cycle), alpha0 0.02; about 40 minutes.
#   gpu: ResNet-20 on all of Fashion-MNIST with augmentation for 50 epochs, M = 5 (10 epochs
#     per cycle), alpha0 0.1; hours of GPU time, as the papers' regime needs.
# Usage: scripts/bench-ensembles.sh [software|gpu] (default: from the adapter)
# Results go to bench-results/ensembles-<regime>.json and .log.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
source scripts/env.sh
cargo build --release --quiet
regime=${1:-}
if [[ -z $regime ]]; then
  if target/release/snapfreeze info --json 2>/dev/null | grep -q '"device_type": "Cpu"'; then
    regime=software
  else
    regime=gpu
  fi
fi
mkdir -p bench-results
# The test set is evaluated at the end and at each member only: with 1,000 training images,
# evaluating 2,000 test images every epoch would take as long as training.
methods=(--methods step,cosine,snapshot,fge,swa --seeds 1,2,3 --no-epoch-eval)
case $regime in
  software)
    settings=(--dataset fashion --model small --width 8 --train-limit 1000 --test-limit 2000
      --augment false --flip false --epochs 60 --batch 64 --cycles 5 --alpha0 0.02
      --pretrain 0.8 --cycle 4 --swa-start 0.5)
    ;;
  gpu)
    settings=(--dataset fashion --model resnet --depth 20 --epochs 50 --batch 128 --lr 0.1
      --cycles 5 --alpha0 0.1 --pretrain 0.8 --cycle 2 --swa-start 0.54 --swa-lr 0.02)
    ;;
  *)
    echo "unknown regime '$regime': use software or gpu" >&2
    exit 2
    ;;
esac
printf '==> ensembles, %s regime: %s\n' "$regime" "${settings[*]}"
target/release/snapfreeze compare --quiet "${methods[@]}" "${settings[@]}" \
  --json "bench-results/ensembles-$regime.json" 2>&1 | grep -v XDG_RUNTIME_DIR \
  | tee "bench-results/ensembles-$regime.log"
