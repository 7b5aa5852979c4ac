"""Parameter counts and forward time per 512 x 512 tile for every architecture and backbone.

Usage: python bench/bench_models.py [--out docs/benchmarks-models.md] [--size 512] [--repeat 3]
Prints a Markdown table and writes it (with the command, device and versions) to --out.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mrife.models import ARCHITECTURES, BACKBONES, ModelConfig, build_model  # noqa: E402


def count(params) -> int:
    return sum(p.numel() for p in params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    dev = torch.device(args.device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else \
        f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    rows = ["| arch | backbone | parameters (all) | trained by optimizer | inference-time "
            f"| forward ms / {args.size} px tile |", "|---|---|---:|---:|---:|---:|"]
    for arch in ARCHITECTURES:
        for backbone in BACKBONES:
            torch.manual_seed(0)
            model = build_model(ModelConfig.for_arch(arch, backbone=backbone)).to(dev).eval()
            total = count(model.parameters())
            trained = count(model.trainable_parameters())
            used = total - (count(model.student.parameters())
                            if getattr(model, "teacher", None) is not None else 0)
            x = torch.rand(1, 3, args.size, args.size, device=dev)
            with torch.inference_mode():
                model(x)  # warm-up
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                times = []
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    model(x)
                    if dev.type == "cuda":
                        torch.cuda.synchronize()
                    times.append(time.perf_counter() - t)
            ms = 1000 * min(times)
            row = (f"| {arch} | {backbone} | {total / 1e6:.2f} M | {trained / 1e6:.2f} M "
                   f"| {used / 1e6:.2f} M | {ms:.0f} |")
            print(row, flush=True)
            rows.append(row)
    text = "\n".join([
        "# Network sizes and forward time",
        "",
        f"Command: `python bench/bench_models.py --size {args.size} --repeat {args.repeat}` "
        "(or `make bench-models`)",
        f"Device: {name}; torch {torch.__version__}; batch 1, eval mode, inference_mode, "
        f"best of {args.repeat} after one warm-up.",
        "",
        "'parameters (all)' counts MRIFE's three encoders (segmentation, student, teacher); "
        "'inference-time' leaves out the student, which inference does not run.",
        "",
        *rows, ""])
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
