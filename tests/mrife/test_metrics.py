"""Metrics against confusion matrices worked out by hand (MRIFE eqs. 9-14)."""

from __future__ import annotations

import numpy as np
import pytest

from mrife.metrics import SegmentationScores, classification_scores


def test_pixel_metrics_by_hand():
    # image 1: TP 2, FP 1, FN 1, TN 4; image 2: TP 1, FP 0, FN 2, TN 5 -> summed TP 3 FP 1 FN 3 TN 9
    p1 = np.array([[1, 1, 1, 0], [0, 0, 0, 0]])
    t1 = np.array([[1, 1, 0, 1], [0, 0, 0, 0]])
    p2 = np.array([[1, 0, 0, 0], [0, 0, 0, 0]])
    t2 = np.array([[1, 1, 1, 0], [0, 0, 0, 0]])
    s = SegmentationScores()
    s.update(p1, t1, objects=False)
    s.update(p2, t2, objects=False)
    m = s.as_dict()
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (3, 1, 3, 9)
    assert m["pa"] == pytest.approx(12 / 16)
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["recall"] == pytest.approx(3 / 6)
    assert m["iou_landslide"] == pytest.approx(3 / 7)
    assert m["miou"] == pytest.approx((3 / 7 + 9 / 13) / 2)
    assert m["f1"] == pytest.approx(2 * 0.75 * 0.5 / 1.25)
    # summed, not averaged per image: per-image IoUs are 2/4 and 1/3, mean 0.4167 != 3/7
    assert m["iou_landslide"] != pytest.approx((2 / 4 + 1 / 3) / 2)


def test_invalid_pixels_do_not_count():
    s = SegmentationScores()
    s.update(np.ones((2, 2)), np.zeros((2, 2)), valid=np.array([[1, 0], [0, 0]], bool),
             objects=False)
    assert (s.tp, s.fp, s.tn, s.fn) == (0, 1, 0, 0)


def test_invalid_pixels_leave_every_count_and_ratio():
    """Mixed prediction and label over a partial valid mask, counted by hand: a count (tn
    above all) or a ratio (PA, mIoU) that ignored the mask would come out different."""
    pred = np.array([[1, 1, 0, 0],
                     [1, 0, 1, 0],
                     [0, 0, 0, 0]])
    label = np.array([[1, 0, 0, 1],
                      [1, 1, 0, 0],
                      [0, 0, 1, 0]])
    valid = np.array([[1, 1, 1, 0],        # (0,3): a missed landslide, but invalid
                      [1, 1, 0, 1],        # (1,2): a false positive, but invalid
                      [0, 0, 1, 1]], bool)  # (2,0), (2,1): true negatives, but invalid
    # valid pixels: (0,0) TP, (0,1) FP, (0,2) TN, (1,0) TP, (1,1) FN, (1,3) TN, (2,2) FN,
    # (2,3) TN  ->  TP 2, FP 1, FN 2, TN 3 (8 valid pixels of 12)
    s = SegmentationScores()
    s.update(pred, label, valid=valid, objects=False)
    m = s.as_dict()
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 1, 2, 3)
    assert m["pa"] == pytest.approx(5 / 8)
    assert m["iou_landslide"] == pytest.approx(2 / 5)
    assert m["miou"] == pytest.approx((2 / 5 + 3 / 6) / 2)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 4)


def test_object_accuracy_by_hand():
    label = np.zeros((10, 10), int)
    label[0:2, 0:2] = 1      # object A, 4 px: prediction covers 2 -> 50 % -> found
    label[5:7, 5:9] = 1      # object B, 8 px: prediction covers 3 -> not found
    pred = np.zeros((10, 10), int)
    pred[0, 0:2] = 1
    pred[5, 5:8] = 1
    pred[9, 9] = 1           # a false object touching no label
    s = SegmentationScores()
    s.update(pred, label)
    m = s.as_dict()
    assert (m["objects"], m["objects_found"], m["false_objects"]) == (2, 1, 1)
    assert m["object_accuracy"] == 0.5


def test_tile_classification_scores():
    m = classification_scores(np.array([0.9, 0.2, 0.7, 0.4]), np.array([1, 0, 0, 1]))
    assert m["tile_accuracy"] == 0.5
    assert m["tile_f1"] == pytest.approx(0.5)


def test_threshold_sweep_against_a_direct_count():
    """Every threshold's IoU equals a direct count on the valid pixels; best() picks the
    maximum (ties: nearest 0.5)."""
    from mrife.metrics import THRESHOLDS, ThresholdSweep

    rng = np.random.default_rng(5)
    prob = rng.random((2, 40, 40))
    prob[0, 0, :17] = THRESHOLDS                    # exactly at a threshold: predicted landslide
    prob[1, 0, :17] = np.float32(THRESHOLDS)        # as float32 probabilities arrive
    label = (prob + rng.normal(0, 0.3, prob.shape)) > 0.8
    valid = rng.random((2, 40, 40)) > 0.1
    sweep = ThresholdSweep()
    for k in range(2):
        sweep.update(prob[k], label[k], valid[k])
    direct = []
    for thr in THRESHOLDS:
        p, t = (prob >= thr)[valid], label[valid]
        direct.append((p & t).sum() / ((p | t).sum()))
    np.testing.assert_allclose(sweep.ious(), direct)
    best = int(np.argmax(direct))
    assert sweep.best() == (pytest.approx(THRESHOLDS[best]), pytest.approx(direct[best]))
    tie = ThresholdSweep((0.3, 0.45, 0.6))
    tie.update(np.array([0.9, 0.1]), np.array([True, False]), np.array([True, True]))
    assert tie.best()[0] == 0.45
