"""Segmentation metrics over a whole evaluation set (MRIFE eqs. 9-14) and object-level accuracy.

Pixel counts are summed over every image first, then the ratios are taken (not averaged per
tile). Object accuracy: a labelled landslide (an 8-connected component of the label) counts as
found when the predicted landslide pixels cover at least ``min_cover`` (default 0.5) of it;
``false_objects`` counts predicted components that touch no labelled landslide.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else 0.0


@dataclass
class SegmentationScores:
    """Accumulates confusion counts and object matches; ``as_dict`` gives the metrics."""

    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    objects: int = 0
    objects_found: int = 0
    false_objects: int = 0
    min_cover: float = 0.5

    def update(self, pred: np.ndarray, label: np.ndarray, valid: np.ndarray | None = None,
               objects: bool = True) -> None:
        """Add one image. pred, label: (H, W), landslide where true / non-zero; valid: pixels
        that count (False for nodata or padding)."""
        pred, label = np.asarray(pred).astype(bool), np.asarray(label).astype(bool)
        if valid is None:
            valid = np.ones_like(pred, dtype=bool)
        p, t = pred & valid, label & valid
        self.tp += int(np.count_nonzero(p & t))
        self.fp += int(np.count_nonzero(p & ~t))
        self.fn += int(np.count_nonzero(~p & t))
        self.tn += int(np.count_nonzero(~pred & ~label & valid))
        if objects:
            self._objects(p, t)

    def _objects(self, pred: np.ndarray, label: np.ndarray) -> None:
        n, comp = cv2.connectedComponents(label.astype(np.uint8), connectivity=8)
        if n > 1:
            sizes = np.bincount(comp.ravel(), minlength=n)
            covered = np.bincount(comp[pred].ravel(), minlength=n)
            for k in range(1, n):
                self.objects += 1
                self.objects_found += int(covered[k] >= self.min_cover * sizes[k])
        m, pcomp = cv2.connectedComponents(pred.astype(np.uint8), connectivity=8)
        if m > 1:
            touching = np.unique(pcomp[label])
            self.false_objects += (m - 1) - int(np.count_nonzero(touching > 0))

    def as_dict(self) -> dict[str, float]:
        tp, fp, tn, fn = self.tp, self.fp, self.tn, self.fn
        precision = _ratio(tp, tp + fp)
        recall = _ratio(tp, tp + fn)
        iou_l = _ratio(tp, tp + fp + fn)
        iou_b = _ratio(tn, tn + fn + fp)
        return {
            "pa": _ratio(tp + tn, tp + fp + tn + fn),                 # eq. 9
            "precision": precision,                                   # eq. 10
            "recall": recall,                                         # eq. 11
            "iou_landslide": iou_l,                                   # eq. 12
            "miou": 0.5 * (iou_l + iou_b),                            # eq. 13
            "f1": _ratio(2 * precision * recall, precision + recall),  # eq. 14
            "object_accuracy": _ratio(self.objects_found, self.objects),
            "objects": self.objects,
            "objects_found": self.objects_found,
            "false_objects": self.false_objects,
            "tp": tp, "fp": fp, "tn": tn, "fn": fn,
        }


def classification_scores(prob: np.ndarray, truth: np.ndarray, threshold: float = 0.5
                          ) -> dict[str, float]:
    """Tile classification accuracy and F1 (ICSSN's classifier)."""
    pred, truth = np.asarray(prob) >= threshold, np.asarray(truth).astype(bool)
    tp = int(np.count_nonzero(pred & truth))
    fp = int(np.count_nonzero(pred & ~truth))
    fn = int(np.count_nonzero(~pred & truth))
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {"tile_accuracy": _ratio(int(np.count_nonzero(pred == truth)), truth.size),
            "tile_f1": _ratio(2 * precision * recall, precision + recall)}


THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(2, 19))   # 0.10, 0.15, ..., 0.90


class ThresholdSweep:
    """Landslide IoU at every candidate decision threshold, from one pass over probabilities.

    ``update(prob, label, valid)`` adds an image; ``best()`` is the threshold with the highest
    landslide IoU (ties: the one nearest 0.5) and that IoU."""

    def __init__(self, thresholds: tuple[float, ...] = THRESHOLDS) -> None:
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        self.tp = np.zeros(len(thresholds), dtype=np.int64)
        self.fp = np.zeros(len(thresholds), dtype=np.int64)
        self.fn = np.zeros(len(thresholds), dtype=np.int64)

    def update(self, prob: np.ndarray, label: np.ndarray, valid: np.ndarray) -> None:
        p = np.asarray(prob, dtype=np.float64)[valid]
        t = np.asarray(label).astype(bool)[valid]
        for k, thr in enumerate(self.thresholds):
            pred = p >= thr
            self.tp[k] += int(np.count_nonzero(pred & t))
            self.fp[k] += int(np.count_nonzero(pred & ~t))
            self.fn[k] += int(np.count_nonzero(~pred & t))

    def ious(self) -> np.ndarray:
        denom = self.tp + self.fp + self.fn
        return np.where(denom > 0, self.tp / np.maximum(denom, 1), 0.0)

    def best(self) -> tuple[float, float]:
        ious = self.ious()
        order = sorted(range(len(ious)), key=lambda k: (-ious[k], abs(self.thresholds[k] - 0.5)))
        k = order[0]
        return float(self.thresholds[k]), float(ious[k])
