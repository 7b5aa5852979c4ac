"""Self-supervised warm start, an experiment of issue 16: before fine-tuning, MRIFE's masked
feature recovery (MFM) runs on *unlabelled* imagery of the user's region. The student sees the
image with random 8 x 8 blocks masked, the EMA teacher the original; the loss is eq. 2 (MSE at
the masked feature points). No labels are read: the edge/background choice of the paper's mask
module needs them, so blocks are drawn uniformly (``--mask-share`` of them per tile), and SFCE
(supervised contrast) is left out. The segmentation encoder and decoder are not touched; the
fine-tune that follows starts from the warm file (recipe ``ssl-warm`` of fewshot_recipes.py).

Here the "user's raster" is the 18 pool scenes of bench_fewshot, read without their masks: the
scenes a user would label and the ones detection would run on (the dev scenes of the recipe
screen), as in the real loop where the unlabelled raster is the region itself. Test scenes are
not read.

    python bench/ssl_warmstart.py --out build/ssl-warmstart/warm-mrife.pt
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_fewshot import partition  # noqa: E402

from mrife.checkpoint import load_model, save_model  # noqa: E402
from mrife.compute import set_threads  # noqa: E402
from mrife.data import Scene, TileDataset, load_folder_scenes  # noqa: E402
from mrife.models.encoder import OUTPUT_STRIDE  # noqa: E402
from mrife.models.losses import reconstruction_loss  # noqa: E402
from mrife.models.mask import mask_blocks  # noqa: E402
from mrife.preprocess import fit_preprocessing  # noqa: E402


def random_blocks(x: torch.Tensor, share: float, block: int, value: float,
                  gen: torch.Generator) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """x with ``share`` of its block x block cells (at least one per image) set to ``value``,
    and per image the flat indices of the masked cells (= feature points at stride 8)."""
    n, _, h, w = x.shape
    hb, wb = h // block, w // block
    k = max(1, round(share * hb * wb))
    picks = [torch.randperm(hb * wb, generator=gen)[:k] for _ in range(n)]
    return mask_blocks(x, picks, block, value), picks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "sichuan")
    ap.add_argument("--base", type=Path, default=ROOT / "build" / "bench-fewshot" / "base-mrife.pt")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--lr", type=float, default=0.007)
    ap.add_argument("--mask-share", type=float, default=0.15,
                    help="share of 8 x 8 blocks masked per tile (the paper's edge+background "
                    "masks cover about this share of a positive tile)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-steps-per-epoch", type=int, help="a short run, to try the harness")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "ssl-warmstart" / "warm-mrife.pt")
    args = ap.parse_args()
    set_threads()
    torch.manual_seed(args.seed)
    loaded = load_model(args.base)
    model, cfg = loaded.model, loaded.config
    if getattr(model, "teacher", None) is None or model.student is None:
        raise SystemExit(f"{args.base.name} has no student/teacher pair to warm up")
    if cfg.block_size != OUTPUT_STRIDE:
        raise SystemExit("this experiment assumes 8 x 8 blocks (one feature point each)")
    scale = 0.5 / loaded.contract.ground_resolution
    scenes = {s.name: s for s in load_folder_scenes(args.data / "images", args.data / "masks",
                                                     scale)}
    pool = partition(sorted(scenes))["pool"]
    unlabelled = [Scene(n, scenes[n].image, np.zeros_like(scenes[n].label), scenes[n].valid)
                  for n in pool]
    pre = fit_preprocessing([s.image for s in unlabelled], "dataset",
                            [s.valid for s in unlabelled], seed=args.seed)
    ds = TileDataset(unlabelled, pre, loaded.contract.tile_size, pos_neg_ratio=0.0,
                     augment=True, seed=args.seed)
    per_epoch = min(len(ds) // args.batch_size, args.max_steps_per_epoch or len(ds))
    steps = args.epochs * per_epoch
    model.train()
    model.plan_steps(steps)
    params = list(model.student.parameters())
    opt = torch.optim.SGD(params, lr=args.lr, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (1 - s / max(steps, 1)) ** 0.9)
    gen = torch.Generator().manual_seed(args.seed)
    t0, log = time.monotonic(), []
    for epoch in range(args.epochs):
        ds.set_epoch(epoch)
        order = torch.randperm(len(ds), generator=gen).tolist()
        losses = []
        for b in range(per_epoch):
            idx = order[b * args.batch_size:(b + 1) * args.batch_size]
            x = torch.from_numpy(np.stack([ds[i][0] for i in idx])).float()
            masked, picks = random_blocks(x, args.mask_share, cfg.block_size, cfg.mask_value, gen)
            f_mask = model.student(masked)[0]
            with torch.no_grad():
                f_img = model.teacher(x)[0]
            loss = torch.stack([reconstruction_loss(f_mask[i], f_img[i], p)
                                for i, p in enumerate(picks)]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            model.update_teacher()
            losses.append(float(loss.detach()))
        log.append({"epoch": epoch + 1, "reconst": float(np.mean(losses)),
                    "first_batches": float(np.mean(losses[:5]))})
        print(json.dumps(log[-1]), flush=True)
    summary = {"source": "ssl_warmstart", "unlabelled_scenes": pool, "tiles": len(ds),
               "steps": steps, "mask_share": args.mask_share, "seconds": time.monotonic() - t0,
               "log": log}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_model(args.out, model, loaded.contract, training_data=summary,
               train_config={"epochs": args.epochs, "lr": args.lr, "seed": args.seed},
               decision=loaded.meta.get("decision"))
    args.out.with_suffix(".json").write_text(json.dumps(summary))
    print(f"written {args.out} ({summary['seconds'] / 60:.1f} min, {steps} steps)")


if __name__ == "__main__":
    main()
