"""Export training tiles to folders (``export-tiles``): GeoTIFF image and mask pairs per split,
georeferenced when the source is, usable by this tool's folder form or by any other tool."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from osgeo import gdal

from .data import Scene, balance_windows, read_tile, tile_windows

gdal.UseExceptions()
_GDAL_TYPES = {"uint8": gdal.GDT_Byte, "uint16": gdal.GDT_UInt16, "int16": gdal.GDT_Int16,
               "uint32": gdal.GDT_UInt32, "int32": gdal.GDT_Int32, "float32": gdal.GDT_Float32,
               "float64": gdal.GDT_Float64}


def _write(path: Path, arr: np.ndarray, geotransform=None, crs: str | None = None) -> None:
    arr = arr[None] if arr.ndim == 2 else arr
    tmp = path.with_suffix(".part.tif")
    ds = gdal.GetDriverByName("GTiff").Create(str(tmp), arr.shape[2], arr.shape[1],
                                              arr.shape[0], _GDAL_TYPES[str(arr.dtype)],
                                              ["COMPRESS=DEFLATE"])
    if geotransform is not None:
        ds.SetGeoTransform(geotransform)
    if crs:
        ds.SetProjection(crs)
    for b in range(arr.shape[0]):
        ds.GetRasterBand(b + 1).WriteArray(arr[b])
    ds = None
    tmp.replace(path)


def export_tiles(parts: dict[str, list[Scene]], out: Path, tile: int,
                 pos_neg_ratio: float = 3.0, seed: int = 0,
                 should_stop=None) -> dict[str, int]:
    """Write out/<split>/images/<scene>_r<row>_c<col>.tif and the same name under masks/
    (mask: 1 landslide, 0 background, 255 not labelled). Returns tiles written per split."""
    out = Path(out)
    counts = {}
    rng = np.random.default_rng(seed)
    for split, scenes in parts.items():
        n = 0
        for scene in scenes:
            pos, neg = tile_windows(scene, tile)
            neg = balance_windows(pos, neg, pos_neg_ratio, rng)
            for r, c in pos + neg:
                if should_stop is not None and should_stop():
                    return counts
                image = read_tile(scene.image, r, c, tile, 0)
                mask = read_tile(np.where(scene.valid, scene.label, 255).astype(np.uint8), r, c,
                                 tile, 255)
                gt = scene.meta.get("geotransform")
                if gt is not None:
                    gt = (gt[0] + c * gt[1], gt[1], 0.0, gt[3] + r * gt[5], 0.0, gt[5])
                name = f"{scene.name}_r{r}_c{c}.tif"
                for sub, arr in (("images", image), ("masks", mask)):
                    (out / split / sub).mkdir(parents=True, exist_ok=True)
                    _write(out / split / sub / name, arr, gt, scene.meta.get("crs"))
                n += 1
        counts[split] = n
    (out / "tiles.json").write_text(json.dumps({"tile_size": tile, "counts": counts}, indent=2))
    return counts
