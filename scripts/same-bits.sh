#!/usr/bin/env bash
# Checks that two builds of the CLI train to the same bits: for each method (and a ResNet),
# a fixed-seed run on lavapipe (or whatever adapter wgpu picks) with both binaries, then the
# step losses, final accuracy and ensemble curve from --json, and the saved weights (every
# tensor's bytes and the metadata), compared exactly. For refactors that must not change behaviour:
#   cargo build --release && cp target/release/snapfreeze /tmp/before   # on the old commit
#   cargo build --release && scripts/same-bits.sh /tmp/before target/release/snapfreeze
set -euo pipefail
old=${1:?usage: same-bits.sh OLD_BINARY NEW_BINARY}
new=${2:?usage: same-bits.sh OLD_BINARY NEW_BINARY}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
common=(train --quiet --dataset fashion --train-limit 512 --test-limit 256 --epochs 2 --batch 32
  --readback-every 4 --seed 7 --conv-forward implicit)
runs=(
  "step|--width 8 --method baseline --schedule step"
  "snapshot|--width 8 --method snapshot --cycles 2 --alpha0 0.05"
  "freezeout|--width 8 --method freezeout --t0 0.5 --scaling linear"
  "resnet8|--model resnet --depth 8 --width 4 --method freezeout --t0 0.6"
)
status=0
for run in "${runs[@]}"; do
  name=${run%%|*}
  read -r -a args <<<"${run#*|}"
  for side in old new; do
    binary=$old
    [[ $side == new ]] && binary=$new
    "$binary" "${common[@]}" "${args[@]}" --json "$out/$name-$side.json" \
      --save "$out/$name-$side.safetensors" >/dev/null 2>"$out/$name-$side.log" || {
      echo "$name: the $side binary failed:"; cat "$out/$name-$side.log"; exit 1; }
  done
  same=$(python3 - "$out/$name-old.json" "$out/$name-new.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
keys = ["iterations", "final_test_accuracy", "step_losses"]
diff = [k for k in keys if a[k] != b[k]]
if a["summary"]["ensemble"] != b["summary"]["ensemble"]:
    diff.append("ensemble")
print("same" if not diff else "differ: " + ", ".join(diff))
PY
)
  # The tensors and their bytes; the header's metadata map is written in no fixed order.
  weights=$(python3 - "$out/$name-old.safetensors" "$out/$name-new.safetensors" <<'PY'
import json, struct, sys
def tensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    body = data[8 + n:]
    return meta, {k: (v["dtype"], v["shape"], body[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in header.items()}
(ma, a), (mb, b) = tensors(sys.argv[1]), tensors(sys.argv[2])
print("same" if a == b and ma == mb else "differ")
PY
)
  steps=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['step_losses']))" "$out/$name-new.json")
  echo "$name: $steps step losses, accuracy and ensemble $same; weights file $weights"
  [[ $same == same && $weights == same ]] || status=1
done
exit $status
