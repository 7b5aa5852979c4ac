"""What every network offers the trainer and the detector."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .config import ModelConfig
from .encoder import OUTPUT_STRIDE, check_input

IGNORE_INDEX = 255  # label value of pixels that take no part in the loss (padding, nodata)


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
        ce = segmentation_loss(logits, target)
        return {"loss": ce, "ce": ce.detach(), "logits": logits}

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The parameters an optimizer may update (an EMA teacher's are not among them)."""
        return [p for p in self.parameters() if p.requires_grad]

    def update_teacher(self) -> None:
        """Called after each optimizer step; only MRIFE has a teacher."""

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Landslide probability (N, H, W) in [0, 1]."""
        return torch.softmax(self(x).float(), dim=1)[:, 1]


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pixel cross-entropy (eq. 7); label 255 is ignored."""
    return F.cross_entropy(logits, target.long(), ignore_index=IGNORE_INDEX)
