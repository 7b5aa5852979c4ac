"""The user's workflow on the data we have (issue 16): a base model trained on one part of the
Sichuan scenes, then fine-tuned on k labelled scenes of the rest and tested on a fixed
remainder, for MRIFE and the DeepLabv3+ baseline, against training from scratch on the same k
scenes, over seeds, with CPU minutes per run. Each recipe's table goes to its own marked block
of docs/results-fewshot.md (bench/doc_block.py); the page's prose is left alone.

The 36 scenes are split once (fixed seed, recorded in the output): BASE scenes train the base
model (a quarter of them validate it), POOL scenes are what a user could label, TEST scenes are
never trained, validated or tuned on. For seed s, a user's k scenes are the first k of the
pool in a seeded order (so the 6 scenes of k = 6 are among the 12 of k = 12); a quarter of them
(at least one) validate, the rest train: labels go to training and validation only, as in QGIS,
where the user evaluates on their own polygons (mrife:evaluate).

    python bench/bench_fewshot.py --out docs/results-fewshot.md            # CPU, a few hours
    python bench/bench_fewshot.py --smoke --out /tmp/fewshot-smoke.md       # the harness, ~2 min
Runs already finished are reused (their results sit beside the models in --work).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from doc_block import write_block  # noqa: E402
from recipes import recipe  # noqa: E402

from mrife.checkpoint import load_model  # noqa: E402
from mrife.config import DataSettings, applicable  # noqa: E402
from mrife.data import load_folder_scenes  # noqa: E402
from mrife.jobs import evaluate_scenes, train_on_scenes  # noqa: E402
from mrife.models import arch_preset  # noqa: E402
from mrife.train import TrainConfig  # noqa: E402

SPLIT = {"base": 12, "pool": 18, "test": 6}
ARCHS = ("mrife", "deeplabv3plus")


def partition(names: list[str], seed: int = 0) -> dict[str, list[str]]:
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    b, p = SPLIT["base"], SPLIT["pool"]
    return {"base": sorted(order[:b]), "pool": order[b:b + p], "test": sorted(order[b + p:])}


def user_scenes(pool: list[str], k: int, seed: int) -> tuple[list[str], list[str]]:
    """The k scenes a user labelled (seed s), split into training and validation."""
    chosen = [pool[i] for i in np.random.default_rng([seed, 7]).permutation(len(pool))][:k]
    n_val = max(1, round(k / 4))
    return sorted(chosen[n_val:]), sorted(chosen[:n_val])


def run(key: str, work: Path, scenes: dict, train: list[str], val: list[str], arch: str,
        cfg: TrainConfig, args, test: list[str], net: dict | None = None) -> dict:
    """Train (unless its result exists) and evaluate one configuration."""
    out, res = work / f"{key}.pt", work / f"{key}.json"
    if res.exists():
        return json.loads(res.read_text())
    t = time.monotonic()
    parts = {"train": [scenes[n] for n in train], "val": [scenes[n] for n in val], "test": []}
    train_on_scenes(parts, {"source": "bench_fewshot", "train": train, "val": val},
                    arch_preset(arch, backbone=args.backbone, **applicable(arch, net or {})),
                    cfg, out,
                    DataSettings(tile_size=args.tile_size,
                                 ground_resolution=args.ground_resolution))
    seconds = time.monotonic() - t
    m = evaluate_scenes(load_model(out), [scenes[n] for n in test], device=cfg.device)
    rec = {"key": key, "iou": m["iou_landslide"], "f1": m["f1"], "train_s": seconds}
    res.write_text(json.dumps(rec))
    print(json.dumps(rec), flush=True)
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "sichuan")
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--tile-size", type=int, default=128)
    ap.add_argument("--ground-resolution", type=float, default=2.0)
    ap.add_argument("--source-resolution", type=float, default=0.5)
    ap.add_argument("--base-epochs", type=int, default=7)
    ap.add_argument("--epochs", type=int, default=10, help="fine-tuning and scratch epochs")
    ap.add_argument("--ks", type=int, nargs="+", default=[6, 12, 18])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--archs", nargs="+", default=list(ARCHS), choices=ARCHS)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--max-steps-per-epoch", type=int)
    ap.add_argument("--smoke", action="store_true", help="k = 6, one seed, DeepLabv3+, one "
                    "epoch of two steps: checks the harness, measures nothing")
    ap.add_argument("--recipe", default="today", help="a recipe of bench/fewshot_recipes.py "
                    "(network and training changes) for every fine-tuning and scratch run; its "
                    "runs go to <work>-<recipe> (today: <work>); the base model is today's, in "
                    "<work>")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "bench-fewshot")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results-fewshot.md")
    args = ap.parse_args()
    if args.smoke:
        args.ks, args.seeds, args.archs = [6], [0], ["deeplabv3plus"]
        args.base_epochs = args.epochs = 1
        args.max_steps_per_epoch = 2
        args.work = args.work.with_name(args.work.name + "-smoke")

    net, train_changes = recipe(args.recipe)
    args.epochs = train_changes.pop("epochs", args.epochs)      # for the runs and the table
    base_work = args.work           # a recipe changes fine-tuning and scratch, not the base model
    if args.recipe != "today":
        args.work = args.work.with_name(f"{args.work.name}-{args.recipe}")
    args.work.mkdir(parents=True, exist_ok=True)
    base_work.mkdir(parents=True, exist_ok=True)
    scale = args.source_resolution / args.ground_resolution
    scenes = {s.name: s for s in load_folder_scenes(args.data / "images", args.data / "masks",
                                                     scale)}
    split = partition(sorted(scenes))

    def tcfg(epochs: int, seed: int, init: Path | None = None, changes: bool = True
             ) -> TrainConfig:
        cfg = TrainConfig(epochs=epochs, batch_size=4, lr=0.007, seed=seed, device=args.device,
                          precision=args.precision, init_from=str(init) if init else None,
                          max_steps_per_epoch=args.max_steps_per_epoch, estimate_time=False)
        return replace(cfg, **train_changes) if changes else cfg

    rows: dict[tuple, list[dict]] = {}
    t_all = time.monotonic()
    for arch in args.archs:
        n_val = SPLIT["base"] // 4
        base = run(f"base-{arch}", base_work, scenes, split["base"][n_val:],
                   split["base"][:n_val], arch, tcfg(args.base_epochs, 0, changes=False), args,
                   split["test"])
        rows[(arch, "base model, no fine-tuning", 0)] = [base]
        for k in args.ks:
            for seed in args.seeds:
                train, val = user_scenes(split["pool"], k, seed)
                for start, init in (("fine-tuned from the base model",
                                     base_work / f"base-{arch}.pt"), ("from scratch", None)):
                    key = f"{arch}-k{k}-s{seed}-{'ft' if init else 'scratch'}"
                    rec = run(key, args.work, scenes, train, val, arch,
                              tcfg(args.epochs, seed, init), args, split["test"], net)
                    rows.setdefault((arch, start, k), []).append(rec)
    write(args, rows, split, time.monotonic() - t_all)


def _recipe_text(name: str) -> str:

    net, tr = recipe(name)
    return ", ".join(f"{k}={v}" for k, v in {**net, **tr}.items()) or "no changes"


def _ms(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def write(args, rows: dict, split: dict, seconds: float) -> None:
    train_s = sum(r["train_s"] for recs in rows.values() for r in recs)
    lines = [
        f"Made by `python bench/bench_fewshot.py {' '.join(sys.argv[1:])}` "
        f"({time.strftime('%Y-%m-%d')}, {train_s / 60:.0f} CPU min of training in all, device "
        f"{args.device}, "
        f"precision {args.precision}; recipe {args.recipe}: {_recipe_text(args.recipe)}). "
        f"{args.backbone}, {args.tile_size} px tiles at "
        f"{args.ground_resolution} m; base model {args.base_epochs} epochs on {SPLIT['base']} "
        f"scenes; fine-tuning and scratch {args.epochs} epochs on k scenes (a quarter of them "
        f"validate); tested on {SPLIT['test']} scenes nobody trained, validated or tuned on. "
        "Mean ± standard deviation over seeds; CPU minutes = training time per run.",
        "",
        "| network | start | k | runs | test IoU | F1 | CPU min per run |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for (arch, start, k), recs in rows.items():
        lines.append(f"| {arch} | {start} | {k or '-'} | {len(recs)} | "
                     f"{_ms([r['iou'] for r in recs])} | {_ms([r['f1'] for r in recs])} | "
                     f"{statistics.mean(r['train_s'] for r in recs) / 60:.1f} |")
    lines += ["", "Scenes (fixed split, seed 0): " + "; ".join(
        f"{k}: {', '.join(v)}" for k, v in split.items()), ""]
    if not args.out.exists():
        args.out.write_text("# Few-label fine-tuning on the Sichuan scenes\n")
    write_block(args.out, f"bench-fewshot recipe {args.recipe}", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
