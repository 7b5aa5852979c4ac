"""How training scales over ranks: FLOPs per tile (what a GPU's throughput follows from) and the
measured wall time of the same training job on 1 and 2 ranks under torchrun on this machine.

    python bench/bench_scale.py --out docs/scale-measured.md

FLOPs are counted by PyTorch's own FlopCounterMode (matrix multiplications and convolutions) on
one 512 px tile, forward in eval mode (detection) and forward + backward in training mode (a
training step per tile). The rank timing trains DeepLabv3+ / resnet18 for a fixed number of steps
on six Sichuan scenes (64 px tiles at 4 m, global batch 4), launched by torchrun with gloo, one
thread per rank, and reports wall time from launch to exit (start-up included) and the seconds per
step the run measured.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mrife.models import ModelConfig, build_model  # noqa: E402


def flops(arch: str, backbone: str, size: int = 512) -> tuple[float, float]:
    """(forward GFLOP per tile in eval mode, forward+backward GFLOP per tile in training)."""
    model = build_model(ModelConfig(arch=arch, backbone=backbone))
    x = torch.rand(2, 3, size, size)
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model.predict_proba(x)
    infer = fc.get_total_flops() / 2 / 1e9
    model.train()
    y = (torch.rand(2, size, size) > 0.7).long()
    with FlopCounterMode(display=False) as fc:
        losses = model.compute_losses(x, y, torch.Generator().manual_seed(0))
        losses["loss"].backward()
    return infer, fc.get_total_flops() / 2 / 1e9


def time_ranks(nproc: int, data: Path, steps: int, work: Path) -> float:
    out = work / f"ranks{nproc}.pt"
    env = dict(os.environ, OMP_NUM_THREADS="1", MRIFE_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc-per-node={nproc}", "-m", "mrife", "train", "--images",
           str(data / "images"), "--masks", str(data / "masks"), "--arch", "deeplabv3plus",
           "--backbone", "resnet18", "--tile-size", "64", "--ground-resolution", "4",
           "--source-resolution", "0.5", "--epochs", "1", "--max-steps-per-epoch", str(steps),
           "--batch-size", "4", "--device", "cpu", "--precision", "float32", "--shards", "2",
           "--quiet", "--out", str(out)]
    t = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return time.monotonic() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "sichuan")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    lines = ["# Scaling: FLOPs per tile and 1 vs 2 ranks (measured)", "",
             f"Command: `python bench/bench_scale.py --steps {args.steps}`; "
             f"torch {torch.__version__}; {time.strftime('%Y-%m-%d')}.", "",
             "| network | GFLOP / 512 px tile, detection | GFLOP / 512 px tile, training step |",
             "|---|---:|---:|"]
    for arch, backbone in (("deeplabv3plus", "resnet18"), ("mrife", "resnet18"),
                           ("deeplabv3plus", "resnet101"), ("mrife", "resnet101")):
        infer, trainf = flops(arch, backbone)
        lines.append(f"| {arch} / {backbone} | {infer:.1f} | {trainf:.1f} |")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "six"
        (data / "images").mkdir(parents=True)
        (data / "masks").mkdir()
        for i in range(1, 7):
            (data / "images" / f"Landslide{i:03d}.png").symlink_to(
                args.data / "images" / f"Landslide{i:03d}.png")
            (data / "masks" / f"LandslideLabel{i:03d}.png").symlink_to(
                args.data / "masks" / f"LandslideLabel{i:03d}.png")
        walls = {n: time_ranks(n, data, args.steps, work) for n in (1, 2)}
    lines += ["", f"Training DeepLabv3+ / resnet18, {args.steps} steps of a global batch of 4 "
              "tiles (64 px) cut into 2 shards, float32, gloo, one thread per rank, 2-core CPU:",
              "", "| ranks | wall time (s, launch to exit) |", "|---:|---:|"]
    lines += [f"| {n} | {w:.1f} |" for n, w in walls.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
