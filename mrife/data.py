"""Training data: scenes (image + label) read with GDAL, split by scene, cut into tiles.

Folder form: images and masks in two folders (PNG, GeoTIFF, anything GDAL reads). An image pairs
with the mask of the same file stem, else with the mask carrying the same number in its name
(``Landslide007.png`` <-> ``LandslideLabel007.png``). A mask pixel is landslide where any band is
non-zero.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from osgeo import gdal

from .config import IGNORE_INDEX
from .errors import reading
from .grid import alpha_band, image_bands, window_starts
from .preprocess import Preprocessing

gdal.UseExceptions()
RASTER_SUFFIXES = {".png", ".tif", ".tiff", ".jpg", ".jpeg", ".img", ".vrt", ".jp2"}


@dataclass
class Scene:
    """One image with its label. image: (C, H, W) raw values; label: (H, W) uint8 0/1;
    valid: (H, W) bool, pixels that are labelled and not nodata."""

    name: str
    image: np.ndarray
    label: np.ndarray
    valid: np.ndarray
    meta: dict = field(default_factory=dict)


def read_array(ds: gdal.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(C, H, W) array of a dataset and a (H, W) valid mask (False where every band is
    nodata, or where the alpha band is 0; the alpha band is validity, not one of the C)."""
    arr = ds.ReadAsArray()
    arr = arr[None] if arr.ndim == 2 else arr
    bands = image_bands(ds)
    alpha = alpha_band(ds)
    valid = arr[alpha - 1] > 0 if alpha is not None and alpha not in bands else \
        np.ones(arr.shape[1:], dtype=bool)
    arr = arr[[b - 1 for b in bands]] if len(bands) < arr.shape[0] else arr
    nodata = [ds.GetRasterBand(b).GetNoDataValue() for b in bands]
    if all(v is not None for v in nodata):
        valid &= ~np.all([arr[i] == nodata[i] for i in range(arr.shape[0])], axis=0)
    if arr.dtype.kind in "fc":              # NaN / inf: invalid pixels, exactly like nodata
        finite = np.isfinite(arr).all(axis=0)
        if not finite.all():
            valid &= finite
            arr = np.where(finite, arr, 0).astype(arr.dtype)
    return arr, valid


def read_raster(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(C, H, W) array of a file and its valid mask."""
    with reading(path):
        ds = gdal.Open(str(path))
        if ds is None:
            raise ValueError(f"GDAL cannot open {path}")
        return read_array(ds)


def _number(stem: str) -> str | None:
    nums = re.findall(r"\d+", stem)
    return nums[-1].lstrip("0") or "0" if nums else None


def pair_folders(images: Path, masks: Path) -> list[tuple[Path, Path]]:
    """Pair every image with its mask (same stem, else same number); ValueError naming the
    images without a mask."""
    images, masks = Path(images), Path(masks)
    for folder, what in ((images, "images"), (masks, "masks")):
        if not folder.is_dir():
            raise ValueError(f"{what} folder not found: {folder}")
    imgs = sorted(p for p in images.iterdir() if p.suffix.lower() in RASTER_SUFFIXES)
    msks = sorted(p for p in masks.iterdir() if p.suffix.lower() in RASTER_SUFFIXES)
    if not imgs:
        raise ValueError(f"no images (PNG, GeoTIFF, ...) in {images}")
    by_stem = {p.stem: p for p in msks}
    by_num: dict[str, list[Path]] = {}
    for p in msks:
        by_num.setdefault(_number(p.stem), []).append(p)
    pairs, unmatched = [], []
    for img in imgs:
        mask = by_stem.get(img.stem)
        if mask is None:
            cands = by_num.get(_number(img.stem), []) if _number(img.stem) else []
            mask = cands[0] if len(cands) == 1 else None
        (pairs.append((img, mask)) if mask else unmatched.append(img.name))
    if unmatched:
        raise ValueError(f"no mask found for {len(unmatched)} image(s) (e.g. {unmatched[0]}); "
                         "give masks the image's file name or the same number")
    return pairs


def load_folder_scenes(images: Path, masks: Path, scale: float = 1.0) -> list[Scene]:
    """Read every image/mask pair. ``scale`` resamples them (source / target resolution)."""
    import cv2

    scenes = []
    for img_path, mask_path in pair_folders(images, masks):
        image, valid = read_raster(img_path)
        mask, _ = read_raster(mask_path)
        label = (mask != 0).any(axis=0).astype(np.uint8)
        if label.shape != image.shape[1:]:
            raise ValueError(f"{mask_path.name} is {label.shape[1]} x {label.shape[0]} pixels but "
                             f"{img_path.name} is {image.shape[2]} x {image.shape[1]}")
        if scale != 1.0:
            h, w = (max(1, round(s * scale)) for s in label.shape)
            image = np.stack([cv2.resize(b, (w, h), interpolation=cv2.INTER_AREA
                                         if scale < 1 else cv2.INTER_LINEAR) for b in image])
            label = cv2.resize(label, (w, h), interpolation=cv2.INTER_NEAREST)
            valid = cv2.resize(valid.astype(np.uint8), (w, h),
                               interpolation=cv2.INTER_NEAREST).astype(bool)
        scenes.append(Scene(img_path.stem, image, label, valid,
                            {"image": str(img_path), "mask": str(mask_path)}))
    return scenes


# scene / block split (train, validation, test): folders of scenes keep a test split (research,
# the paper's set-up); a user's raster and labels go to training and validation only, because
# the user evaluates on their own polygons (mrife:evaluate)
FOLDER_SPLIT = (0.6, 0.2, 0.2)
RASTER_SPLIT = (0.8, 0.2, 0.0)


def split_scenes(names: list[str], seed: int = 0,
                 ratios: tuple[float, float, float] = FOLDER_SPLIT) -> dict[str, list[str]]:
    """Train / validation / test split of whole scenes (6:2:2 by default), fixed by ``seed``.
    Splitting by scene means overlapping tiles never straddle two splits. With three or more
    scenes, training and validation get at least one each, and test too unless its ratio is 0."""
    if len(ratios) != 3 or min(ratios) < 0 or ratios[0] <= 0 or ratios[1] <= 0:
        raise ValueError(f"split ratios {ratios}: need training and validation shares above 0 "
                         "and a test share of 0 or more")
    total = sum(ratios)
    ratios = tuple(r / total for r in ratios)
    order = sorted(names)
    rng = np.random.default_rng(seed)
    rng.shuffle(order)
    n = len(order)
    n_train = int(round(ratios[0] * n))
    n_val = int(round(ratios[1] * n))
    if n >= 3:
        keep_test = 1 if ratios[2] > 0 else 0
        n_val = max(n_val, 1)
        n_train = max(1, min(n_train, n - n_val - keep_test))
        if ratios[2] == 0:
            n_val = n - n_train
    return {"train": order[:n_train], "val": order[n_train:n_train + n_val],
            "test": order[n_train + n_val:]}


def tile_windows(scene: Scene, tile: int, stride: int | None = None
                 ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Grid windows (row, col of the top-left corner) over a scene, split into positive
    (containing landslide pixels) and negative (valid, labelled-empty ground) windows. Windows
    at the right / bottom edge are shifted inwards; scenes smaller than a tile give one
    window at (0, 0) that is zero-padded when read."""
    stride = stride or tile // 2
    h, w = scene.label.shape
    pos, neg = [], []
    for r in window_starts(h, tile, stride):
        for c in window_starts(w, tile, stride):
            lab = scene.label[r:r + tile, c:c + tile]
            val = scene.valid[r:r + tile, c:c + tile]
            if lab.any():
                pos.append((r, c))
            elif val.mean() > 0.5:
                neg.append((r, c))
    return pos, neg


def balance_windows(pos: list, neg: list, pos_neg_ratio: float,
                    rng: np.random.Generator) -> list:
    """Negative windows kept at random so that there are ``pos_neg_ratio`` positives per
    negative (all of them when the ratio is 0 or there are too few)."""
    want = int(round(len(pos) / pos_neg_ratio)) if pos_neg_ratio > 0 else len(neg)
    if len(neg) <= want:
        return neg
    return [neg[k] for k in sorted(rng.choice(len(neg), want, replace=False))]


def read_tile(arr: np.ndarray, r: int, c: int, tile: int, fill: float) -> np.ndarray:
    """Window of a (..., H, W) array, padded with ``fill`` to tile x tile (Sec. IV-B padding)."""
    win = arr[..., r:r + tile, c:c + tile]
    pad_h, pad_w = tile - win.shape[-2], tile - win.shape[-1]
    if pad_h or pad_w:
        pad = [(0, 0)] * (win.ndim - 2) + [(0, pad_h), (0, pad_w)]
        win = np.pad(win, pad, constant_values=fill)
    return win


def _window(arr: np.ndarray, r: int, c: int, size: int, fill: float) -> np.ndarray:
    """The size x size window of a (..., H, W) array at (r, c), which may reach beyond any edge
    (also above or left of it); outside the array: ``fill``."""
    h, w = arr.shape[-2:]
    out = np.full(arr.shape[:-2] + (size, size), fill, dtype=arr.dtype)
    r0, c0, r1, c1 = max(r, 0), max(c, 0), min(r + size, h), min(c + size, w)
    if r1 > r0 and c1 > c0:
        out[..., r0 - r:r1 - r, c0 - c:c1 - c] = arr[..., r0:r1, c0:c1]
    return out


def photometric(x: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    """Photometric change of one (C, H, W) standardised tile (see ``TileDataset``)."""
    import cv2

    mean = float(x.mean())
    x = (x - mean) * rng.uniform(1 - s, 1 + s) + mean + rng.uniform(-s, s)
    x = x + rng.uniform(-s / 2, s / 2, size=(x.shape[0], 1, 1))
    if rng.random() < 0.3:
        sigma = rng.uniform(0.3, 0.6 + s)
        x = np.stack([cv2.GaussianBlur(b, (0, 0), sigma) for b in x.astype(np.float32)])
    if rng.random() < 0.3:
        x = x + rng.normal(0.0, rng.uniform(0, s / 3), size=x.shape)
    return x.astype(np.float32)


class TileDataset:
    """Tiles for training or validation (a torch-style dataset: len / getitem).

    Positive and negative windows are mixed at ``pos_neg_ratio`` positives per negative (the
    paper uses 3:1); with ``augment``, each tile gets a random flip and 90-degree rotation drawn
    from (seed, epoch, index), so a resumed run sees exactly the same tiles. Also with
    ``augment`` (not in the paper, for a new sensor and season):

    - ``scale_jitter`` j > 0: the window is zoomed by a factor drawn log-uniformly from
      [1/(1+j), 1+j] about its centre (image bilinear, label nearest; beyond the scene: padding,
      ignored by the loss);
    - ``photometric`` s > 0, on the network input (standardised units): contrast x(1 +- s)
      about the tile mean, brightness +- s, a per-band shift +- s/2 (colour), and with
      probability 0.3 each a Gaussian blur (sigma 0.3 to 0.6 + s) and Gaussian noise (sigma up
      to s/3).
    """

    def __init__(self, scenes: list[Scene], preprocess: Preprocessing, tile: int,
                 pos_neg_ratio: float = 3.0, augment: bool = False, seed: int = 0,
                 stride: int | None = None, photometric: float = 0.0,
                 scale_jitter: float = 0.0) -> None:
        self.tile, self.augment, self.seed, self.epoch = tile, augment, seed, 0
        self.photometric, self.scale_jitter = photometric, scale_jitter
        self.inputs = [preprocess.apply(s.image, s.valid) for s in scenes]
        self.labels = [np.where(s.valid, s.label, IGNORE_INDEX).astype(np.int64) for s in scenes]
        pos, neg = [], []
        for i, s in enumerate(scenes):
            p, n = tile_windows(s, tile, stride)
            pos += [(i, r, c) for r, c in p]
            neg += [(i, r, c) for r, c in n]
        neg = balance_windows(pos, neg, pos_neg_ratio, np.random.default_rng(seed))
        self.items = pos + neg
        self.n_pos, self.n_neg = len(pos), len(neg)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        i, r, c = self.items[index]
        # a second stream for the additions, so flips/rotations stay as they were without them
        extra = np.random.default_rng([self.seed, self.epoch, index, 1])
        if self.augment and self.scale_jitter > 0:
            x, y = self._zoomed(i, r, c, extra)
        else:
            x = read_tile(self.inputs[i], r, c, self.tile, 0.0)
            y = read_tile(self.labels[i], r, c, self.tile, IGNORE_INDEX)
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            if rng.random() < 0.5:
                x, y = x[..., ::-1], y[..., ::-1]
            if rng.random() < 0.5:
                x, y = x[..., ::-1, :], y[..., ::-1, :]
            k = int(rng.integers(4))
            x, y = np.rot90(x, k, axes=(-2, -1)), np.rot90(y, k, axes=(-2, -1))
            if self.photometric > 0:
                x = photometric(np.ascontiguousarray(x, dtype=np.float32), self.photometric,
                                extra)
        return np.ascontiguousarray(x), np.ascontiguousarray(y)

    def _zoomed(self, i: int, r: int, c: int, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        t = self.tile
        j = np.log1p(self.scale_jitter)
        size = max(8, int(round(t / np.exp(rng.uniform(-j, j)))))
        r0, c0 = r + (t - size) // 2, c + (t - size) // 2
        x = _window(self.inputs[i], r0, c0, size, 0.0)
        y = _window(self.labels[i], r0, c0, size, IGNORE_INDEX)
        x = cv2.resize(np.moveaxis(x, 0, -1), (t, t), interpolation=cv2.INTER_LINEAR)
        x = x[None] if x.ndim == 2 else np.moveaxis(x, -1, 0)
        y = cv2.resize(y.astype(np.uint8), (t, t), interpolation=cv2.INTER_NEAREST)
        return np.ascontiguousarray(x, dtype=np.float32), y.astype(np.int64)

    def summary(self) -> dict:
        return {"tiles": len(self), "positive_tiles": self.n_pos, "negative_tiles": self.n_neg,
                "tile_size": self.tile}
