#!/usr/bin/env bash
# snapfreeze on a real GPU beside PyTorch on the same card, in one go and inside a fixed time
# budget: the adapter, matmul at 1024 and 4096 (every kernel), training the small CNN and
# ResNet-20 with a per-kernel profile and five kernel families' shares of the step by
# difference (--time-share), ResNet-20 once more plain, every kernel at ResNet-20's shapes,
# and the PyTorch anchor
# (bench/torch_anchor.py, skipped with a message where PyTorch is absent). Ends with the
# ratio table (bench/gpu_report.py). Steps run in order of importance, each under `timeout`;
# a step that would not fit in what is left of the budget is skipped and says so.
#
# Usage: scripts/bench-gpu.sh [budget seconds, default 480]
# Environment:
#   SNAPFREEZE  the release binary (default target/release/snapfreeze, built when missing)
#   DATA_DIR    folder holding mnist/ and fashion-mnist/ as `make setup` lays them (default data)
#   OUT         where the JSON results go (default bench-results/gpu)
#   PYTHON      Python with PyTorch for the anchor (default python3)
#   TRAIN_LIMIT training images per run (default 0: all; a small number tries the script on a
#               software adapter)
set -uo pipefail
cd "$(dirname "$0")/.."

budget=${1:-480}
bin=${SNAPFREEZE:-target/release/snapfreeze}
data=${DATA_DIR:-data}
out=${OUT:-bench-results/gpu}
python=${PYTHON:-python3}
train_limit=${TRAIN_LIMIT:-0}
if [ "$train_limit" -ne 0 ] && [ "$train_limit" -lt 1024 ]; then
  # The profiles need 3 + 4 steps of batch 128 inside the first epoch, before any evaluation.
  echo "TRAIN_LIMIT=$train_limit is raised to 1024 so the profiled steps fit in one epoch"
  train_limit=1024
fi
limit=(--train-limit "$train_limit" --test-limit 2000)
mkdir -p "$out"
start=$SECONDS

log() { printf '=== [%4ds] %s\n' $((SECONDS - start)) "$*"; }
left() { echo $((budget - (SECONDS - start))); }
# step NAME LIMIT COMMAND...: runs COMMAND under min(LIMIT, what is left) seconds.
step() {
  local name=$1 limit=$2
  shift 2
  local remaining
  remaining=$(left)
  if [ "$remaining" -lt 10 ]; then
    log "SKIP $name: the budget is spent"
    return
  fi
  [ "$limit" -gt "$remaining" ] && limit=$remaining
  log "BEGIN $name (at most ${limit}s)"
  local t=$SECONDS
  timeout -k 5 "$limit" "$@"
  local rc=$?
  [ $rc -eq 124 ] && log "TIMEOUT $name after ${limit}s"
  log "END $name: exit $rc in $((SECONDS - t))s"
}

if [ ! -x "$bin" ]; then
  if command -v cargo >/dev/null; then
    log "building $bin"
    cargo build --release --quiet || { echo "the release build failed" >&2; exit 1; }
  else
    echo "no binary at $bin and no cargo to build it: set SNAPFREEZE" >&2
    exit 1
  fi
fi
for set in mnist fashion-mnist; do
  [ -d "$data/$set" ] || { echo "no $data/$set: run make setup, or set DATA_DIR" >&2; exit 1; }
done

command -v nvidia-smi >/dev/null &&
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv
"$bin" info --json | tee "$out/info.json"
if ! grep -q '"device_type": "\(DiscreteGpu\|IntegratedGpu\)"' "$out/info.json"; then
  log "note: wgpu found no hardware adapter here; the figures below are a software adapter's"
fi

torch=yes
if ! "$python" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  torch=""
  log "PyTorch with CUDA is absent: the anchor is skipped and the table shows ours alone"
fi
mnist=(--dataset mnist --data-dir "$data/mnist")
fashion=(--dataset fashion --data-dir "$data/fashion-mnist")

[ -n "$torch" ] && step torch-gemm 60 sh -c "$python bench/torch_anchor.py gemm >$out/torch-gemm.jsonl"
step matmul-1024 30 sh -c "$bin bench-matmul --size 1024 --seconds 0.5 --json >$out/matmul-1024.json"
step matmul-4096 40 sh -c "$bin bench-matmul --size 4096 --seconds 1 --json >$out/matmul-4096.json"
# The shares of the step by difference (--time-share), beside the timestamp profile.
shares=(--time-share conv2d_weight_grad --time-share conv2d_input_grad --time-share conv2d_forward
  --time-share bn_ --time-share matmul)
step small-b128 90 "$bin" train --quiet "${mnist[@]}" "${limit[@]}" --epochs 1 --batch 128 --profile-steps 4 \
  "${shares[@]}" --json "$out/small-b128.json"
step resnet20-b128 150 "$bin" train --quiet "${fashion[@]}" "${limit[@]}" --model resnet --depth 20 --epochs 1 \
  --batch 128 --profile-steps 4 "${shares[@]}" --json "$out/resnet20-b128.json"
[ -n "$torch" ] && step torch-train 150 sh -c "$python bench/torch_anchor.py train >$out/torch-train.jsonl"
step small-b64 90 "$bin" train --quiet "${mnist[@]}" "${limit[@]}" --epochs 1 --batch 64 --json "$out/small-b64.json"
step resnet20-b64 120 "$bin" train --quiet "${fashion[@]}" "${limit[@]}" --model resnet --depth 20 \
  --epochs 1 --batch 64 --json "$out/resnet20-b64.json"
# The headline figure once more, without the profile and the shares: how much it moves.
step resnet20-b128-again 60 "$bin" train --quiet "${fashion[@]}" "${limit[@]}" --model resnet --depth 20 \
  --epochs 1 --batch 128 --json "$out/resnet20-b128-again.json"
step bench-kernels 120 "$bin" bench-kernels --batch 64 --seconds 0.2 --json "$out/kernels.json"

log "done; results in $out"
if command -v "$python" >/dev/null; then
  "$python" bench/gpu_report.py "$out"
else
  log "no Python to print the table; the JSON files are in $out"
fi
