"""Write docs/bundled-model.md from what `make model` (scripts/make_model.sh) measured."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from mrife.checkpoint import read_payload  # noqa: E402
from mrife.devices import resolve_device  # noqa: E402

KEYS = ("iou_landslide", "f1", "precision", "recall", "pa", "miou", "object_accuracy")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--ship", type=Path, required=True)
    ap.add_argument("--train-seconds", type=float, nargs=2, required=True)
    ap.add_argument("--command", default="make model")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    w = args.work
    payload = read_payload(w / "mrife.pt")
    split = payload["training_data"]["split"]
    tc = payload["train_config"]
    dev = resolve_device(tc.get("device", "auto"))
    device = dev.name if dev.key != "cpu" else \
        f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"
    rows = [("MRIFE (B+M+C), float32 as trained", w / "mrife.pt", w / "mrife-test.json",
             args.train_seconds[0]),
            ("MRIFE, shipped file (int8 convolutions)", args.ship, w / "shipped-test.json", None),
            ("DeepLabv3+ baseline, trained the same way", w / "deeplabv3plus.pt",
             w / "deeplabv3plus-test.json", args.train_seconds[1])]
    lines = [
        "# The bundled model", "",
        f"`{args.ship.relative_to(ROOT) if args.ship.is_absolute() else args.ship}`: "
        "MRIFE, resnet18 backbone, trained on real Sichuan aerial scenes. Made by "
        f"`{args.command}` (scripts/make_model.sh: `python -m mrife train`, `evaluate`, "
        "`export-model`); this page is written by that run.", "",
        f"- Device: {device}; torch {torch.__version__}.",
        f"- Data: ../shared/data/sichuan, split by scene 6:2:2 with seed 0: "
        f"{len(split['train'])} training, {len(split['val'])} validation (best epoch chosen on "
        f"it), {len(split['test'])} test scenes. The bundled sample's four scenes "
        "(resources/sample) are test scenes: never trained or validated on.",
        f"- Training: 128 px tiles at 2 m/px (scenes resampled from ~0.5 m/px), positive:negative "
        f"tiles 3:1, {tc.get('epochs')} epochs, batch {tc.get('batch_size')}, SGD lr "
        f"{tc.get('lr')} (momentum 0.9, weight decay 0.0005, poly schedule), seed "
        f"{tc.get('seed')}. A CPU-sized budget: the paper trains resnet101, 512 px, 100 epochs.",
        f"- Decision threshold: {(payload.get('decision') or {}).get('threshold', 0.5)}, the one "
        "with the best landslide IoU on the validation tiles, stored in the model file and used "
        "by detection and evaluation unless a threshold is given (the test metrics below use "
        "each model's own).",
        "- Shipped precision: int8 convolution weights (symmetric, one scale per output channel), "
        "everything else float16, MRIFE's student left out (inference runs the segmentation "
        "branch and the teacher). Widened to float32 when loaded.",
        f"- Test scenes: {', '.join(split['test'])}.", "",
        "Test metrics: whole test scenes, sliding-window inference as in detection, pixel counts "
        "summed over scenes (eqs. 9-14); object accuracy = share of labelled landslides whose "
        "area the prediction covers by at least half.", "",
        "| model | file MiB | train min | " + " | ".join(KEYS) + " |",
        "|---|---:|---:|" + "---:|" * len(KEYS)]
    for label, path, mfile, secs in rows:
        m = json.loads(mfile.read_text())
        mins = f"{secs / 60:.1f}" if secs else "-"
        lines.append(f"| {label} | {path.stat().st_size / 2**20:.1f} | {mins} | "
                     + " | ".join(f"{m[k]:.4f}" for k in KEYS) + " |")
    lines += ["", "Re-run: `make model` (30 epochs; the train minutes above are wall time with one "
              "thread per run while other runs shared the 2 cores, and a resumed run counts only "
              "its last part), then `make demo` for "
              "the result on the sample scene (numbers in docs/demo.md)."]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
