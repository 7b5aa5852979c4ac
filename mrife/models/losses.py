"""Losses of the feature-enhancement branch (MRIFE eqs. 2-6) and helpers.

Shapes are given per function; features are (N, C, h, w) maps at stride 8.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def gather_points(features: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Feature points of one image: (C, h, w) map, (M,) flat indices -> (M, C)."""
    return features.flatten(1)[:, index].t()


def reconstruction_loss(f_mask: torch.Tensor, f_img: torch.Tensor,
                        index: torch.Tensor) -> torch.Tensor:
    """Eq. 2: MSE between the masked image's features (f_re') and the original's (f_l') at the
    masked positions of one image. f_mask, f_img: (C, h, w); index: (M,). Returns a scalar
    (0 when nothing was masked)."""
    if index.numel() == 0:
        return f_mask.sum() * 0.0
    return F.mse_loss(gather_points(f_mask, index), gather_points(f_img, index))


def edge_contrast_loss(x: torch.Tensor, labels: torch.Tensor, temperature: float,
                       reduction: str = "mean", symmetric: bool = False) -> torch.Tensor:
    """Supervised contrastive loss of eqs. 4-5 over feature points.

    For each anchor x_i of class 1 (N of them), positives x_j (class 1, j != i) and negatives
    x~_k (class 0)::

        L_i = -1/N * sum_{j != i} log( e^{x_i.x_j/t} / (e^{x_i.x_j/t} + sum_k e^{x_i.x~_k/t}) )

    and L = sum_i L_i (``reduction="sum"``, eq. 4) or its mean over anchors (``"mean"``).
    With ``symmetric`` the class-0 points are anchors too, with the roles swapped.

    Args:
        x: (M, C) feature points; they are L2-normalised here.
        labels: (M,) 0/1.
    Returns:
        scalar; 0 when there are fewer than two class-1 points or no class-0 point.
    """
    x = F.normalize(x, dim=1)
    sim = x @ x.t() / temperature
    losses = []
    for cls in ((1, 0) if symmetric else (1,)):
        pos = labels == cls
        neg = ~pos
        n = int(pos.sum())
        if n < 2 or not bool(neg.any()):
            continue
        s_pp = sim[pos][:, pos]                                   # (N, N)
        neg_lse = torch.logsumexp(sim[pos][:, neg], dim=1, keepdim=True)  # (N, 1)
        log_prob = s_pp - torch.logaddexp(s_pp, neg_lse)
        off_diag = ~torch.eye(n, dtype=torch.bool, device=x.device)
        per_anchor = -(log_prob * off_diag).sum(dim=1) / n
        losses.append(per_anchor.sum() if reduction == "sum" else per_anchor.mean())
    if not losses:
        return x.sum() * 0.0
    return torch.stack(losses).sum()
