"""Sliding-window inference: the one tiling-and-blending routine used by evaluate and detect.

Tiles overlap; each tile's landslide probability is weighted by a window that falls linearly
towards the tile's edges (never to zero), summed, and divided by the summed weights, so no seam
remains where tiles meet.

The window is separable (``ramp(row) * ramp(col)``) and tiles form a grid, so the summed weight at
a pixel is ``row_weight(y) * col_weight(x)``; only the weighted probability has to be accumulated.
Tiles are visited row by row; once a row of tiles is done, the image rows above the next row of
tiles are final and are handed to ``write_rows`` and forgotten. Memory is therefore one strip of
``tile`` rows, whatever the height of the area (it grows with its width only: 4 bytes x tile x
width, 32 MB for 512 px tiles over 16 384 px).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .compute import ComputePolicy
from .grid import window_starts  # noqa: F401  (its home is grid)
from .models import SegmentationModel


class Cancelled(Exception):  # noqa: N818 (reads as what happened, like KeyboardInterrupt)
    """The caller's should_stop() said stop."""


def blend_ramp(tile: int, overlap: int, floor: float = 1e-3) -> np.ndarray:
    """(tile,) weights along one axis: 1 in the middle, a linear ramp over ``overlap`` pixels at
    each edge, down to ``floor`` (so a raster edge covered by one tile still gets its value)."""
    if overlap <= 0:
        return np.ones(tile, dtype=np.float32)
    d = np.minimum(np.arange(tile), np.arange(tile)[::-1]).astype(np.float32) + 0.5
    return np.clip(d / overlap, floor, 1.0).astype(np.float32)


def blend_weights(tile: int, overlap: int, floor: float = 1e-3) -> np.ndarray:
    """(tile, tile) weights: the outer product of :func:`blend_ramp` with itself."""
    ramp = blend_ramp(tile, overlap, floor)
    return np.outer(ramp, ramp).astype(np.float32)


def axis_weight_sum(n: int, starts: list[int], ramp: np.ndarray) -> np.ndarray:
    """(n,) summed ramp of all windows along one axis (clipped to [0, n))."""
    out = np.zeros(n, dtype=np.float64)
    for s in starts:
        k = min(len(ramp), n - s)
        out[s:s + k] += ramp[:k]
    return out.astype(np.float32)


@torch.no_grad()
def predict_batch(model: SegmentationModel, batch: np.ndarray, device: torch.device,
                  policy: ComputePolicy | None = None, tta: bool = False) -> np.ndarray:
    """(N, C, T, T) float32 network input -> (N, T, T) landslide probability, computed under
    ``policy`` (precision and layout; default: plain float32). The model is expected to be in
    the policy's layout already (``policy.prepare_model``). ``tta``: the mean probability over
    the tile as it is, flipped left-right, flipped up-down and both (4 forward passes)."""
    x = torch.from_numpy(np.ascontiguousarray(batch)).to(device)
    flips = ((), (-1,), (-2,), (-2, -1)) if tta else ((),)
    total = None
    for dims in flips:
        xi = torch.flip(x, dims) if dims else x
        if policy is None:
            prob = model.predict_proba(xi)
        else:
            with policy.autocast():
                prob = model.predict_proba(policy.prepare_input(xi))
        prob = prob.float()
        prob = torch.flip(prob, dims) if dims else prob
        total = prob if total is None else total + prob
    return (total / len(flips)).cpu().numpy()


@dataclass
class StreamReport:
    tiles: int = 0                 # tiles in the grid
    run: int = 0                   # tiles the network saw (tiles with no valid pixel are skipped)
    batch_size: int = 0            # batch size at the end (smaller after a GPU out-of-memory)
    model_seconds: float = 0.0     # time inside the network (incl. host/device copies)
    warnings: list[str] = field(default_factory=list)


def grid_windows(h: int, w: int, tile: int, overlap: int) -> tuple[list[int], list[int]]:
    stride = max(tile - overlap, 1)
    return window_starts(h, tile, stride), window_starts(w, tile, stride)


def stream_predict(model: SegmentationModel, read_tile: Callable, h: int, w: int, *, tile: int,
                   overlap: int, write_rows: Callable, batch_size: int = 4,
                   device: torch.device | str = "cpu", policy: ComputePolicy | None = None,
                   progress: Callable | None = None,
                   should_stop: Callable[[], bool] | None = None,
                   tta: bool = False, tile_rows: tuple[int, int] | None = None) -> StreamReport:
    """Blended probability of an (h, w) area, strip by strip.

    tile_rows (i0, i1): only the rows of tile rows i0..i1-1 of the grid (a shard of a
        distributed detection); the tile rows above that reach into them are run too, so the
        rows written equal those of the whole run.

    read_tile(r, c, tile) -> (x, valid): preprocessed (C, tile, tile) float32 network input and a
        (tile, tile) bool mask (False outside the area, in nodata, and beyond its edges).
    write_rows(r0, prob, valid): rows r0.. of the result, (k, w) float32 probability and (k, w)
        bool valid; called in order, each row once.
    progress(done, total): after each batch. should_stop(): checked before each batch; True raises
        :class:`Cancelled`.
    """
    import time

    device = torch.device(device)
    model.eval()
    rows, cols = grid_windows(h, w, tile, overlap)
    ramp = blend_ramp(tile, overlap)
    wrow = axis_weight_sum(h, rows, ramp)
    wcol = axis_weight_sum(w, cols, ramp)
    weights = blend_weights(tile, overlap)
    i0, i1 = tile_rows or (0, len(rows))
    first = min(j for j in range(i0 + 1) if rows[j] + tile > rows[i0])   # the halo above
    rep = StreamReport(tiles=(i1 - first) * len(cols), batch_size=batch_size)
    acc = np.zeros((tile, w), dtype=np.float32)
    vbuf = np.zeros((tile, w), dtype=bool)

    def run(chunk: list) -> list[np.ndarray]:
        """Network on a chunk of tiles; on a GPU out-of-memory, retry with half the batch."""
        while True:
            try:
                out = []
                for k in range(0, len(chunk), rep.batch_size):
                    t0 = time.perf_counter()
                    out.extend(predict_batch(model, np.stack(chunk[k:k + rep.batch_size]),
                                             device, policy, tta))
                    rep.model_seconds += time.perf_counter() - t0
                return out
            except torch.cuda.OutOfMemoryError:
                if rep.batch_size == 1:
                    raise
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                rep.batch_size //= 2
                msg = f"GPU out of memory; continued with batch size {rep.batch_size}"
                if msg not in rep.warnings:
                    rep.warnings.append(msg)

    def flush(r: int, pending: list[int], inputs: list[np.ndarray]) -> None:
        """Run the network on the queued tiles of tile row ``r`` and accumulate them."""
        if should_stop is not None and should_stop():
            raise Cancelled()
        probs = run(inputs) if inputs else []
        kr = min(tile, h - r)
        for c, p in zip(pending, probs):
            k = min(tile, w - c)
            acc[:kr, c:c + k] += (p * weights)[:kr, :k]
        rep.run += len(inputs)
        pending.clear()
        inputs.clear()

    done = 0
    for i in range(first, i1):
        r = rows[i]
        pending: list[int] = []
        inputs: list[np.ndarray] = []
        for c in cols:
            x, valid = read_tile(r, c, tile)
            k, kr = min(tile, w - c), min(tile, h - r)
            vbuf[:kr, c:c + k] |= valid[:kr, :k]
            done += 1
            if valid.any():
                pending.append(c)
                inputs.append(x)
                if len(inputs) >= rep.batch_size:
                    flush(r, pending, inputs)
                    if progress is not None:
                        progress(done, rep.tiles)
        flush(r, pending, inputs)
        if progress is not None:
            progress(done, rep.tiles)
        end = rows[i + 1] if i + 1 < len(rows) else h
        n = end - r
        prob = acc[:n] / (wrow[r:end, None] * wcol[None, :])
        valid = vbuf[:n].copy()
        prob[~valid] = 0.0
        if i >= i0:
            write_rows(r, prob, valid)
        acc[:tile - n] = acc[n:].copy()
        acc[tile - n:] = 0.0
        vbuf[:tile - n] = vbuf[n:].copy()
        vbuf[tile - n:] = False
    return rep


def pad_window(image: np.ndarray, valid: np.ndarray, r: int, c: int, t: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """The (C, t, t) window of ``image`` at (r, c) and its (t, t) valid mask, zero-padded
    (and invalid) beyond the image's edges."""
    x = np.zeros((image.shape[0], t, t), dtype=image.dtype)
    v = np.zeros((t, t), dtype=bool)
    part = image[:, r:r + t, c:c + t]
    x[:, :part.shape[1], :part.shape[2]] = part
    v[:part.shape[1], :part.shape[2]] = valid[r:r + t, c:c + t]
    return x, v


def predict_array(model: SegmentationModel, image: np.ndarray, *, tile: int, overlap: int,
                  preprocess: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                  batch_size: int = 4, device: torch.device | str = "cpu",
                  valid: np.ndarray | None = None, policy: ComputePolicy | None = None,
                  tta: bool = False) -> np.ndarray:
    """Landslide probability (H, W) of a whole in-memory image (C, H, W), through the same
    :func:`stream_predict` as detection. ``preprocess(tile, valid)`` is applied to each tile as
    it is read (as detection does); without it ``image`` must already be network input. Pixels
    outside ``valid`` get probability 0; images smaller than a tile are zero-padded."""
    _, h, w = image.shape
    valid = np.ones((h, w), dtype=bool) if valid is None else valid
    out = np.zeros((h, w), dtype=np.float32)

    def read_tile(r: int, cc: int, t: int) -> tuple[np.ndarray, np.ndarray]:
        x, v = pad_window(image, valid, r, cc, t)
        return (preprocess(x, v) if preprocess is not None else x.astype(np.float32)), v

    def write_rows(r0: int, prob: np.ndarray, v: np.ndarray) -> None:
        out[r0:r0 + len(prob)] = prob

    stream_predict(model, read_tile, h, w, tile=tile, overlap=overlap, write_rows=write_rows,
                   batch_size=batch_size, device=device, policy=policy, tta=tta)
    return out
