"""Planning a detection: the options, the grid over the area, the plan a user sees before any
tile is computed, the measured time per tile, and the check of the raster's values against the
model's training data."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from osgeo import gdal, ogr, osr

from ..checkpoint import LoadedModel, check_bands, load_model
from ..compute import choose
from ..geodata import GeoLoadReport, layer_geometries
from ..grid import (
    GridError,
    ModelGrid,
    crs_name,
    default_bands,
    model_grid,
    numpy_dtype,
    open_raster,
    parse_crs,
    raster_bounds,
    raster_crs,
    transform_bounds,
    working_crs,
)
from ..inference import grid_windows

gdal.UseExceptions()
ogr.UseExceptions()
osr.UseExceptions()


class DetectionError(GridError):
    """Bad input for a detection; the message names the input and the fix."""


@dataclass
class DetectOptions:
    """What a user chooses for a detection (the model's file fixes the rest).

    Attributes:
        bands: 1-based raster bands feeding the model's bands, in order (default: the first N).
        extent: (xmin, ymin, xmax, ymax) of the area, in ``extent_crs`` (default: the raster's
            CRS). None: the whole raster.
        extent_crs: any CRS GDAL understands ("EPSG:4326", WKT).
        aoi: polygons (anything OGR opens) to restrict the detection to.
        overlap: tile overlap in pixels at the model's resolution (default: a quarter tile).
        batch_size: tiles per forward pass (halved automatically after a GPU out-of-memory).
        threshold: probability at or above which a pixel is landslide; None (default): the
            threshold stored in the model file (chosen on validation in training), else 0.5.
        tta: test-time augmentation: every tile's probability is the mean over the tile and
            its three flips (4x the network time; gain measured in docs/results-fewshot.md).
        min_area: polygons below this area (m²) are dropped. Default 100 m²: 25 pixels at the
            bundled model's 2 m/px, smaller than any landslide a 2 m model can outline reliably.
        device: "auto", "cpu" or "cuda:N".
        precision: "auto" (the device's fastest accurate setting, see ``mrife.compute``),
            "float32", "bfloat16" or "float16" (CUDA).
        out_crs: CRS of the polygons (default: the raster's CRS).
        rescale: the imagery's value range differs from the training data's (16-bit imagery
            for an 8-bit model, say): stretch each band's 0.5-99.5 % range onto the training
            data's. Without it such a raster is refused with an explanation.
        simplify: simplify outlines by at most half a pixel (False: raw pixel edges).
        source_name: recorded in each polygon's ``source`` (default: the raster's file name).
        max_tiles: refuse plans with more tiles than this (None: no limit). The command line
            sets :data:`LARGE_PLAN_TILES` unless --allow-large is given.
    """

    bands: list[int] | None = None
    extent: tuple[float, float, float, float] | None = None
    extent_crs: str | None = None
    aoi: Path | None = None
    overlap: int | None = None
    batch_size: int = 4
    threshold: float | None = None
    tta: bool = False
    min_area: float = 100.0
    device: str = "auto"
    precision: str = "auto"
    out_crs: str | None = None
    rescale: bool = False
    simplify: bool = True
    source_name: str | None = None
    max_tiles: int | None = None


@dataclass
class DetectPlan:
    """The grid a detection runs on, known before any tile is computed."""

    width: int
    height: int
    pixel_size: float                   # metres
    tile: int
    overlap: int
    tiles: int
    crs_wkt: str
    crs_name: str
    source_crs_wkt: str                 # the raster's CRS (default CRS of the polygons)
    bounds: tuple[float, float, float, float]  # in the working CRS
    warped: bool
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)     # for the log: which bands were read

    def describe(self) -> str:
        return (f"{self.tiles} tile(s) of {self.tile} px over {self.width} x {self.height} px at "
                f"{self.pixel_size:g} m/px in {self.crs_name}")


def _aoi_geometries(path: Path, target: osr.SpatialReference) -> list[ogr.Geometry]:
    """The area polygons in the working CRS (repaired, reprojected); lines and points are
    ignored."""
    try:
        geoms = layer_geometries(path, target, GeoLoadReport(), count=False)
    except (RuntimeError, ValueError) as exc:
        raise DetectionError(f"cannot open the area polygons {Path(path).name}: {exc}") from exc
    geoms = [g for g in geoms if g.GetDimension() == 2]
    if not geoms:
        raise DetectionError(f"the area layer {Path(path).name} holds no polygons; choose a "
                             "polygon layer (or select at least one polygon)")
    return geoms


def make_grid(loaded: LoadedModel, raster: Path, opts: DetectOptions
              ) -> tuple[ModelGrid, DetectPlan, list[ogr.Geometry] | None]:
    """The model's grid over the area (``mrife.grid``, the one training uses), its plan, and
    the area polygons in the grid's CRS (None: the whole rectangle). Raises
    :class:`DetectionError` for bad input."""
    try:
        return _make_grid(loaded, raster, opts)
    except DetectionError:
        raise
    except GridError as exc:
        raise DetectionError(str(exc)) from exc


def _make_grid(loaded: LoadedModel, raster: Path, opts: DetectOptions
               ) -> tuple[ModelGrid, DetectPlan, list[ogr.Geometry] | None]:
    ds = open_raster(raster)
    name = Path(raster).name
    srs = raster_crs(ds, name)
    contract = loaded.contract
    notes = []
    if opts.bands is None:
        bands, note = default_bands(ds, contract.bands, name)
        notes.append(note)
    else:
        check_bands(contract, ds.RasterCount, name)
        bands = _band_list(opts.bands, len(contract.bands), ds.RasterCount, name)
    rb = raster_bounds(ds)
    area = rb                               # the area, in the raster's CRS first
    if opts.extent is not None:
        e = tuple(float(v) for v in opts.extent)
        if not (e[2] > e[0] and e[3] > e[1]):
            raise DetectionError(f"the extent {e} is empty (give xmin, ymin, xmax, ymax with "
                                 "xmin < xmax and ymin < ymax)")
        esrs = parse_crs(opts.extent_crs) if opts.extent_crs else srs
        e = transform_bounds(e, esrs, srs)
        area = (max(rb[0], e[0]), max(rb[1], e[1]), min(rb[2], e[2]), min(rb[3], e[3]))
        if not (area[2] > area[0] and area[3] > area[1]):
            raise DetectionError(f"the area to search does not overlap {name} (raster extent "
                                 f"{tuple(round(v, 3) for v in rb)} in {crs_name(srs)}); pan the "
                                 "map to the raster or choose 'whole layer'")
    wsrs = working_crs(srs, area)
    wb = transform_bounds(area, srs, wsrs)
    aoi = None
    if opts.aoi is not None:
        aoi = _aoi_geometries(Path(opts.aoi), wsrs)
        env = [g.GetEnvelope() for g in aoi]
        ab = (min(e[0] for e in env), min(e[2] for e in env), max(e[1] for e in env),
              max(e[3] for e in env))
        wb = (max(wb[0], ab[0]), max(wb[1], ab[1]), min(wb[2], ab[2]), min(wb[3], ab[3]))
        if not (wb[2] > wb[0] and wb[3] > wb[1]):
            raise DetectionError(f"the area polygons of {Path(opts.aoi).name} do not overlap "
                                 f"{name}")
    grid = model_grid(ds, name, contract.ground_resolution, wsrs, wb, bands)
    tile = contract.tile_size
    overlap = tile // 4 if opts.overlap is None else int(opts.overlap)
    if not 0 <= overlap < tile:
        raise DetectionError(f"overlap {overlap} must be at least 0 and less than the model's "
                             f"tile size {tile}")
    rows, cols = grid_windows(grid.height, grid.width, tile, overlap)
    plan = DetectPlan(width=grid.width, height=grid.height, pixel_size=grid.pixel_size_m,
                      tile=tile, overlap=overlap, tiles=len(rows) * len(cols),
                      crs_wkt=wsrs.ExportToWkt(), crs_name=crs_name(wsrs),
                      source_crs_wkt=srs.ExportToWkt(), bounds=raster_bounds(grid.dataset),
                      warped=grid.warped, warnings=list(grid.warnings), notes=notes)
    return grid, plan, aoi


def _band_list(bands: list[int], need: int, have: int, name: str) -> list[int]:
    bands = [int(b) for b in bands]
    if len(bands) != need:
        raise DetectionError(f"the model needs {need} band(s), {len(bands)} were mapped; map "
                             f"exactly {need} of {name}'s bands")
    bad = [b for b in bands if not 1 <= b <= have]
    if bad:
        raise DetectionError(f"{name} has bands 1-{have}; band(s) {bad} do not exist")
    return bands


def plan_detection(model: Path | LoadedModel, raster: Path,
                   options: DetectOptions | None = None) -> DetectPlan:
    """Tiles, grid and CRS of a detection, without running it (for the estimate a user sees)."""
    loaded = model if isinstance(model, LoadedModel) else load_model(Path(model))
    return make_grid(loaded, raster, options or DetectOptions())[1]


_TIMINGS: dict[tuple, float] = {}


def seconds_per_tile(loaded: LoadedModel, device: str = "cpu", batch_size: int = 4,
                     precision: str = "auto", tta: bool = False) -> float:
    """Measured forward time per tile on ``device`` (one warm-up batch, one timed batch),
    remembered per model file, device, batch size and precision; ``tta``: four times that."""
    import torch

    from ..inference import predict_batch

    key = (str(loaded.path) if loaded.path else id(loaded.model), device, batch_size, precision)
    if key not in _TIMINGS:
        t = loaded.contract.tile_size
        x = np.random.default_rng(0).standard_normal(
            (batch_size, len(loaded.contract.bands), t, t)).astype(np.float32)
        dev = torch.device(device)
        policy = choose(precision, dev)
        policy.prepare_model(loaded.model.to(dev))
        predict_batch(loaded.model, x, dev, policy)
        t0 = time.perf_counter()
        predict_batch(loaded.model, x, dev, policy)
        _TIMINGS[key] = (time.perf_counter() - t0) / batch_size
    return _TIMINGS[key] * (4 if tta else 1)          # flips: four forward passes per tile


# value range

SAMPLE_WINDOWS = 8       # per axis: at most 64 windows ...
SAMPLE_SIDE = 64         # ... of 64 x 64 px: 262 144 pixels per band, whatever the raster's size


def _sample(grid: gdal.Dataset, band: int) -> np.ndarray:
    """Valid, finite values of a band from a fixed grid of small windows at full resolution.
    Bounded work on any raster: reading a whole raster at reduced scale makes GDAL read every
    block of a file without overviews (minutes to hours on a 100 000 px raster)."""
    b = grid.GetRasterBand(band)
    m = b.GetMaskBand()
    w, h = grid.RasterXSize, grid.RasterYSize
    kw, kh = min(SAMPLE_SIDE, w), min(SAMPLE_SIDE, h)
    xs = np.unique(np.linspace(0, w - kw, SAMPLE_WINDOWS).astype(int))
    ys = np.unique(np.linspace(0, h - kh, SAMPLE_WINDOWS).astype(int))
    out = []
    for y in ys:
        for x in xs:
            vals = b.ReadAsArray(int(x), int(y), kw, kh).astype(np.float64)
            ok = (m.ReadAsArray(int(x), int(y), kw, kh) > 0) & np.isfinite(vals)
            out.append(vals[ok])
    return np.concatenate(out)


def value_mapping(loaded: LoadedModel, grid: gdal.Dataset, name: str, rescale: bool
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """Check the raster's values against the training data's; (scale, offset) per band when
    ``rescale`` maps one onto the other, None when no mapping is needed."""
    pre = loaded.contract.preprocess
    n = pre.bands
    dtype = numpy_dtype(grid.GetRasterBand(1)).name
    scale, offset = np.ones(n), np.zeros(n)
    mismatch = []
    any_valid = False
    for b in range(n):
        vals = _sample(grid, b + 1)
        if vals.size == 0:
            continue
        any_valid = True
        lo, hi = np.percentile(vals, [0.5, 99.5])
        q = np.asarray(pre.quantiles[b]) if pre.quantiles else np.array([0.0, 1.0])
        k = max(len(q) // 200, 1)
        tlo, thi = float(q[k]), float(q[-1 - k])
        span, tspan = hi - lo, max(thi - tlo, 1e-12)
        if hi > tlo + 3 * tspan or hi < tlo + 0.2 * tspan or span > 4 * tspan:
            mismatch.append((b + 1, lo, hi, tlo, thi))
        scale[b] = tspan / max(span, 1e-12)
        offset[b] = tlo - lo * scale[b]
    if not any_valid:
        raise DetectionError(f"{name} has no valid pixels in the area to search (all nodata, "
                             "NaN or infinite); choose another area, or check the layer's "
                             "nodata value")
    if not mismatch:
        return None
    if rescale:
        return scale, offset
    b, lo, hi, tlo, thi = mismatch[0]
    raise DetectionError(
        f"{name} band {b} spans {lo:.4g}..{hi:.4g} ({dtype}) but the model was trained on "
        f"{pre.source_dtype} imagery spanning {tlo:.4g}..{thi:.4g}; turn on 'rescale' "
        "(--rescale) to stretch the imagery onto the training range, or convert it first "
        "(e.g. gdal_translate -ot Byte -scale)")
