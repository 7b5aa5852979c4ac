"""Data: pairing, splits without leakage, tiling, padding, preprocessing of 8- and 16-bit data."""

from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal

from mrife.data import Scene, TileDataset, pair_folders, read_tile, split_scenes, tile_windows
from mrife.preprocess import fit_preprocessing


def _write(path, arr, dtype=gdal.GDT_Byte):
    arr = arr[None] if arr.ndim == 2 else arr
    drv = gdal.GetDriverByName("GTiff")
    ds = drv.Create(str(path), arr.shape[2], arr.shape[1], arr.shape[0], dtype)
    for b in range(arr.shape[0]):
        ds.GetRasterBand(b + 1).WriteArray(arr[b])
    ds = None


def test_pairing_by_name_and_by_number(tmp_path, sichuan_dir):
    pairs = pair_folders(sichuan_dir / "images", sichuan_dir / "masks")
    assert len(pairs) == 36
    assert all(i.stem[-3:] == m.stem[-3:] for i, m in pairs)
    (tmp_path / "i").mkdir()
    (tmp_path / "m").mkdir()
    _write(tmp_path / "i" / "a.tif", np.zeros((4, 4), np.uint8))
    _write(tmp_path / "m" / "a.tif", np.zeros((4, 4), np.uint8))
    _write(tmp_path / "i" / "b.tif", np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="no mask found for 1 image.*b.tif"):
        pair_folders(tmp_path / "i", tmp_path / "m")


def test_split_by_scene_is_fixed_and_disjoint():
    names = [f"s{i:02d}" for i in range(36)]
    a, b = split_scenes(names, seed=0), split_scenes(list(reversed(names)), seed=0)
    assert a == b
    assert [len(a[k]) for k in ("train", "val", "test")] == [22, 7, 7]
    assert not set(a["train"]) & set(a["val"]) and not set(a["val"]) & set(a["test"])
    assert set(a["train"]) | set(a["val"]) | set(a["test"]) == set(names)
    assert split_scenes(names, seed=1) != a


def test_tile_windows_cover_and_classify():
    label = np.zeros((100, 130), np.uint8)
    label[10:20, 10:20] = 1
    s = Scene("x", np.zeros((3, 100, 130)), label, np.ones((100, 130), bool))
    pos, neg = tile_windows(s, 64, 32)
    starts = sorted({r for r, _ in pos + neg}), sorted({c for _, c in pos + neg})
    assert starts == ([0, 32, 36], [0, 32, 64, 66])
    assert pos == [(0, 0)]
    assert len(neg) == 11


def test_padding_of_small_scenes():
    x = np.ones((3, 5, 7), np.float32)
    t = read_tile(x, 0, 0, 8, 0.0)
    assert t.shape == (3, 8, 8) and t[:, 5:, :].sum() == 0 and t[:, :5, :7].sum() == 105


def test_pos_neg_ratio():
    label = np.zeros((256, 256), np.uint8)
    label[0:64, 0:64] = 1
    s = Scene("x", np.random.rand(3, 256, 256), label, np.ones((256, 256), bool))
    pre = fit_preprocessing([s.image])
    ds = TileDataset([s], pre, 64, pos_neg_ratio=3.0, stride=32)
    # 7 x 7 windows; those starting at row and column 0 or 32 touch the landslide: 4 positives,
    # 45 negatives, of which round(4 / 3) = 1 is kept
    assert ds.n_pos == 4 and ds.n_neg == 1 and len(ds) == 5


def test_16bit_normalisation_no_hardcoded_255():
    rng = np.random.default_rng(0)
    img8 = rng.integers(0, 256, (3, 64, 64)).astype(np.uint8)
    img16 = img8.astype(np.uint16) * 200 + 1000          # same scene, 16-bit radiometry
    p8, p16 = fit_preprocessing([img8]), fit_preprocessing([img16])
    x8, x16 = p8.apply(img8), p16.apply(img16)
    np.testing.assert_allclose(x8, x16, atol=1e-5)        # equalisation is scale-free
    assert abs(float(x16.mean())) < 0.05 and abs(float(x16.std()) - 1) < 0.05
    assert p16.source_dtype == "uint16"
    # values of a 12-bit sensor above 255 are not clipped
    assert len(np.unique(p16.equalise(img16[:, :8, :8]))) > 50


def test_preprocessing_round_trip_and_band_check():
    from mrife.preprocess import Preprocessing

    img = np.random.default_rng(1).normal(100, 20, (4, 32, 32)).astype(np.float32)
    pre = fit_preprocessing([img])
    again = Preprocessing.from_dict(pre.to_dict())
    np.testing.assert_array_equal(again.apply(img), pre.apply(img))
    with pytest.raises(ValueError, match="fitted on 4 band"):
        pre.apply(img[:3])


def test_augmentation_moves_image_and_label_together():
    """An image whose first band is bright exactly where the label is landslide (an asymmetric
    L shape, so every flip and rotation is distinguishable): after augmentation the bright
    pixels are still exactly the landslide pixels, and the eight orientations all occur."""
    rng = np.random.default_rng(0)
    label = np.zeros((64, 64), np.uint8)
    label[8:40, 8:16] = 1
    label[32:40, 8:48] = 1
    image = rng.integers(0, 60, (3, 64, 64)).astype(np.uint8)
    image[0][label == 1] = 200 + rng.integers(0, 50, int(label.sum())).astype(np.uint8)
    scene = Scene("s", image, label, np.ones((64, 64), bool))
    pre = fit_preprocessing([image])
    ds = TileDataset([scene], pre, 64, pos_neg_ratio=0, augment=True, seed=1)
    plain = TileDataset([scene], pre, 64, pos_neg_ratio=0, augment=False)
    x0, y0 = plain[0]
    cut = (x0[0][y0 == 1].min() + x0[0][y0 == 0].max()) / 2      # separates the two exactly
    seen = set()
    for epoch in range(40):
        ds.set_epoch(epoch)
        x, y = ds[0]
        assert np.array_equal(x[0] > cut, y == 1), f"epoch {epoch}: image and label differ"
        seen.add(y.tobytes())
    assert len(seen) == 8


def test_eight_bit_lookup_table_equals_the_interpolation():
    """uint8 input goes through the per-band table; the same pixels as float64 go through
    np.interp on the quantile curve: identical network input."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (3, 40, 50)).astype(np.uint8)
    image[1] = np.clip(image[1] // 3 + 40, 0, 255)       # a band with a narrower range
    pre = fit_preprocessing([image])
    valid = rng.random((40, 50)) > 0.2
    fast = pre.apply(image, valid)
    slow = pre.apply(image.astype(np.float64), valid)
    assert fast.dtype == np.float32
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-6)
    assert (fast[:, ~valid] == 0).all()


def test_scale_jitter_and_photometric_keep_image_and_label_aligned():
    """With zoom and photometric change on top of flips: the bright pixels (band 0) are still
    the landslide pixels up to the one-pixel rim that resampling blurs, padding is ignored
    (255), and the zoom really varies (the landslide's pixel count changes between epochs)."""
    rng = np.random.default_rng(0)
    label = np.zeros((96, 96), np.uint8)
    label[20:70, 30:44] = 1
    label[56:70, 30:80] = 1
    image = rng.integers(0, 40, (3, 96, 96)).astype(np.uint8)
    image[0][label == 1] = 230
    scene = Scene("s", image, label, np.ones((96, 96), bool))
    pre = fit_preprocessing([image])
    ds = TileDataset([scene], pre, 64, pos_neg_ratio=0, augment=True, seed=3,
                     scale_jitter=0.4, photometric=0.2)
    counts = set()
    for epoch in range(12):
        ds.set_epoch(epoch)
        x, y = ds[0]
        assert x.shape == (3, 64, 64) and y.shape == (64, 64)
        assert set(np.unique(y)) <= {0, 1, 255}
        inside = y != 255
        bright = x[0] > np.median(x[0][inside])            # the landslide is the bright part
        lab = y == 1
        # compare away from label edges: erode both classes by one pixel
        import cv2
        core_l = cv2.erode(lab.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        core_b = cv2.erode((~lab & inside).astype(np.uint8), np.ones((3, 3), np.uint8)) \
            .astype(bool)
        if core_l.any():
            assert bright[core_l].mean() > 0.97, f"epoch {epoch}"
        assert bright[core_b].mean() < 0.5, f"epoch {epoch}"
        counts.add(int(lab.sum()))
    assert len(counts) > 4


def test_window_beyond_every_edge_is_filled():
    from mrife.data import _window

    a = np.arange(1, 26).reshape(5, 5)
    w = _window(a, -2, 3, 4, 0)
    expected = np.zeros((4, 4), int)
    expected[2:, :2] = a[:2, 3:5]
    assert np.array_equal(w, expected)
