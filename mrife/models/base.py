"""What every network offers the trainer and the detector."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..config import IGNORE_INDEX, ModelConfig
from .encoder import OUTPUT_STRIDE, check_input


class SegmentationModel(nn.Module):
    """Base class. ``forward(x)`` -> logits (N, num_classes, H, W) for inference;
    ``compute_losses(x, target)`` -> dict with ``loss`` (to backpropagate), its named parts
    (detached floats) and ``logits``."""

    cfg: ModelConfig
    input_multiple = OUTPUT_STRIDE

    def check(self, x: torch.Tensor, multiple: int | None = None) -> None:
        check_input(x, self.cfg.in_channels, multiple or self.input_multiple)

    def compute_losses(self, x: torch.Tensor, target: torch.Tensor,
                       generator: torch.Generator | None = None, **kwargs) -> dict:
        logits = self(x)
        ce = segmentation_loss(logits, target, self.cfg.dice_weight)
        return {"loss": ce, "ce": ce.detach(), "logits": logits}

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The parameters an optimizer may update (an EMA teacher's are not among them)."""
        return [p for p in self.parameters() if p.requires_grad]

    def update_teacher(self) -> None:
        """Called after each optimizer step; only MRIFE has a teacher."""

    def loss_arguments(self, step: int) -> dict:
        """Architecture-specific keyword arguments of ``compute_losses`` at global step
        ``step`` (ICSSN's training phase); none by default."""
        return {}

    def plan_steps(self, total: int) -> None:
        """Told by the trainer how many optimizer steps the run has (MRIFE sizes its EMA
        window from it, see ``ModelConfig.ema_horizon``)."""

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Landslide probability (N, H, W) in [0, 1]."""
        return torch.softmax(self(x).float(), dim=1)[:, 1]


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor,
                      dice_weight: float = 0.0) -> torch.Tensor:
    """Pixel cross-entropy (eq. 7), plus ``dice_weight`` times the soft Dice loss of the
    landslide class (not in the paper; see ``ModelConfig.dice_weight``); label 255 is ignored
    by both."""
    target = target.long()
    ce = F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX)
    if not dice_weight:
        return ce
    return ce + dice_weight * dice_loss(logits, target)


def dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - soft Dice of the landslide class over the batch's valid pixels:
    1 - (2 sum(p t) + s) / (sum(p) + sum(t) + s), p the softmax landslide probability."""
    valid = target != IGNORE_INDEX
    p = torch.softmax(logits.float(), dim=1)[:, 1][valid]
    t = (target[valid] == 1).float()
    return 1.0 - (2.0 * (p * t).sum() + smooth) / (p.sum() + t.sum() + smooth)
