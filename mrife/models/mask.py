"""Mask module (MRIFE Sec. III-C-1): block classes from the label, and the masked images.

The image is split into b x b blocks (b = 8: one feature point at stride 8 per block; b = 16: a
2 x 2 group). A block is background when under ``background_fraction`` of its pixels are
landslide, interior when over ``interior_fraction``, edge otherwise (8 x 8: < 7, 7..57, > 57).
Per image an equal number of class-1 blocks (edge, interior, or both, by strategy) and
background blocks (class 0) are chosen at random and masked; their positions are recorded as
``mask_list1`` / ``mask_list0`` (flat block indices, row-major).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from .encoder import OUTPUT_STRIDE

BACKGROUND, EDGE, INTERIOR = 0, 1, 2
CLASS1_BY_STRATEGY = {
    "edge_background": (EDGE,),
    "interior_background": (INTERIOR,),
    "all": (EDGE, INTERIOR),
}


def block_classes(target: torch.Tensor, block_size: int = 8, background_fraction: float = 0.1,
                  interior_fraction: float = 0.9) -> torch.Tensor:
    """Class of every block.

    Args:
        target: (N, H, W) label; a pixel is landslide where it equals 1 (255 = ignored counts
            as not landslide).
    Returns:
        (N, H/b, W/b) long tensor of BACKGROUND / EDGE / INTERIOR.
    """
    area = block_size * block_size
    counts = F.avg_pool2d((target == 1).float().unsqueeze(1), block_size).squeeze(1) * area
    counts = counts.round()
    classes = torch.full_like(counts, EDGE, dtype=torch.long)
    classes[counts < background_fraction * area] = BACKGROUND
    classes[counts > interior_fraction * area] = INTERIOR
    return classes


@dataclass
class MaskResult:
    """What the mask module hands to the losses.

    Attributes:
        masked: (N, C, H, W) images with the chosen blocks set to ``mask_value``.
        classes: (N, H/b, W/b) block classes.
        mask_list1 / mask_list0: per image, flat indices of the masked class-1 / class-0 blocks.
        block_size: b.
    """

    masked: torch.Tensor
    classes: torch.Tensor
    mask_list1: list[torch.Tensor]
    mask_list0: list[torch.Tensor]
    block_size: int

    def count(self, i: int) -> int:
        """Number of masked blocks of each class in image i."""
        return int(self.mask_list1[i].numel())

    def feature_points(self, i: int, feature_width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat indices into image i's (H/8 * W/8) feature map of its masked blocks, and their
        contrast labels (1 for mask_list1, 0 for mask_list0). A 16 x 16 block gives its 2 x 2
        feature points, each with the block's label."""
        blocks = torch.cat([self.mask_list1[i], self.mask_list0[i]])
        labels = torch.cat([torch.ones_like(self.mask_list1[i]),
                            torch.zeros_like(self.mask_list0[i])])
        scale = self.block_size // OUTPUT_STRIDE
        if scale == 1:
            return blocks, labels
        blocks_w = feature_width // scale
        rows, cols = blocks // blocks_w, blocks % blocks_w
        pts = [(rows * scale + dr) * feature_width + (cols * scale + dc)
               for dr in range(scale) for dc in range(scale)]
        return torch.cat(pts), labels.repeat(scale * scale)


def select_blocks(classes: torch.Tensor, strategy: str, fraction: float,
                  max_per_class: int | None, generator: torch.Generator | None = None
                  ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Choose, per image, n class-1 and n background blocks at random (n equal for both).

    n = min(ceil(fraction * #class-1), #background, max_per_class); 0 for an image without
    class-1 blocks (a negative tile), which then takes no part in MFM or SFCE.
    """
    wanted = CLASS1_BY_STRATEGY[strategy]
    list1, list0 = [], []
    for cls in classes.flatten(1).cpu():
        cand1 = torch.nonzero(torch.isin(cls, torch.tensor(wanted))).flatten()
        cand0 = torch.nonzero(cls == BACKGROUND).flatten()
        n = min(math.ceil(fraction * cand1.numel()), cand0.numel())
        if max_per_class is not None:
            n = min(n, max_per_class)
        pick1 = cand1[torch.randperm(cand1.numel(), generator=generator)[:n]]
        pick0 = cand0[torch.randperm(cand0.numel(), generator=generator)[:n]]
        list1.append(pick1.to(classes.device))
        list0.append(pick0.to(classes.device))
    return list1, list0


def make_masks(images: torch.Tensor, target: torch.Tensor, *, block_size: int = 8,
               strategy: str = "edge_background", fraction: float = 0.5,
               max_per_class: int | None = None, background_fraction: float = 0.1,
               interior_fraction: float = 0.9, mask_value: float = 0.0,
               generator: torch.Generator | None = None) -> MaskResult:
    """Classify blocks, choose the masked ones, and build the masked images."""
    classes = block_classes(target, block_size, background_fraction, interior_fraction)
    list1, list0 = select_blocks(classes, strategy, fraction, max_per_class, generator)
    picks = [torch.cat([a, b]) for a, b in zip(list1, list0, strict=True)]
    masked = mask_blocks(images, picks, block_size, mask_value)
    return MaskResult(masked, classes, list1, list0, block_size)


def mask_blocks(images: torch.Tensor, picks: list[torch.Tensor], block_size: int,
                value: float) -> torch.Tensor:
    """``images`` (N, C, H, W) with, per image i, the blocks ``picks[i]`` (flat row-major block
    indices) set to ``value``."""
    n, _, h, w = images.shape
    hb, wb = h // block_size, w // block_size
    chosen = torch.zeros(n, hb * wb, dtype=torch.bool, device=images.device)
    for i, p in enumerate(picks):
        chosen[i, p] = True
    pixel_mask = chosen.view(n, 1, hb, wb).repeat_interleave(block_size, 2) \
        .repeat_interleave(block_size, 3)
    return images.masked_fill(pixel_mask, value)
