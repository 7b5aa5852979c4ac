"""Running a detection: the blended probability map strip by strip, then polygons, every output
written in a locked temporary folder beside the destination and renamed into place at the end
(see the package docstring)."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from osgeo import gdal

from .. import distributed
from ..checkpoint import LoadedModel, file_checksum, load_model
from ..compute import LARGE_PLAN_TILES, choose, set_threads
from ..errors import reading
from ..geodata import burn
from ..grid import parse_crs, read_pixels
from ..inference import Cancelled, StreamReport, stream_predict
from ..leftovers import DestinationError, DestinationLock, lock_folder, remove_stale
from ..leftovers import check_destination as _check
from . import shards
from .plan import (
    DetectionError,
    DetectOptions,
    DetectPlan,
    make_grid,
    seconds_per_tile,
    value_mapping,
)
from .vector import polygons, style, write_vector

gdal.UseExceptions()

PROB_NODATA = -1.0
TEMP_PREFIX = ".mrife-detect-"


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


def check_destination(path: Path, what: str) -> None:
    """DetectionError (a ValueError) before any work when ``path`` cannot be written."""
    try:
        _check(Path(path), what)
    except DestinationError as exc:
        raise DetectionError(str(exc)) from exc


def detect(model: Path | LoadedModel, raster: Path, out_vector: Path,
           probability: Path | None = None, options: DetectOptions | None = None, *,
           progress: Callable[[int, int], None] | None = None,
           should_stop: Callable[[], bool] | None = None,
           log: Callable[[str], None] | None = None) -> DetectResult:
    """Detect landslides in ``raster``; write polygons to ``out_vector`` (GeoPackage, layer
    ``landslides``) and, when given, the probability map to ``probability`` (GeoTIFF).

    Raises:
        DetectionError: bad input (message names the input and the fix).
        mrife.inference.Cancelled: should_stop() returned True; nothing was written.
    """
    from ..devices import resolve_device

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
    if opts.threshold is not None and not 0.0 < opts.threshold < 1.0:
        raise DetectionError(f"threshold {opts.threshold} must lie between 0 and 1")
    if not math.isfinite(opts.min_area) or opts.min_area < 0:
        raise DetectionError(f"minimum area {opts.min_area} must be a number of m² from 0 up")
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
    if opts.threshold is None:                  # the model's own (chosen on validation)
        opts = replace(opts, threshold=loaded.threshold)
    checksum = file_checksum(loaded.path) if loaded.path and loaded.path.exists() else ""
    name = Path(raster).name
    with reading(raster):
        grid, plan, aoi = make_grid(loaded, Path(raster), opts)
        if opts.max_tiles is not None and plan.tiles > opts.max_tiles:
            per_tile = seconds_per_tile(loaded, dev.key, opts.batch_size, opts.precision,
                                        opts.tta)
            raise DetectionError(
                f"{plan.describe()}: more than {opts.max_tiles} tiles, about "
                f"{plan.tiles * per_tile / 3600:.1f} h on {dev.label}; "
                "narrow the area (extent or area polygons), or confirm the large run "
                "(--allow-large on the command line, 'Allow runs over "
                f"{LARGE_PLAN_TILES} tiles' in Processing)")
        warnings = list(plan.warnings)
        for line in plan.notes + warnings:
            say(line)
        mapping = value_mapping(loaded, grid.dataset, name, opts.rescale)
        if mapping is not None:
            warnings.append(f"{name}'s values were stretched onto the model's training range")
        say(plan.describe())
        say(f"compute: {dev.label}, {policy.describe()}")
        folders = {out_vector.parent} | ({probability.parent} if probability else set())
        world = distributed.current()
        with contextlib.ExitStack() as held:
            for dest in (out_vector, probability) if world.main else ():
                if dest is not None:
                    held.enter_context(DestinationLock(dest))
            for folder in folders if world.main else ():
                remove_stale(folder, TEMP_PREFIX + "*")
                remove_stale(folder, ".*.gpkg.lock")
                remove_stale(folder, ".*.tif.lock")
            tmp = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX,
                                        dir=out_vector.parent if world.main else None))
            owner = lock_folder(tmp)
            try:
                result = _run(loaded, grid, plan, aoi, mapping, opts, dev, policy, tmp,
                              out_vector, probability, checksum, opts.source_name or name,
                              progress, should_stop, say, world)
            except BaseException as exc:
                _close_datasets_of(exc)
                raise
            finally:
                os.close(owner)
                shutil.rmtree(tmp, ignore_errors=True)
    result.warnings = warnings + result.warnings
    result.seconds = time.monotonic() - t_start
    return result


def _close_datasets_of(exc: BaseException) -> None:
    """Free the datasets the failed run's frames still hold, now and quietly. A dataset that
    cannot flush (a full disk) raises from its destructor; freed later, Python would print that
    as an "Exception ignored" traceback after the user's one-line error, which already says
    what failed."""
    said = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None if isinstance(
        unraisable.exc_value, RuntimeError) else said(unraisable)
    try:
        traceback.clear_frames(exc.__traceback__)
    finally:
        sys.unraisablehook = said


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
         probability: Path | None, checksum: str, source: str, progress, should_stop, say,
         world: distributed.World) -> DetectResult:
    contract = loaded.contract
    pre = contract.preprocess
    n = len(contract.bands)
    tile = plan.tile
    w, h = plan.width, plan.height
    prob_ds = mask_ds = None
    if world.main:
        prob_ds = _gtiff(tmp / "probability.tif", grid.dataset, gdal.GDT_Float32, PROB_NODATA,
                         predictor=3)
        mask_ds = _gtiff(tmp / "mask.tif", grid.dataset, gdal.GDT_Byte, None)
    aoi_ds = None
    if aoi is not None:
        aoi_ds = _gtiff(tmp / "aoi.tif", grid.dataset, gdal.GDT_Byte, None)
        burn(aoi_ds, aoi)
        aoi_ds.FlushCache()
    def read_tile(r: int, c: int, t: int) -> tuple[np.ndarray, np.ndarray]:
        kw, kh = min(t, w - c), min(t, h - r)
        part, ok = read_pixels(grid.dataset, n, (c, r, kw, kh))
        if mapping is not None or part.dtype != np.uint8:    # 8-bit stays 8-bit (lookup table)
            part = part.astype(np.float64)
        raw = np.zeros((n, t, t), dtype=part.dtype)
        valid = np.zeros((t, t), dtype=bool)
        if aoi_ds is not None:
            ok &= aoi_ds.GetRasterBand(1).ReadAsArray(c, r, kw, kh) > 0
        raw[:, :kh, :kw] = part
        valid[:kh, :kw] = ok
        if not valid.any():
            return np.zeros((n, t, t), dtype=np.float32), valid
        if mapping is not None:
            raw = raw * mapping[0][:, None, None] + mapping[1][:, None, None]
        return pre.apply(raw, valid), valid

    if world.active:
        key = {"raster": source, "model": checksum,
               "threshold": float(opts.threshold), "tile": tile, "overlap": plan.overlap,
               "size": [w, h], "tta": opts.tta, "aoi": aoi is not None}
        tiles, ran, model_s = shards.predict(
            world, loaded.model, read_tile, grid.dataset, aoi_ds, plan, key, out_vector,
            float(opts.threshold), PROB_NODATA, batch_size=opts.batch_size, device=dev.key,
            policy=policy, tta=opts.tta, progress=progress, should_stop=should_stop, say=say,
            prob_ds=prob_ds, mask_ds=mask_ds)
        rep = StreamReport(tiles=tiles, batch_size=opts.batch_size, run=ran,
                           model_seconds=model_s)
        if not world.main:                  # rank 0 merges, polygonises and writes
            if ran == 0:
                raise DetectionError(f"{source} has no valid pixels in the area to search")
            return DetectResult(vector=out_vector, probability=probability, count=0,
                                total_area_m2=0.0, seconds=0.0, device=dev.label, tiles=tiles,
                                tiles_run=ran, model_seconds=model_s,
                                batch_size=opts.batch_size, dropped_small=0, plan=plan)
    else:
        pband, mband = prob_ds.GetRasterBand(1), mask_ds.GetRasterBand(1)

        def write_rows(r0: int, prob: np.ndarray, valid: np.ndarray) -> None:
            pband.WriteArray(np.where(valid, prob, PROB_NODATA).astype(np.float32), 0, r0)
            mband.WriteArray(((prob >= opts.threshold) & valid).astype(np.uint8), 0, r0)

        rep = stream_predict(loaded.model, read_tile, h, w, tile=tile, overlap=plan.overlap,
                             write_rows=write_rows, batch_size=opts.batch_size, device=dev.key,
                             policy=policy, progress=progress, should_stop=should_stop,
                             tta=opts.tta)
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
    feats, dropped = polygons(mask_ds, prob_ds, plan, opts.min_area, opts.simplify, tmp)
    if should_stop is not None and should_stop():
        raise Cancelled()
    del mask_ds
    created = datetime.now(UTC).replace(microsecond=0).isoformat()
    tmp_vec = tmp / out_vector.name
    out_srs = parse_crs(opts.out_crs) if opts.out_crs else None
    total = write_vector(tmp_vec, feats, plan, out_srs or parse_crs(plan.source_crs_wkt),
                          {"model": loaded.name, "model_sha": checksum, "source": source,
                           "created": created, "threshold": float(opts.threshold)})
    if probability is not None:
        if max(w, h) > 1024:
            prob_ds.BuildOverviews("AVERAGE", [f for f in (2, 4, 8, 16, 32, 64)
                                               if max(w, h) / f >= 256])
        del prob_ds
        shutil.copyfile(style("probability.qml"), tmp / "probability.qml")
        os.replace(tmp / "probability.tif", probability)
        os.replace(tmp / "probability.qml", probability.with_suffix(".qml"))
    else:
        del prob_ds
    os.replace(tmp_vec, out_vector)
    if world.active:
        shards.finished(out_vector)
    return DetectResult(vector=out_vector, probability=probability, count=len(feats),
                        total_area_m2=total, seconds=0.0, device=dev.label, tiles=rep.tiles,
                        tiles_run=rep.run, model_seconds=rep.model_seconds,
                        batch_size=rep.batch_size, dropped_small=dropped, plan=plan,
                        warnings=rep.warnings)
