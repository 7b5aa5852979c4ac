"""Detection over a raster: blended probability map and reviewable landslide polygons.

1. **Plan.** The area (whole raster, an extent in any CRS, and/or polygons) is laid on a grid in
   a metric CRS (the raster's own when projected, else the UTM zone of the area's centre) at the
   model's ground resolution (native resolution for a resolution-agnostic model). When nothing
   needs resampling the grid is a window of the file; otherwise a warped VRT (read lazily).
2. **Probability.** :func:`backend.inference.stream_predict` visits the tiles row by row and
   blends them; finished rows go straight to a GeoTIFF, so memory is one strip of tiles whatever
   the area's height. Pixels that are nodata (in every mapped band), outside the raster or
   outside the area are excluded: probability nodata (-1) and never part of a polygon.
3. **Polygons.** The thresholded map is polygonised by GDAL (4-connected, holes kept) over the
   whole area at once, so polygons that cross tile seams are whole. Polygons smaller than the
   minimum area are dropped. Mean and max probability come from the pixels each polygon covers.
   Outlines are simplified by at most half a pixel (this removes the staircase of pixel edges and
   nothing the data resolves), then reprojected to the output CRS.
4. **Nothing half-done.** Every output is written in a temporary folder beside the destination
   and renamed into place at the end; a cancel or an error removes the folder. The destinations
   are locked for the run (a second run writing the same files is refused), and the temporary
   folders of killed runs are removed by the next run (``leftovers``).

Pixels that are not finite (NaN, inf in float imagery) are invalid, exactly like nodata.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from osgeo import gdal, ogr, osr

from .checkpoint import LoadedModel, check_bands, file_checksum, load_model
from .compute import LARGE_PLAN_TILES, choose, set_threads
from .errors import reading
from .geodata import GeoLoadReport, burn, layer_geometries, utm_epsg
from .inference import Cancelled, grid_windows, stream_predict
from .leftovers import DestinationLock, lock_folder, remove_stale

gdal.UseExceptions()
ogr.UseExceptions()
osr.UseExceptions()

PROB_NODATA = -1.0
LAYER_NAME = "landslides"
TEMP_PREFIX = ".mrife-detect-"
GDAL_TO_NUMPY = {"Byte": "uint8", "Int8": "int8", "UInt16": "uint16", "Int16": "int16",
                 "UInt32": "uint32", "Int32": "int32", "Float32": "float32",
                 "Float64": "float64"}


class DetectionError(ValueError):
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
        threshold: probability at or above which a pixel is landslide.
        min_area: polygons below this area (m²) are dropped. Default 100 m²: 25 pixels at the
            bundled model's 2 m/px, smaller than any landslide a 2 m model can outline reliably.
        device: "auto", "cpu" or "cuda:N".
        precision: "auto" (the device's fastest accurate setting, see ``backend.compute``),
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
    threshold: float = 0.5
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

    def describe(self) -> str:
        return (f"{self.tiles} tile(s) of {self.tile} px over {self.width} x {self.height} px at "
                f"{self.pixel_size:g} m/px in {self.crs_name}")


@dataclass
class DetectResult:
    vector: Path
    probability: Path | None
    count: int
    total_area_m2: float
    seconds: float
    device: str
    tiles: int
    tiles_run: int
    model_seconds: float
    batch_size: int
    dropped_small: int
    plan: DetectPlan
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.count} landslide polygon(s), {self.total_area_m2 / 1e4:.2f} ha in all, "
                f"{self.tiles} tiles in {self.seconds:.1f} s on {self.device}")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["vector"] = str(self.vector)
        d["probability"] = str(self.probability) if self.probability else None
        return d


# ---------------------------------------------------------------------------------------------
# planning

def _srs(text: str) -> osr.SpatialReference:
    srs = osr.SpatialReference()
    try:
        srs.SetFromUserInput(text)
    except RuntimeError as exc:
        raise DetectionError(f"'{text}' is not a coordinate reference system GDAL knows") from exc
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def _name(srs: osr.SpatialReference) -> str:
    auth, code = srs.GetAuthorityName(None), srs.GetAuthorityCode(None)
    return f"{auth}:{code}" if auth and code else (srs.GetName() or "custom CRS")


def _raster_bounds(ds: gdal.Dataset) -> tuple[float, float, float, float]:
    gt = ds.GetGeoTransform()
    xs = [gt[0] + gt[1] * c + gt[2] * r for c in (0, ds.RasterXSize) for r in (0, ds.RasterYSize)]
    ys = [gt[3] + gt[4] * c + gt[5] * r for c in (0, ds.RasterXSize) for r in (0, ds.RasterYSize)]
    return min(xs), min(ys), max(xs), max(ys)


def _transform_bounds(b, src: osr.SpatialReference, dst: osr.SpatialReference):
    if src.IsSame(dst):
        return tuple(b)
    ct = osr.CoordinateTransformation(src, dst)
    return tuple(ct.TransformBounds(b[0], b[1], b[2], b[3], 21))


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


def _open_raster(raster: Path) -> gdal.Dataset:
    try:
        ds = gdal.Open(str(raster))
    except RuntimeError as exc:
        raise DetectionError(f"GDAL cannot open {raster}: {exc}") from exc
    if ds is None or ds.RasterCount == 0:
        raise DetectionError(f"{raster} is not a raster GDAL can read")
    return ds


def make_grid(loaded: LoadedModel, raster: Path, opts: DetectOptions
              ) -> tuple[gdal.Dataset, DetectPlan, list[ogr.Geometry] | None]:
    """The working grid (a dataset to read tiles from), its plan, and the area polygons in the
    grid's CRS (None: the whole rectangle). Raises :class:`DetectionError` for bad input."""
    ds = _open_raster(raster)
    name = Path(raster).name
    srs = ds.GetSpatialRef()
    if srs is None:
        raise DetectionError(f"{name} has no coordinate reference system; assign one (Layer "
                             "Properties > Source in QGIS, or gdal_edit.py -a_srs EPSG:xxxx) and "
                             "run again")
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    contract = loaded.contract
    check_bands(contract, ds.RasterCount, name)
    bands = _band_list(opts.bands, len(contract.bands), ds.RasterCount, name)
    warnings: list[str] = []
    rb = _raster_bounds(ds)

    # the area, in the raster's CRS first
    area = rb
    if opts.extent is not None:
        e = tuple(float(v) for v in opts.extent)
        if not (e[2] > e[0] and e[3] > e[1]):
            raise DetectionError(f"the extent {e} is empty (give xmin, ymin, xmax, ymax with "
                                 "xmin < xmax and ymin < ymax)")
        esrs = _srs(opts.extent_crs) if opts.extent_crs else srs
        e = _transform_bounds(e, esrs, srs)
        area = (max(rb[0], e[0]), max(rb[1], e[1]), min(rb[2], e[2]), min(rb[3], e[3]))
        if not (area[2] > area[0] and area[3] > area[1]):
            raise DetectionError(f"the area to search does not overlap {name} (raster extent "
                                 f"{tuple(round(v, 3) for v in rb)} in {_name(srs)}); pan the map "
                                 "to the raster or choose 'whole layer'")

    # working CRS: the raster's when projected, else the UTM zone of the area's centre
    if srs.IsGeographic():
        cx, cy = (area[0] + area[2]) / 2, (area[1] + area[3]) / 2
        wsrs = _srs(f"EPSG:{utm_epsg(cx, cy)}")
        warnings.append(f"{name} is in a geographic CRS; processed in {_name(wsrs)}")
    else:
        wsrs = srs
    unit = wsrs.GetLinearUnits() or 1.0           # metres per CRS unit
    gt = ds.GetGeoTransform()
    rotated = gt[2] != 0 or gt[4] != 0
    if contract.ground_resolution:
        res = contract.ground_resolution / unit
    elif wsrs is srs:
        res = abs(gt[1])
    else:
        lat = (area[1] + area[3]) / 2
        res = abs(gt[1]) * 111_320.0 * math.cos(math.radians(lat)) / unit
    wb = _transform_bounds(area, srs, wsrs)
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
    native = abs(gt[1]) * (1.0 if wsrs is srs else 111_320.0) * unit
    if contract.ground_resolution and native > 2 * contract.ground_resolution:
        warnings.append(f"{name} has {native:.2g} m pixels, coarser than the model's "
                        f"{contract.ground_resolution:g} m; the imagery is upsampled and details "
                        "the model learned to use are missing")

    same_grid = (wsrs is srs and not rotated and abs(abs(gt[1]) - res) <= 1e-6 * res
                 and abs(abs(gt[5]) - res) <= 1e-6 * res and gt[5] < 0)
    if same_grid:
        c0 = max(int(math.floor((wb[0] - gt[0]) / gt[1] + 1e-6)), 0)
        c1 = min(int(math.ceil((wb[2] - gt[0]) / gt[1] - 1e-6)), ds.RasterXSize)
        r0 = max(int(math.floor((wb[3] - gt[3]) / gt[5] + 1e-6)), 0)
        r1 = min(int(math.ceil((wb[1] - gt[3]) / gt[5] - 1e-6)), ds.RasterYSize)
        grid = gdal.Translate("", ds, format="VRT", srcWin=[c0, r0, c1 - c0, r1 - r0],
                              bandList=bands)
    else:
        x0 = math.floor(wb[0] / res) * res
        y0 = math.floor(wb[1] / res) * res
        x1 = math.ceil(wb[2] / res) * res
        y1 = math.ceil(wb[3] / res) * res
        first = ds.GetRasterBand(bands[0])
        has_nodata = first.GetNoDataValue() is not None
        down = res * unit > native * 1.01
        sel = gdal.Translate("", ds, format="VRT", bandList=bands)
        grid = gdal.Warp("", sel, format="VRT", dstSRS=wsrs.ExportToWkt(), xRes=res, yRes=res,
                         outputBounds=(x0, y0, x1, y1),
                         resampleAlg="average" if down else "bilinear",
                         dstAlpha=not has_nodata, multithread=True)
    if grid.RasterXSize <= 0 or grid.RasterYSize <= 0:
        raise DetectionError(f"the area to search is smaller than one pixel of {name}")
    tile = contract.tile_size
    overlap = tile // 4 if opts.overlap is None else int(opts.overlap)
    if not 0 <= overlap < tile:
        raise DetectionError(f"overlap {overlap} must be at least 0 and less than the model's "
                             f"tile size {tile}")
    rows, cols = grid_windows(grid.RasterYSize, grid.RasterXSize, tile, overlap)
    g = grid.GetGeoTransform()
    plan = DetectPlan(width=grid.RasterXSize, height=grid.RasterYSize,
                      pixel_size=abs(g[1]) * unit, tile=tile, overlap=overlap,
                      tiles=len(rows) * len(cols), crs_wkt=wsrs.ExportToWkt(),
                      crs_name=_name(wsrs), source_crs_wkt=srs.ExportToWkt(),
                      bounds=_raster_bounds(grid), warped=not same_grid, warnings=warnings)
    return grid, plan, aoi


def _band_list(bands: list[int] | None, need: int, have: int, name: str) -> list[int]:
    if bands is None:
        return list(range(1, need + 1))
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
                     precision: str = "auto") -> float:
    """Measured forward time per tile on ``device`` (one warm-up batch, one timed batch),
    remembered per model file, device, batch size and precision."""
    import torch

    from .inference import predict_batch

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
    return _TIMINGS[key]


# ---------------------------------------------------------------------------------------------
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
    dtype = GDAL_TO_NUMPY.get(gdal.GetDataTypeName(grid.GetRasterBand(1).DataType), "?")
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


# ---------------------------------------------------------------------------------------------
# running

def check_destination(path: Path, what: str) -> None:
    """DetectionError (a ValueError) before any work when ``path`` cannot be written."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise DetectionError(f"cannot write the {what} {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise DetectionError(f"cannot write the {what} {path}: folder {parent} is not writable; "
                             "choose another destination")
    if path.exists() and (path.is_dir() or not os.access(path, os.W_OK)):
        raise DetectionError(f"cannot write the {what} {path}: it exists and cannot be "
                             "replaced")


def resource(*parts: str) -> Path:
    """A file under resources/ (beside backend/ in the source tree and in the plugin zip)."""
    return Path(__file__).resolve().parent.parent.joinpath("resources", *parts)


def detect(model: Path | LoadedModel, raster: Path, out_vector: Path,
           probability: Path | None = None, options: DetectOptions | None = None, *,
           progress: Callable[[int, int], None] | None = None,
           should_stop: Callable[[], bool] | None = None,
           log: Callable[[str], None] | None = None) -> DetectResult:
    """Detect landslides in ``raster``; write polygons to ``out_vector`` (GeoPackage, layer
    ``landslides``) and, when given, the probability map to ``probability`` (GeoTIFF).

    Raises:
        DetectionError: bad input (message names the input and the fix).
        backend.inference.Cancelled: should_stop() returned True; nothing was written.
    """
    from .devices import resolve_device

    t_start = time.monotonic()
    opts = options or DetectOptions()
    say = log or (lambda _m: None)
    out_vector = Path(out_vector)
    if out_vector.suffix.lower() != ".gpkg":
        raise DetectionError(f"the polygons go to a GeoPackage; name the output *.gpkg, not "
                             f"{out_vector.name}")
    check_destination(out_vector, "polygon layer")
    if probability is not None:
        probability = Path(probability)
        if probability.suffix.lower() not in (".tif", ".tiff"):
            raise DetectionError(f"the probability map is a GeoTIFF; name it *.tif, not "
                                 f"{probability.name}")
        check_destination(probability, "probability map")
    if not 0.0 < opts.threshold < 1.0:
        raise DetectionError(f"threshold {opts.threshold} must lie between 0 and 1")
    if opts.batch_size < 1:
        raise DetectionError("batch size must be at least 1")
    dev = resolve_device(opts.device)
    policy = choose(opts.precision, dev.key)
    set_threads()
    if isinstance(model, LoadedModel):
        loaded = model
        loaded.model.to(dev.key)
    else:
        loaded = load_model(Path(model), dev.key)
    policy.prepare_model(loaded.model)
    checksum = file_checksum(loaded.path) if loaded.path and loaded.path.exists() else ""
    name = Path(raster).name
    with reading(raster):
        grid, plan, aoi = make_grid(loaded, Path(raster), opts)
        if opts.max_tiles is not None and plan.tiles > opts.max_tiles:
            per_tile = seconds_per_tile(loaded, dev.key, opts.batch_size, opts.precision)
            raise DetectionError(
                f"{plan.describe()}: more than {opts.max_tiles} tiles, about "
                f"{plan.tiles * per_tile / 3600:.1f} h on {dev.label}; "
                "narrow the area (extent or area polygons), or confirm the large run "
                "(--allow-large on the command line, 'Allow runs over "
                f"{LARGE_PLAN_TILES} tiles' in Processing)")
        warnings = list(plan.warnings)
        for w in warnings:
            say(w)
        mapping = value_mapping(loaded, grid, name, opts.rescale)
        if mapping is not None:
            warnings.append(f"{name}'s values were stretched onto the model's training range")
        say(plan.describe())
        say(f"compute: {dev.label}, {policy.describe()}")
        folders = {out_vector.parent} | ({probability.parent} if probability else set())
        with contextlib.ExitStack() as held:
            for dest in (out_vector, probability):
                if dest is not None:
                    held.enter_context(DestinationLock(dest))
            for folder in folders:
                remove_stale(folder, TEMP_PREFIX + "*")
                remove_stale(folder, ".*.gpkg.lock")
                remove_stale(folder, ".*.tif.lock")
            tmp = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=out_vector.parent))
            owner = lock_folder(tmp)
            try:
                result = _run(loaded, grid, plan, aoi, mapping, opts, dev, policy, tmp,
                              out_vector, probability, checksum, opts.source_name or name,
                              progress, should_stop, say)
            finally:
                os.close(owner)
                shutil.rmtree(tmp, ignore_errors=True)
    result.warnings = warnings + result.warnings
    result.seconds = time.monotonic() - t_start
    return result


def _gtiff(path: Path, like: gdal.Dataset, dtype: int, nodata: float | None,
           predictor: int = 1) -> gdal.Dataset:
    opts = ["COMPRESS=DEFLATE", f"PREDICTOR={predictor}", "BIGTIFF=IF_SAFER", "TILED=NO"]
    ds = gdal.GetDriverByName("GTiff").Create(str(path), like.RasterXSize, like.RasterYSize, 1,
                                              dtype, opts)
    ds.SetGeoTransform(like.GetGeoTransform())
    ds.SetProjection(like.GetProjection())
    if nodata is not None:
        ds.GetRasterBand(1).SetNoDataValue(nodata)
    return ds


def _run(loaded, grid, plan, aoi, mapping, opts, dev, policy, tmp: Path, out_vector: Path,
         probability: Path | None, checksum: str, source: str, progress, should_stop, say
         ) -> DetectResult:
    contract = loaded.contract
    pre = contract.preprocess
    n = len(contract.bands)
    tile = plan.tile
    w, h = plan.width, plan.height
    prob_ds = _gtiff(tmp / "probability.tif", grid, gdal.GDT_Float32, PROB_NODATA, predictor=3)
    mask_ds = _gtiff(tmp / "mask.tif", grid, gdal.GDT_Byte, None)
    aoi_ds = None
    if aoi is not None:
        aoi_ds = _gtiff(tmp / "aoi.tif", grid, gdal.GDT_Byte, None)
        burn(aoi_ds, aoi)
        aoi_ds.FlushCache()
    bands = [grid.GetRasterBand(b + 1) for b in range(n)]
    masks = [b.GetMaskBand() for b in bands]

    def read_tile(r: int, c: int, t: int) -> tuple[np.ndarray, np.ndarray]:
        kw, kh = min(t, w - c), min(t, h - r)
        part = np.stack([b.ReadAsArray(c, r, kw, kh) for b in bands])
        if mapping is not None or part.dtype != np.uint8:    # 8-bit stays 8-bit (lookup table)
            part = part.astype(np.float64)
        raw = np.zeros((n, t, t), dtype=part.dtype)
        valid = np.zeros((t, t), dtype=bool)
        ok = np.any([m.ReadAsArray(c, r, kw, kh) > 0 for m in masks], axis=0)
        if part.dtype.kind == "f":
            finite = np.isfinite(part).all(axis=0)      # NaN / inf: invalid, like nodata
            ok &= finite
            part[:, ~finite] = 0.0
        if aoi_ds is not None:
            ok &= aoi_ds.GetRasterBand(1).ReadAsArray(c, r, kw, kh) > 0
        raw[:, :kh, :kw] = part
        valid[:kh, :kw] = ok
        if not valid.any():
            return np.zeros((n, t, t), dtype=np.float32), valid
        if mapping is not None:
            raw = raw * mapping[0][:, None, None] + mapping[1][:, None, None]
        return pre.apply(raw, valid), valid

    pband, mband = prob_ds.GetRasterBand(1), mask_ds.GetRasterBand(1)

    def write_rows(r0: int, prob: np.ndarray, valid: np.ndarray) -> None:
        pband.WriteArray(np.where(valid, prob, PROB_NODATA).astype(np.float32), 0, r0)
        mband.WriteArray(((prob >= opts.threshold) & valid).astype(np.uint8), 0, r0)

    rep = stream_predict(loaded.model, read_tile, h, w, tile=tile, overlap=plan.overlap,
                         write_rows=write_rows, batch_size=opts.batch_size, device=dev.key,
                         policy=policy, progress=progress, should_stop=should_stop)
    for warning in rep.warnings:
        say(warning)
    if rep.run == 0:
        raise DetectionError(f"{source} has no valid pixels in the area to search (all nodata, "
                             "NaN or infinite)")
    prob_ds.FlushCache()
    mask_ds.FlushCache()
    if should_stop is not None and should_stop():
        raise Cancelled()
    say("polygonising")
    feats, dropped = _polygons(mask_ds, prob_ds, plan, opts, tmp)
    if should_stop is not None and should_stop():
        raise Cancelled()
    del mask_ds
    created = datetime.now(UTC).replace(microsecond=0).isoformat()
    tmp_vec = tmp / out_vector.name
    out_srs = _srs(opts.out_crs) if opts.out_crs else None
    total = _write_vector(tmp_vec, feats, plan, out_srs or _srs(plan.source_crs_wkt),
                          {"model": loaded.name, "model_sha": checksum, "source": source,
                           "created": created, "threshold": float(opts.threshold)})
    if probability is not None:
        if max(w, h) > 1024:
            prob_ds.BuildOverviews("AVERAGE", [f for f in (2, 4, 8, 16, 32, 64)
                                               if max(w, h) / f >= 256])
        del prob_ds
        shutil.copyfile(resource("styles", "probability.qml"), tmp / "probability.qml")
        os.replace(tmp / "probability.tif", probability)
        os.replace(tmp / "probability.qml", probability.with_suffix(".qml"))
    else:
        del prob_ds
    os.replace(tmp_vec, out_vector)
    return DetectResult(vector=out_vector, probability=probability, count=len(feats),
                        total_area_m2=total, seconds=0.0, device=dev.label, tiles=rep.tiles,
                        tiles_run=rep.run, model_seconds=rep.model_seconds,
                        batch_size=rep.batch_size, dropped_small=dropped, plan=plan,
                        warnings=rep.warnings)


def _polygons(mask_ds: gdal.Dataset, prob_ds: gdal.Dataset, plan: DetectPlan,
              opts: DetectOptions, tmp: Path) -> tuple[list[dict], int]:
    """Polygonise the mask (holes kept, 4-connected), drop small polygons, measure each one's
    mean and max probability over the pixels it covers; outlines simplified by half a pixel."""
    srs = _srs(plan.crs_wkt)
    unit = srs.GetLinearUnits() or 1.0
    vds = ogr.GetDriverByName("Memory").CreateDataSource("")
    lyr = vds.CreateLayer("raw", srs, ogr.wkbPolygon)
    lyr.CreateField(ogr.FieldDefn("v", ogr.OFTInteger))
    band = mask_ds.GetRasterBand(1)
    gdal.Polygonize(band, band, lyr, 0, [])
    px_area = plan.pixel_size ** 2
    keep = []
    dropped = 0
    for feat in lyr:
        g = feat.GetGeometryRef().Clone()
        area = g.GetArea() * unit * unit
        if area + 1e-9 < opts.min_area or area < px_area / 2:
            dropped += 1
            continue
        keep.append({"geom": g, "area": area})
    # per-polygon statistics: burn polygon numbers, then sum the probability strip by strip
    ids = gdal.GetDriverByName("GTiff").Create(str(tmp / "ids.tif"), mask_ds.RasterXSize,
                                               mask_ds.RasterYSize, 1, gdal.GDT_Int32,
                                               ["COMPRESS=DEFLATE", "TILED=NO"])
    ids.SetGeoTransform(mask_ds.GetGeoTransform())
    ids.SetProjection(mask_ds.GetProjection())
    burn(ids, [k["geom"] for k in keep], list(range(1, len(keep) + 1)))
    n = len(keep) + 1
    sums, counts = np.zeros(n), np.zeros(n)
    maxs = np.zeros(n)
    step = 512
    for r in range(0, mask_ds.RasterYSize, step):
        k = min(step, mask_ds.RasterYSize - r)
        idx = ids.GetRasterBand(1).ReadAsArray(0, r, None, k).ravel()
        p = prob_ds.GetRasterBand(1).ReadAsArray(0, r, None, k).ravel().astype(np.float64)
        sel = idx > 0
        idx, p = idx[sel], p[sel]
        sums += np.bincount(idx, p, n)
        counts += np.bincount(idx, None, n)
        np.maximum.at(maxs, idx, p)
    del ids
    tol = plan.pixel_size / unit / 2
    for i, k in enumerate(keep):
        k["mean"] = float(sums[i + 1] / max(counts[i + 1], 1))
        k["max"] = float(maxs[i + 1])
        if opts.simplify:
            s = k["geom"].SimplifyPreserveTopology(tol)
            if s is not None and not s.IsEmpty() and s.IsValid():
                k["geom"] = s
        k["perimeter"] = k["geom"].Boundary().Length() * unit
    return keep, dropped


def _write_vector(path: Path, feats: list[dict], plan: DetectPlan, out_srs: osr.SpatialReference,
                  common: dict) -> float:
    """Write the GeoPackage layer with its attributes and the confidence style as the layer's
    default (the ``layer_styles`` table QGIS reads). Returns the total area in m²."""
    src = _srs(plan.crs_wkt)
    ct = None if out_srs.IsSame(src) else osr.CoordinateTransformation(src, out_srs)
    drv = ogr.GetDriverByName("GPKG")
    ds = drv.CreateDataSource(str(path))
    lyr = ds.CreateLayer(LAYER_NAME, out_srs, ogr.wkbMultiPolygon, ["FID=fid"])
    fields = [("id", ogr.OFTInteger), ("mean_prob", ogr.OFTReal), ("max_prob", ogr.OFTReal),
              ("area_m2", ogr.OFTReal), ("perimeter_m", ogr.OFTReal), ("model", ogr.OFTString),
              ("model_sha", ogr.OFTString), ("source", ogr.OFTString),
              ("created", ogr.OFTString), ("threshold", ogr.OFTReal),
              ("review", ogr.OFTString)]
    for fname, ftype in fields:
        lyr.CreateField(ogr.FieldDefn(fname, ftype))
    total = 0.0
    lyr.StartTransaction()
    for i, k in enumerate(sorted(feats, key=lambda f: -f["mean"])):
        f = ogr.Feature(lyr.GetLayerDefn())
        g = ogr.ForceToMultiPolygon(k["geom"])
        if ct is not None:
            g.Transform(ct)
        f.SetGeometry(g)
        f.SetField("id", i + 1)
        f.SetField("mean_prob", round(k["mean"], 4))
        f.SetField("max_prob", round(k["max"], 4))
        f.SetField("area_m2", round(k["area"], 2))
        f.SetField("perimeter_m", round(k["perimeter"], 2))
        for key, value in common.items():
            f.SetField(key, value)
        f.SetField("review", "unreviewed")
        lyr.CreateFeature(f)
        total += k["area"]
    lyr.CommitTransaction()
    _store_default_style(ds, resource("styles", "landslides.qml"))
    ds = None
    return total


def _store_default_style(ds: ogr.DataSource, qml: Path) -> None:
    """The QML as the layer's default style in the GeoPackage's ``layer_styles`` table, which
    QGIS applies when the layer is opened (the same table QGIS itself writes)."""
    ds.ExecuteSQL(
        "CREATE TABLE IF NOT EXISTS layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "f_table_catalog TEXT(256), f_table_schema TEXT(256), f_table_name TEXT(256), "
        "f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT, styleSLD TEXT, "
        "useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30), "
        "update_time DATETIME DEFAULT CURRENT_TIMESTAMP)")
    text = qml.read_text().replace("'", "''")
    # Bandit B608 (SQL built from strings) does not apply: the only values are the constant
    # LAYER_NAME and our own bundled QML, quoted by doubling single quotes; OGR's SQL has no
    # bound parameters.
    values = f"'', '', '{LAYER_NAME}', 'geom', 'confidence', '{text}', '', 1"
    ds.ExecuteSQL(
        "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "  # nosec B608
        "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, owner) "
        f"VALUES ({values}, 'landslides graduated by mean probability (MRIFE for QGIS)', '')"
    )
