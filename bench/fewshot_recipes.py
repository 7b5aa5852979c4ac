"""Choosing the fine-tuning recipe without the test scenes (issue 16): each candidate recipe
fine-tunes the base model of `make bench-fewshot` on k = 12 pool scenes (seeds 0-2, the user's
scenes of bench_fewshot) and is scored on the **dev** scenes: the 6 pool scenes that seed did
not draw. The test scenes of bench_fewshot are never touched here. Table to
docs/recipes-fewshot.md.

    python bench/fewshot_recipes.py --out docs/recipes-fewshot.md
    python bench/fewshot_recipes.py --recipes today dice --archs mrife ...

A recipe is a set of changes to the network settings (ModelConfig) and to the training settings
(TrainConfig) against "today" (the recipe before issue 16: threshold 0.5, CE only, flips and
rotations, the paper's EMA teacher, 10 epochs, lr 0.007). Runs already made are reused.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_fewshot import partition, user_scenes  # noqa: E402
from recipes import RECIPES, mrife_only, recipe  # noqa: E402

from mrife.checkpoint import load_model  # noqa: E402
from mrife.config import DataSettings  # noqa: E402
from mrife.data import load_folder_scenes  # noqa: E402
from mrife.jobs import evaluate_scenes, train_on_scenes  # noqa: E402
from mrife.models import arch_preset  # noqa: E402
from mrife.train import TrainConfig  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "sichuan")
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES))
    ap.add_argument("--combine", nargs="*", default=[], help="also run these recipes' changes "
                    "together as one recipe")
    ap.add_argument("--archs", nargs="+", default=["mrife", "deeplabv3plus"])
    ap.add_argument("--k", type=int, default=12)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--base-work", type=Path, default=ROOT / "build" / "bench-fewshot",
                    help="where bench_fewshot put its base models")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "fewshot-recipes")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "recipes-fewshot.md")
    ap.add_argument("--table-only", action="store_true", help="write the table from the runs "
                    "already made (a recipe's missing seeds are left out and counted)")
    args = ap.parse_args()
    names = args.recipes + (["+".join(args.combine)] if args.combine else [])
    recipes = {name: recipe(name) for name in names}
    args.work.mkdir(parents=True, exist_ok=True)
    scenes = {s.name: s for s in load_folder_scenes(args.data / "images", args.data / "masks",
                                                     0.25)}
    split = partition(sorted(scenes))
    results: dict[tuple[str, str], list[dict]] = {}
    for name, (net, tr) in recipes.items():
        for arch in args.archs:
            if arch != "mrife" and mrife_only(name):
                continue
            for seed in args.seeds:
                train, val = user_scenes(split["pool"], args.k, seed)
                dev = sorted(set(split["pool"]) - set(train) - set(val))
                key = f"{name}-{arch}-k{args.k}-s{seed}"
                res = args.work / f"{key}.json"
                if res.exists():
                    rec = _with_iou_at_05(json.loads(res.read_text()), args.work / f"{key}.pt",
                                          [scenes[n] for n in dev])
                    res.write_text(json.dumps(rec))
                elif args.table_only:
                    continue
                else:
                    cfg = TrainConfig(epochs=args.epochs, batch_size=4, lr=0.007, seed=seed,
                                      device="cpu", estimate_time=False,
                                      init_from=str(args.base_work / f"base-{arch}.pt"))
                    cfg = replace(cfg, **tr)
                    out = args.work / f"{key}.pt"
                    t = time.monotonic()
                    parts = {"train": [scenes[n] for n in train],
                             "val": [scenes[n] for n in val], "test": []}
                    train_on_scenes(parts, {"source": "fewshot_recipes", "train": train,
                                            "val": val},
                                    arch_preset(arch, backbone="resnet18", **net), cfg, out,
                                    DataSettings(tile_size=128, ground_resolution=2.0))
                    seconds = time.monotonic() - t
                    loaded = load_model(out)
                    m = evaluate_scenes(loaded, [scenes[n] for n in dev], device="cpu")
                    rec = {"key": key, "dev_iou": m["iou_landslide"], "dev_f1": m["f1"],
                           "threshold": loaded.threshold, "train_s": seconds, "dev": dev}
                    rec = _with_iou_at_05(rec, out, [scenes[n] for n in dev])
                    res.write_text(json.dumps(rec))
                    print(json.dumps(rec), flush=True)
                results.setdefault((name, arch), []).append(rec)
    write(args, recipes, results)


def _with_iou_at_05(rec: dict, model: Path, dev: list) -> dict:
    """The run's record with its dev IoU at the standard threshold 0.5 too (``dev_iou_05``):
    the same model scored both ways isolates what the chosen threshold does from what training
    does (two trainings of one recipe differ by more than most recipes do)."""
    if "dev_iou_05" in rec:
        return rec
    if rec["threshold"] == 0.5:
        return {**rec, "dev_iou_05": rec["dev_iou"]}
    if not model.exists():
        return rec
    m = evaluate_scenes(load_model(model), dev, device="cpu", threshold=0.5)
    return {**rec, "dev_iou_05": m["iou_landslide"]}


def _ms(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def _short(value: object) -> str:
    """A recipe's value for the table: paths relative to the repository."""
    text = str(value)
    return text.replace(str(ROOT) + "/", "") if text.startswith(str(ROOT)) else text


def write(args, recipes: dict, results: dict) -> None:
    lines = ["# Choosing the fine-tuning recipe on dev scenes", "",
             f"Made by `python bench/fewshot_recipes.py {' '.join(sys.argv[1:])}` "
             f"({time.strftime('%Y-%m-%d')}, CPU). Fine-tuning the base model of "
             f"`make bench-fewshot` on k = {args.k} pool scenes for {args.epochs} epochs "
             "unless the recipe changes them (resnet18, 128 px at 2 m), scored on the dev "
             "scenes: the pool scenes each seed did not draw. The test scenes are not used. "
             "Mean ± standard deviation over seeds "
             f"{args.seeds}; paired difference = recipe minus today's recipe (or minus "
             "'threshold', the recipe the others add to, or 'epochs-30'), seed by seed; CPU "
             "minutes are wall time and depend on what else shared the 2 cores. The last three "
             "IoU columns score the same models at 0.5 instead of their chosen threshold.", "",
             "| recipe | changes | network | dev IoU | dev F1 | paired IoU difference vs today | "
             "vs threshold | vs epochs-30 | threshold | CPU min | dev IoU at 0.5 | "
             "at 0.5, paired vs today | at 0.5, vs epochs-30 |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (name, arch), recs in results.items():
        net, tr = recipes[name]
        def paired(against: str, field: str = "dev_iou", name=name, arch=arch, recs=recs
                   ) -> str:
            base = {r["key"].split("-s")[-1]: r.get(field)
                    for r in results.get((against, arch), [])}
            diffs = [r[field] - base[r["key"].split("-s")[-1]] for r in recs
                     if base.get(r["key"].split("-s")[-1]) is not None and field in r]
            return _ms(diffs) if name != against and diffs else "-"

        at05 = [r["dev_iou_05"] for r in recs if "dev_iou_05" in r]

        changes = ", ".join(f"{k}={_short(v)}" for k, v in {**net, **tr}.items()) or "-"
        lines.append(f"| {name} | {changes} | {arch} | {_ms([r['dev_iou'] for r in recs])} | "
                     f"{_ms([r['dev_f1'] for r in recs])} | "
                     f"{paired('today')} | {paired('threshold')} | {paired('epochs-30')} | "
                     f"{', '.join(str(r['threshold']) for r in recs)} | "
                     f"{statistics.mean(r['train_s'] for r in recs) / 60:.1f} | "
                     f"{_ms(at05) if at05 else '-'} | {paired('today', 'dev_iou_05')} | "
                     f"{paired('epochs-30', 'dev_iou_05')} |")
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
