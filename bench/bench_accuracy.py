"""Train the DeepLabv3+ baseline, ICSSN and MRIFE (and MRIFE's ablation rows) with the same
backbone, split, budget and seeds on the Sichuan scenes (split by scene), evaluate each on the
held-out test scenes with sliding-window inference, and write a Table III / IV style table.

CPU configuration (default, about an hour on 2 cores):
    python bench/bench_accuracy.py --out docs/results.md
Paper configuration (lent GPU):
    python bench/bench_accuracy.py --backbone resnet101 --tile-size 512 --ground-resolution 0.5 \
        --epochs 100 --seeds 0 1 2 --out docs/results-gpu.md
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from mrife.checkpoint import load_model  # noqa: E402
from mrife.config import DataSettings  # noqa: E402
from mrife.devices import resolve_device  # noqa: E402
from mrife.jobs import FolderData, evaluate_scenes, split_folder, train_on_folder  # noqa: E402
from mrife.models import preset  # noqa: E402
from mrife.train import TrainConfig  # noqa: E402

ROWS = [("Baseline (DeepLabv3+) = B", "B"), ("ICSSN", "icssn"), ("B+M", "B+M"),
        ("MRIFE = B+M+C", "B+M+C")]
# rows that are not in the paper, run when named with --rows
EXTRA = {"mrife-ema-warmup": "MRIFE, EMA warm-up (not in the paper)"}
KEYS = ("pa", "precision", "recall", "iou_landslide", "miou", "f1", "object_accuracy")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "sichuan")
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--tile-size", type=int, default=128)
    ap.add_argument("--ground-resolution", type=float, default=2.0)
    ap.add_argument("--source-resolution", type=float, default=0.5)
    ap.add_argument("--epochs", type=int, default=7)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--lr", type=float, default=0.007)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--rows", nargs="+", default=[r[1] for r in ROWS])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a network setting for every row (mrife/config.py), e.g. "
                    "dice_weight=0.5; MRIFE-only settings apply to MRIFE rows only")
    ap.add_argument("--photometric", type=float, default=0.0)
    ap.add_argument("--scale-jitter", type=float, default=0.0)
    ap.add_argument("--fixed-threshold", action="store_true",
                    help="threshold 0.5 (the recipe before issue 16) instead of the one chosen "
                    "on validation")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "bench-accuracy")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--reuse", action="store_true", help="evaluate runs an earlier (interrupted) "
                    "bench finished instead of training them again, and resume the run it was in")
    ap.add_argument("--table-from", type=Path, help="only write the table from the JSON lines "
                    "of an earlier (possibly unfinished) run's log")
    args = ap.parse_args()
    if args.table_from:
        runs: dict[str, list[dict]] = {}
        for line in args.table_from.read_text().splitlines():
            if line.startswith("{"):
                rec = json.loads(line)
                rec["train_seconds"] = rec.pop("train_s")
                runs.setdefault(rec["row"], []).append(rec)
        text = table(runs, args, None, f"rows from the log {args.table_from.name}")
        print(text)
        if args.out:
            args.out.write_text(text)
        return

    data = FolderData(args.data / "images", args.data / "masks",
                      DataSettings(tile_size=args.tile_size,
                                   ground_resolution=args.ground_resolution),
                      args.source_resolution)
    parts, split = split_folder(data)
    dev = resolve_device(args.device)
    results: dict[str, list[dict]] = {}
    t_all = time.monotonic()
    for row in args.rows:
        for seed in args.seeds:
            cfg = preset(row, backbone=args.backbone)
            cfg = cfg.with_(**_settings(args.set, cfg))
            out = args.work / f"{row.replace('+', 'p')}-seed{seed}.pt"
            t = time.monotonic()
            done = out.with_suffix(".done.json")
            if args.reuse and done.exists():      # finished by an earlier, interrupted run
                train_s = json.loads(done.read_text())["train_s"]
            else:
                tcfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                   seed=seed, device=dev.key, photometric=args.photometric,
                                   scale_jitter=args.scale_jitter,
                                   choose_threshold=not args.fixed_threshold)
                train_on_folder(data, cfg, tcfg, out,
                                resume=args.reuse and out.with_suffix(".resume.pt").exists())
                train_s = time.monotonic() - t
                done.write_text(json.dumps({"train_s": train_s}))
            m = evaluate_scenes(load_model(out, dev.key), parts["test"], device=dev.key)
            m["train_seconds"] = train_s
            results.setdefault(row, []).append(m)
            print(json.dumps({"row": row, "seed": seed, **{k: round(m[k], 4) for k in KEYS},
                              "train_s": round(train_s)}), flush=True)
    wall = time.monotonic() - t_all
    name = dev.name if dev.key != "cpu" else f"CPU ({platform.machine()}, " \
        f"{torch.get_num_threads()} threads)"
    text = table(results, args, split, f"{name}; torch {torch.__version__}; total wall time "
                 f"{wall / 60:.1f} min")
    print(text)
    if args.out:
        args.out.write_text(text)


def _settings(items: list[str], cfg) -> dict:
    """--set KEY=VALUE as typed overrides; MRIFE-only keys are skipped for other networks."""
    from mrife.cli import _settings as parse
    from mrife.config import applicable

    return applicable(cfg.arch, parse(items, cfg))


def _recipe(args) -> str:
    parts = list(args.set)
    if args.photometric:
        parts.append(f"photometric {args.photometric}")
    if args.scale_jitter:
        parts.append(f"scale jitter {args.scale_jitter}")
    parts.append("threshold 0.5" if args.fixed_threshold else "threshold chosen on validation")
    return ", ".join(parts)


def table(results: dict[str, list[dict]], args, split: dict | None, run_facts: str) -> str:
    lines = ["# Measured comparison on the Sichuan scenes", "",
             f"Command: `{' '.join(['python'] + sys.argv)}`", "",
             f"Device: {run_facts}.",
             f"Backbone {args.backbone}, tiles {args.tile_size} px at "
             f"{args.ground_resolution} m/px "
             f"(scenes resampled from ~{args.source_resolution} m/px), {args.epochs} epochs, batch "
             f"{args.batch_size}, SGD lr {args.lr}, seeds {args.seeds}; 6:2:2 scene split with "
             f"seed 0; recipe: {_recipe(args)}. Test metrics over whole test scenes (pixel "
             "counts summed), mean ± standard deviation over seeds (n = runs per row).", "",
             "| method | n | " + " | ".join(KEYS) + " | train min / run |",
             "|---|---:|" + "---:|" * (len(KEYS) + 1)]
    labels = dict((r, lab) for lab, r in ROWS) | EXTRA
    for row, runs in results.items():
        cells = []
        for k in KEYS:
            vals = [r[k] for r in runs]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            cells.append(f"{statistics.mean(vals):.4f} ± {sd:.4f}")
        mins = statistics.mean(r["train_seconds"] for r in runs) / 60
        lines.append(f"| {labels.get(row, row)} | {len(runs)} | " + " | ".join(cells)
                     + f" | {mins:.1f} |")
    if split:
        lines += ["", "Test scenes: " + ", ".join(split["test"])]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
