"""Preprocessing, derived from the data and stored in the checkpoint so detection repeats it.

1. Histogram equalisation (MRIFE Sec. IV-B). ``dataset`` (default): each band's cumulative
   histogram is measured on the training data once and stored as quantiles; every pixel, at
   training and at detection, is mapped through that same curve to [0, 1]. This works for 8-bit,
   16-bit and float imagery alike (no ``/255`` anywhere) and, unlike equalising each tile on its
   own, cannot create seams between tiles. ``tile`` equalises each tile on its own (the paper's
   per-sample reading; seams are possible); ``none`` maps the band's measured 0.1 / 99.9 %
   range linearly to [0, 1].
2. Standardisation with the per-band mean and standard deviation of the equalised training data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

N_QUANTILES = 1025
MODES = ("dataset", "tile", "none")


@dataclass
class Preprocessing:
    """A fitted preprocessing; ``apply`` turns raw bands into network input."""

    mode: str = "dataset"
    quantiles: list[list[float]] = field(default_factory=list)   # per band, N_QUANTILES values
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    source_dtype: str = "uint8"

    @property
    def bands(self) -> int:
        return len(self.mean)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Preprocessing:
        return cls(**data)

    def equalise(self, image: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """(C, H, W) raw -> (C, H, W) float32 in [0, 1]."""
        image = np.asarray(image, dtype=np.float64)
        out = np.empty(image.shape, dtype=np.float32)
        levels = np.linspace(0.0, 1.0, N_QUANTILES)
        for b in range(image.shape[0]):
            if self.mode == "tile":
                vals = image[b][valid] if valid is not None else image[b].ravel()
                q = np.quantile(vals, levels) if vals.size else np.zeros(N_QUANTILES)
            else:
                q = np.asarray(self.quantiles[b])
            if self.mode == "none":
                lo, hi = q[1], q[-2]
                out[b] = np.clip((image[b] - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
            else:
                out[b] = _interp_unique(image[b], q, levels)
        return out

    def apply(self, image: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """(C, H, W) raw bands -> standardised float32 network input. Pixels outside ``valid``
        (nodata) become 0, the mean. 8-bit input goes through a 256-entry table per band made
        by this same routine (identical numbers, about 10x faster than the interpolation)."""
        if image.shape[0] != self.bands:
            raise ValueError(f"preprocessing was fitted on {self.bands} band(s), the image has "
                             f"{image.shape[0]}")
        if image.dtype == np.uint8 and self.mode != "tile":
            lut = self.lookup_table()
            x = np.stack([lut[b][image[b]] for b in range(self.bands)])
        else:
            x = self.equalise(image, valid)
            x -= np.asarray(self.mean, dtype=np.float32)[:, None, None]
            x /= np.asarray(self.std, dtype=np.float32)[:, None, None]
        if valid is not None:
            x[:, ~valid] = 0.0
        return x


    def lookup_table(self) -> np.ndarray:
        """(C, 256) float32: the network input for every 8-bit value of every band."""
        cached = self.__dict__.get("_lut")
        if cached is None:
            values = np.ascontiguousarray(
                np.broadcast_to(np.arange(256, dtype=np.float64), (self.bands, 1, 256)))
            x = self.equalise(values)
            x -= np.asarray(self.mean, dtype=np.float32)[:, None, None]
            x /= np.asarray(self.std, dtype=np.float32)[:, None, None]
            cached = self.__dict__["_lut"] = x[:, 0, :].copy()
        return cached


def _interp_unique(values: np.ndarray, q: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Map values through the quantile curve; flat stretches (many equal values, e.g. 8-bit
    data) go to the middle of their level range."""
    uq, first = np.unique(q, return_index=True)
    last = len(q) - 1 - np.unique(q[::-1], return_index=True)[1]
    mid = (levels[first] + levels[last]) / 2.0
    if uq.size == 1:
        return np.full(values.shape, 0.5, dtype=np.float32)
    return np.interp(values, uq, mid).astype(np.float32)


def fit_preprocessing(images: list[np.ndarray], mode: str = "dataset",
                      valids: list[np.ndarray | None] | None = None,
                      max_samples: int = 2_000_000, seed: int = 0) -> Preprocessing:
    """Measure the band distributions of ``images`` ((C, H, W) arrays, any dtype)."""
    if mode not in MODES:
        raise ValueError(f"preprocessing mode must be one of {MODES}")
    if not images:
        raise ValueError("no images to fit the preprocessing on")
    bands = images[0].shape[0]
    rng = np.random.default_rng(seed)
    per_image = max(max_samples // len(images), 1)
    samples = []
    for i, img in enumerate(images):
        if img.shape[0] != bands:
            raise ValueError(f"image {i} has {img.shape[0]} bands, the first has {bands}")
        flat = img.reshape(bands, -1)
        if valids is not None and valids[i] is not None:
            flat = flat[:, valids[i].ravel()]
        if flat.shape[1] > per_image:
            flat = flat[:, rng.choice(flat.shape[1], per_image, replace=False)]
        samples.append(flat.astype(np.float64))
    data = np.concatenate(samples, axis=1)
    levels = np.linspace(0.0, 1.0, N_QUANTILES)
    quantiles = [np.quantile(data[b], levels).tolist() for b in range(bands)]
    pre = Preprocessing(mode=mode, quantiles=quantiles, mean=[0.0] * bands, std=[1.0] * bands,
                        source_dtype=str(images[0].dtype))
    eq = pre.equalise(data.reshape(bands, 1, -1)) if mode != "tile" else \
        np.concatenate([pre.equalise(s.reshape(bands, 1, -1)) for s in samples], axis=2)
    pre.mean = [float(eq[b].mean()) for b in range(bands)]
    pre.std = [float(max(eq[b].std(), 1e-6)) for b in range(bands)]
    return pre
