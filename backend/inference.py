"""Sliding-window inference: the one tiling-and-blending routine used by evaluate and detect.

Tiles overlap; each tile's landslide probability is weighted by a window that falls linearly
towards the tile's edges (never to zero), summed, and divided by the summed weights, so no seam
remains where tiles meet.
"""

from __future__ import annotations

import numpy as np
import torch

from .models import SegmentationModel


def window_starts(n: int, tile: int, stride: int) -> list[int]:
    """Start offsets covering [0, n) with tiles of ``tile`` at ``stride``; the last is shifted
    inwards to end at n (one start at 0 when n <= tile)."""
    if n <= tile:
        return [0]
    s = list(range(0, n - tile + 1, stride))
    return s if s[-1] == n - tile else s + [n - tile]


def blend_weights(tile: int, overlap: int, floor: float = 1e-3) -> np.ndarray:
    """(tile, tile) weights: 1 in the middle, a linear ramp over ``overlap`` pixels at each
    edge, down to ``floor`` (so a raster edge covered by one tile still gets its value)."""
    if overlap <= 0:
        return np.ones((tile, tile), dtype=np.float32)
    d = np.minimum(np.arange(tile), np.arange(tile)[::-1]).astype(np.float32) + 0.5
    ramp = np.clip(d / overlap, floor, 1.0)
    return np.outer(ramp, ramp).astype(np.float32)


@torch.no_grad()
def predict_batch(model: SegmentationModel, batch: np.ndarray, device: torch.device,
                  amp: bool = False) -> np.ndarray:
    """(N, C, T, T) float32 network input -> (N, T, T) landslide probability."""
    x = torch.from_numpy(np.ascontiguousarray(batch)).to(device)
    with torch.autocast(device.type, dtype=torch.float16, enabled=amp and device.type == "cuda"):
        prob = model.predict_proba(x)
    return prob.float().cpu().numpy()


def predict_array(model: SegmentationModel, x: np.ndarray, *, tile: int, overlap: int,
                  batch_size: int = 4, device: torch.device | str = "cpu",
                  valid: np.ndarray | None = None, amp: bool = False) -> np.ndarray:
    """Landslide probability (H, W) of a whole preprocessed image ``x`` (C, H, W).

    Images smaller than a tile are zero-padded; pixels outside ``valid`` get probability 0.
    """
    device = torch.device(device)
    model.eval()
    c, h, w = x.shape
    ph, pw = max(h, tile), max(w, tile)
    if (ph, pw) != (h, w):
        x = np.pad(x, ((0, 0), (0, ph - h), (0, pw - w)))
    stride = max(tile - overlap, 1)
    weights = blend_weights(tile, overlap)
    acc = np.zeros((ph, pw), dtype=np.float32)
    wsum = np.zeros((ph, pw), dtype=np.float32)
    windows = [(r, cc) for r in window_starts(ph, tile, stride)
               for cc in window_starts(pw, tile, stride)]
    for k in range(0, len(windows), batch_size):
        chunk = windows[k:k + batch_size]
        batch = np.stack([x[:, r:r + tile, cc:cc + tile] for r, cc in chunk])
        probs = predict_batch(model, batch, device, amp)
        for (r, cc), p in zip(chunk, probs):
            acc[r:r + tile, cc:cc + tile] += p * weights
            wsum[r:r + tile, cc:cc + tile] += weights
    prob = (acc / np.maximum(wsum, 1e-12))[:h, :w]
    if valid is not None:
        prob[~valid] = 0.0
    return prob
