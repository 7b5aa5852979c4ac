"""Detection shared by the ranks of a torchrun job: the grid's tile rows are cut into one
contiguous band per rank, balanced by valid pixels; each rank predicts its band (with the tile
rows above it that reach into it, so its rows equal those of a one-process run) into files of its
own; rank 0 copies the bands into the full probability and mask rasters and polygonises them
whole, so polygons cross the bands' borders as they cross tile seams.

The bands live in ``.<name>.shards/`` beside the polygon file, with ``plan.json`` (what was asked,
the bands) and a ``done-*`` marker per finished band. A job that failed or was killed leaves
that folder: run it again with the same inputs and rank count and the finished bands are
reused. Nothing reaches the destinations before every band is done. Several machines need the
destination folder on a file system they share.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from osgeo import gdal

from .. import distributed
from ..inference import grid_windows, stream_predict

MERGE_ROWS = 1024      # rows copied at a time when rank 0 assembles the bands


def bands_for(weights: list[float], parts: int) -> list[tuple[int, int]]:
    """Contiguous ranges of tile rows, ``parts`` of them, with about equal total weight (a range
    may be empty when there are fewer rows than parts)."""
    total = float(sum(weights)) or 1.0
    cuts, acc, k = [0], 0.0, 1
    for i, wgt in enumerate(weights):
        acc += wgt
        while k < parts and acc >= total * k / parts:
            cuts.append(i + 1)
            k += 1
    cuts += [len(weights)] * (parts + 1 - len(cuts))
    return [(cuts[j], cuts[j + 1]) for j in range(parts)]


def row_weights(dataset: gdal.Dataset, aoi: gdal.Dataset | None, rows: list[int], tile: int
                ) -> list[float]:
    """Valid pixels under each tile row, from the raster's mask (and the area), read at about
    an eighth of a tile's resolution; every row weighs at least 1."""
    w, h = dataset.RasterXSize, dataset.RasterYSize
    step = max(1, tile // 8)
    bw, bh = max(1, w // step), max(1, h // step)
    valid = dataset.GetRasterBand(1).GetMaskBand().ReadAsArray(0, 0, w, h, bw, bh) > 0
    if aoi is not None:
        valid &= aoi.GetRasterBand(1).ReadAsArray(0, 0, w, h, bw, bh) > 0
    out = []
    for r in rows:
        a, b = int(r * bh / h), max(int(min(r + tile, h) * bh / h), int(r * bh / h) + 1)
        out.append(1.0 + float(valid[a:b].sum()) * step * step)
    return out


def folder_for(out_vector: Path) -> Path:
    return Path(out_vector).parent / f".{Path(out_vector).stem}.shards"


def _band_files(folder: Path, band: tuple[int, int]) -> tuple[Path, Path, Path]:
    tag = f"{band[0]:06d}-{band[1]:06d}"
    return folder / f"prob-{tag}.tif", folder / f"mask-{tag}.tif", folder / f"done-{tag}"


def _rows_tif(path: Path, like: gdal.Dataset, y0: int, height: int, dtype: int,
              nodata: float | None) -> gdal.Dataset:
    ds = gdal.GetDriverByName("GTiff").Create(str(path), like.RasterXSize, height, 1, dtype,
                                              ["COMPRESS=DEFLATE", "BIGTIFF=IF_SAFER"])
    gt = list(like.GetGeoTransform())
    gt[0], gt[3] = gt[0] + y0 * gt[2], gt[3] + y0 * gt[5]
    ds.SetGeoTransform(gt)
    ds.SetProjection(like.GetProjection())
    if nodata is not None:
        ds.GetRasterBand(1).SetNoDataValue(nodata)
    return ds


def predict(world: distributed.World, model, read_tile, like: gdal.Dataset, aoi_ds, plan,
            key: dict, out_vector: Path, threshold: float, nodata: float, *, batch_size: int,
            device, policy, tta: bool, progress, should_stop, say, prob_ds=None, mask_ds=None):
    """This rank's band of the grid into the shard folder, then (rank 0) every band into
    ``prob_ds`` / ``mask_ds``. Returns the grid's tiles, and the tiles run and model seconds
    summed over the ranks (the halo rows a rank runs above its band are work done twice, so
    they count as run, not as tiles of the grid)."""
    folder = folder_for(out_vector)
    h, w, tile = plan.height, plan.width, plan.tile
    rows, _cols = grid_windows(h, w, tile, plan.overlap)
    bands = bands_for(row_weights(like, aoi_ds, rows, tile), world.size)
    key = json.loads(json.dumps({**key, "ranks": world.size, "bands": bands}))   # as stored
    if world.main:
        folder.mkdir(exist_ok=True)
        plan_file = folder / "plan.json"
        if not plan_file.exists() or json.loads(plan_file.read_text()) != key:
            for old in folder.iterdir():     # another job's bands: start afresh
                old.unlink()
            plan_file.write_text(json.dumps(key))
    distributed.barrier(world)
    band = bands[world.rank]
    prob_path, mask_path, done = _band_files(folder, band)
    stats = np.zeros(2)
    if band[0] < band[1] and done.exists():
        say(f"rows of tile rows {band[0]}-{band[1] - 1}: done by an earlier run, reused")
    elif band[0] < band[1]:
        y0 = rows[band[0]]
        y1 = rows[band[1]] if band[1] < len(rows) else h
        pds = _rows_tif(prob_path, like, y0, y1 - y0, gdal.GDT_Float32, nodata)
        mds = _rows_tif(mask_path, like, y0, y1 - y0, gdal.GDT_Byte, None)

        def write_rows(r0: int, prob: np.ndarray, valid: np.ndarray) -> None:
            pds.GetRasterBand(1).WriteArray(np.where(valid, prob, nodata).astype(np.float32),
                                            0, r0 - y0)
            mds.GetRasterBand(1).WriteArray(((prob >= threshold) & valid).astype(np.uint8),
                                            0, r0 - y0)

        rep = stream_predict(model, read_tile, h, w, tile=tile, overlap=plan.overlap,
                             write_rows=write_rows, batch_size=batch_size, device=device,
                             policy=policy, progress=progress, should_stop=should_stop,
                             tta=tta, tile_rows=band)
        del pds, mds                                      # flushed and closed
        done.write_text(json.dumps({"tiles": rep.tiles, "run": rep.run,
                                    "model_seconds": rep.model_seconds}))
        for warning in rep.warnings:
            say(warning)
    if band[0] < band[1]:
        record = json.loads(done.read_text())
        stats[:] = record["run"], record["model_seconds"]
    stats = distributed.sum_over_ranks(stats, world)
    if world.main:
        for b in bands:
            if b[0] < b[1]:
                _copy_band(folder, b, rows, h, prob_ds, mask_ds)
    return plan.tiles, int(stats[0]), float(stats[1])


def _copy_band(folder: Path, band: tuple[int, int], rows: list[int], h: int, prob_ds,
               mask_ds) -> None:
    prob_path, mask_path, _done = _band_files(folder, band)
    y0 = rows[band[0]]
    for path, target in ((prob_path, prob_ds), (mask_path, mask_ds)):
        src = gdal.Open(str(path))
        band_in, band_out = src.GetRasterBand(1), target.GetRasterBand(1)
        for r in range(0, src.RasterYSize, MERGE_ROWS):
            k = min(MERGE_ROWS, src.RasterYSize - r)
            band_out.WriteArray(band_in.ReadAsArray(0, r, src.RasterXSize, k), 0, y0 + r)
        del src


def finished(out_vector: Path) -> None:
    """The job's outputs are in place: its bands go."""
    shutil.rmtree(folder_for(out_vector), ignore_errors=True)
