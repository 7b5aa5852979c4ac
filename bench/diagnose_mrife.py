"""Why does MRIFE trail the baseline in the CPU-budget comparison? Evaluate trained MRIFE models
(bench-accuracy's files) on the test scenes with different features fused at inference:
  teacher   the paper's inference (teacher features of the original image; the default)
  student   the student's features of the original image
  none      no enhancement features (segmentation branch only, f_ad = 0)
and how far the EMA teacher is from the student. Training fuses the student's features of the
*masked* image (train_fusion_source=student_masked), so a gap between 'teacher' and 'student'
points at the teacher, a gap to 'none' at the enhancement branch itself.

    python bench/diagnose_mrife.py build/bench-accuracy/BpM-seed0.pt ... [--out docs/x.md]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from mrife.checkpoint import load_model  # noqa: E402
from mrife.config import DataSettings  # noqa: E402
from mrife.jobs import FolderData, evaluate_scenes, split_folder  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "sichuan")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    data = FolderData(args.data / "images", args.data / "masks",
                      DataSettings(tile_size=128, ground_resolution=2.0), 0.5)
    parts, _ = split_folder(data)
    lines = ["| model | EMA updates | rel. teacher-student distance | IoU teacher (default) | "
             "IoU student | IoU none |", "|---|---:|---:|---:|---:|---:|"]
    for path in args.models:
        loaded = load_model(path)
        m = loaded.model
        num = sum(float((pt - ps).norm() ** 2) for pt, ps in
                  zip(m.teacher.parameters(), m.student.parameters(), strict=True)) ** 0.5
        den = sum(float(ps.norm() ** 2) for ps in m.student.parameters()) ** 0.5
        ious = []
        # instance attributes shadow the class's methods for one variant each
        for override in ({}, {"_reference": lambda m=m: m.student},
                         {"fuse": lambda f_seg, f_ad: f_seg}):
            m.__dict__.update(override)
            ious.append(evaluate_scenes(loaded, parts["test"])["iou_landslide"])
            for name in override:
                del m.__dict__[name]
        row = (f"| {path.name} | {int(m.ema_updates)} | {num / den:.4f} | "
               + " | ".join(f"{v:.4f}" for v in ious) + " |")
        print(row, flush=True)
        lines.append(row)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
