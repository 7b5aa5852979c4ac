"""The fine-tuning recipes of the few-label benchmarks (issue 16): each is a set of changes to
the network settings (ModelConfig) and to the training settings (TrainConfig) against "today".
Used by bench_fewshot.py (``--recipe``) and fewshot_recipes.py (the dev-scene screen), which
otherwise imported each other."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from mrife.config import applicable  # noqa: E402

TODAY_TRAIN = {"choose_threshold": False}
RECIPES: dict[str, tuple[dict, dict]] = {   # name: (network changes, training changes)
    "today": ({}, TODAY_TRAIN),
    "threshold": ({}, {}),
    "dice": ({"dice_weight": 0.5}, {}),
    "augment": ({}, {"photometric": 0.3, "scale_jitter": 0.25}),
    "teacher-fix": ({"teacher_bn": "copy", "ema_horizon": 0.1}, {}),
    "lr-0.003": ({}, {"lr": 0.003}),
    "frozen-encoder": ({}, {"freeze_encoder": True}),
    "epochs-30": ({}, {"epochs": 30}),
    "fusion-teacher": ({"train_fusion_source": "teacher_original"}, {}),
    "aux-ramp": ({"aux_ramp": 0.2}, {}),
    # the shipped recipe from a self-supervised warm start (bench/ssl_warmstart.py, run first)
    "ssl-warm": ({}, {"epochs": 30, "init_from": str(ROOT / "build" / "ssl-warmstart"
                                                      / "warm-mrife.pt")}),
}


def recipe(name: str) -> tuple[dict, dict]:
    """(network changes, training changes) of a recipe; names joined by + combine recipes."""
    net, tr = {}, {}
    for part in name.split("+"):
        if part not in RECIPES:
            raise SystemExit(f"unknown recipe {part}; choose from {sorted(RECIPES)}")
        net.update(RECIPES[part][0])
        tr.update(RECIPES[part][1])
    return net, tr


def mrife_only(name: str) -> bool:
    """A recipe only MRIFE can run: it changes MRIFE-only network settings (mrife.config),
    or starts from another (MRIFE) model file."""
    net, tr = recipe(name)
    return bool(net) and not applicable("deeplabv3plus", net) or "init_from" in tr
