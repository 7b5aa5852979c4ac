#!/usr/bin/env bash
# `make model`: train the bundled MRIFE and, the same way, the DeepLabv3+ baseline it is compared
# with, on the Sichuan scenes minus the test split (which holds the sample's four scenes); evaluate
# both on the test scenes; ship MRIFE with int8 weights in resources/models/; write
# docs/bundled-model.md. Every step is the project's own command line (python -m mrife ...).
# Config (CPU-sized; change here and re-run): resnet18, 128 px tiles at 2 m/px, 30 epochs, the
# decision threshold chosen on validation (the recipe docs/recipes-fewshot.md kept).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA=${SICHUAN:-../shared/data/sichuan}
WORK=build/model
SHIP=resources/models/mrife-r18-sichuan.pt
COMMON=(--images "$DATA/images" --masks "$DATA/masks" --source-resolution 0.5
        --ground-resolution 2 --tile-size 128 --backbone resnet18 --epochs 30 --batch-size 4
        --lr 0.007 --seed 0 --split-seed 0 --device "${DEVICE:-auto}")
EVAL=(--images "$DATA/images" --masks "$DATA/masks" --source-resolution 0.5 --split test
      --device "${DEVICE:-auto}")
mkdir -p "$WORK" resources/models
declare -A SECONDS_FOR
declare -A BENCH_RUN=([mrife]=BpMpC-seed0 [deeplabv3plus]=B-seed0)
for arch in mrife deeplabv3plus; do
  t=$(date +%s)
  preset=$([ "$arch" = mrife ] && echo mrife || echo baseline)
  bench=build/bench-accuracy-30/${BENCH_RUN[$arch]}
  if [ -n "${FROM_BENCH:-}" ] && [ -f "$bench.done.json" ]; then
    # FROM_BENCH=1: take the run bench_accuracy.py --epochs 30 made with this exact configuration
    # (preset, backbone, tiles, resolution, epochs, batch, lr, seed 0, split seed 0)
    cp "$bench.pt" "$WORK/$arch.pt"
    SECONDS_FOR[$arch]=$($PY -c "import json; print(round(json.load(open('$bench.done.json'))['train_s']))")
    echo "$arch: taken from $bench.pt (make bench-accuracy, same configuration)"
  else
    $PY -m mrife train --preset "$preset" "${COMMON[@]}" --out "$WORK/$arch.pt" --quiet
    SECONDS_FOR[$arch]=$(( $(date +%s) - t ))
  fi
  $PY -m mrife evaluate --model "$WORK/$arch.pt" "${EVAL[@]}" --json "$WORK/$arch-test.json" \
    > /dev/null
done
# the sample's scenes must not have been seen in training or validation
$PY - "$WORK/mrife.pt" <<'PYEOF'
import sys, torch
sys.path.insert(0, "scripts")
from make_sample import scenes
split = torch.load(sys.argv[1], weights_only=False)["training_data"]["split"]
seen = set(split["train"]) | set(split["val"])
assert not seen & set(scenes()), f"sample scenes used in training: {seen & set(scenes())}"
print("sample scenes", scenes(), "are in the test split only")
PYEOF
$PY -m mrife export-model --model "$WORK/mrife.pt" --out "$SHIP" --precision int8 \
  --name "MRIFE resnet18, Sichuan (bundled)" --test-metrics "$WORK/mrife-test.json"
$PY -m mrife evaluate --model "$SHIP" "${EVAL[@]}" --json "$WORK/shipped-test.json" > /dev/null
$PY scripts/catalogue_entry.py "$SHIP" --default     # size, sha256, metrics in the catalogue
$PY scripts/model_report.py --work "$WORK" --ship "$SHIP" \
  --train-seconds "${SECONDS_FOR[mrife]}" "${SECONDS_FOR[deeplabv3plus]}" \
  --command "make model${FROM_BENCH:+ FROM_BENCH=1}" --out docs/bundled-model.md
