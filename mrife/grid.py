"""One grid for training, evaluation and detection: a raster put on the model's pixels.

A model is trained and run on a metric grid at its ground resolution. :func:`model_grid` lays
that grid over a raster (or an area of it) and :func:`read_pixels` reads pixels and their
validity from it. Training from a raster (``geodata``), the value-range check and detection all
go through these two, so the pixels a model is trained on are the pixels detection gives it.

The rules, one set for all:

- CRS: the raster's own when projected; a geographic raster goes to the UTM zone of the area's
  centre (for training, the area is the whole raster).
- Resolution: the model's ground resolution in metres, divided by the CRS's linear unit (a CRS
  in US feet gets pixels of the same metres). A resolution-agnostic model (no ground resolution)
  keeps the raster's pixel size (converted to metres for a geographic raster).
- When the raster is already on such a grid (same CRS, north-up, pixel size equal), the grid is
  a window of the file: no resampling at all.
- Otherwise the raster is warped lazily (a VRT): the grid's origin is snapped to whole multiples
  of the resolution, and pixels are resampled with ``average`` when the grid is coarser than the
  raster (down-sampling) and ``bilinear`` when it is finer (up-sampling).
- Validity: GDAL's mask bands (nodata; the raster's own alpha band, carried as the mask of the
  bands read even when the alpha band itself is not one of them; or the alpha band the warp adds
  where the raster has no nodata value) and finite values; a pixel is valid when any band is.
- Bands: the ones the user mapped; otherwise matched by the raster's declared colour
  interpretation (or band description) when it names every band the model needs once
  (a NIR, B, G, R raster feeds bands 4, 3, 2 to an RGB model), otherwise the first bands that
  are not alpha (:func:`default_bands`, which says what it chose).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from osgeo import gdal, gdal_array, osr

gdal.UseExceptions()
osr.UseExceptions()

METRES_PER_DEGREE = 111_320.0      # at the equator; times cos(latitude) along a parallel
FINEST_RATIO = 20       # pixels this many times finer than the model's: warn (wrong unit?)
SMALLEST_GRID_PX = 32   # an area narrower than this at the model's resolution: warn


class GridError(ValueError):
    """The raster cannot be put on a grid; the message names it and the fix."""


def window_starts(n: int, tile: int, stride: int) -> list[int]:
    """Start offsets covering [0, n) with tiles of ``tile`` at ``stride``; the last is shifted
    inwards to end at n (one start at 0 when n <= tile)."""
    if n <= tile:
        return [0]
    s = list(range(0, n - tile + 1, stride))
    return s if s[-1] == n - tile else s + [n - tile]


def numpy_dtype(band: gdal.Band) -> np.dtype:
    """The numpy type of a GDAL band's values (the one table: GDAL's own)."""
    return np.dtype(gdal_array.GDALTypeCodeToNumericTypeCode(band.DataType))


def gdal_type(dtype: np.dtype | str) -> int:
    """The GDAL data type for a numpy type."""
    return gdal_array.NumericTypeCodeToGDALTypeCode(np.dtype(dtype))


def parse_crs(text: str) -> osr.SpatialReference:
    srs = osr.SpatialReference()
    try:
        srs.SetFromUserInput(text)
    except RuntimeError as exc:
        raise GridError(f"'{text}' is not a coordinate reference system GDAL knows") from exc
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def crs_name(srs: osr.SpatialReference) -> str:
    auth, code = srs.GetAuthorityName(None), srs.GetAuthorityCode(None)
    return f"{auth}:{code}" if auth and code else (srs.GetName() or "custom CRS")


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 UTM zone holding (lon, lat)."""
    zone = min(max(int((lon + 180) // 6) + 1, 1), 60)
    return (32600 if lat >= 0 else 32700) + zone


def raster_bounds(ds: gdal.Dataset) -> tuple[float, float, float, float]:
    gt = ds.GetGeoTransform()
    xs = [gt[0] + gt[1] * c + gt[2] * r for c in (0, ds.RasterXSize) for r in (0, ds.RasterYSize)]
    ys = [gt[3] + gt[4] * c + gt[5] * r for c in (0, ds.RasterXSize) for r in (0, ds.RasterYSize)]
    return min(xs), min(ys), max(xs), max(ys)


def transform_bounds(b, src: osr.SpatialReference, dst: osr.SpatialReference):
    if src.IsSame(dst):
        return tuple(b)
    ct = osr.CoordinateTransformation(src, dst)
    return tuple(ct.TransformBounds(b[0], b[1], b[2], b[3], 21))


def open_raster(path: Path) -> gdal.Dataset:
    try:
        ds = gdal.Open(str(path))
    except RuntimeError as exc:
        raise GridError(f"GDAL cannot open {path}: {exc}") from exc
    if ds is None or ds.RasterCount == 0:
        raise GridError(f"{path} is not a raster GDAL can read")
    return ds


def raster_crs(ds: gdal.Dataset, name: str) -> osr.SpatialReference:
    srs = ds.GetSpatialRef()
    if srs is None:
        raise GridError(f"{name} has no coordinate reference system; assign one (Layer "
                        "Properties > Source in QGIS, or gdal_edit.py -a_srs EPSG:xxxx) and run "
                        "again")
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def working_crs(srs: osr.SpatialReference, area: tuple[float, float, float, float]
                ) -> osr.SpatialReference:
    """The raster's CRS when projected, else the UTM zone of the area's centre (``area`` in
    the raster's CRS)."""
    if not srs.IsGeographic():
        return srs
    return parse_crs(f"EPSG:{utm_epsg((area[0] + area[2]) / 2, (area[1] + area[3]) / 2)}")


@dataclass
class ModelGrid:
    """A raster on a model's grid. ``dataset`` is what tiles are read from (its first ``bands``
    bands are the image; a warp may add an alpha band after them, used only as the mask)."""

    dataset: gdal.Dataset
    bands: int
    crs: osr.SpatialReference             # the working CRS
    source_crs: osr.SpatialReference      # the raster's
    unit: float                           # metres per unit of the working CRS
    native_m: float                       # the raster's own pixel size, metres
    warped: bool
    warnings: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return self.dataset.RasterXSize

    @property
    def height(self) -> int:
        return self.dataset.RasterYSize

    @property
    def pixel_size_m(self) -> float:
        return abs(self.dataset.GetGeoTransform()[1]) * self.unit


def alpha_band(ds: gdal.Dataset) -> int | None:
    """The 1-based index of the raster's alpha band, None when it has none."""
    for b in range(1, ds.RasterCount + 1):
        if ds.GetRasterBand(b).GetColorInterpretation() == gdal.GCI_AlphaBand:
            return b
    return None


def image_bands(ds: gdal.Dataset) -> list[int]:
    """The 1-based bands that hold imagery: every band but an alpha band (which is validity);
    all of them when the alpha band is the only one."""
    alpha = alpha_band(ds)
    return [b for b in range(1, ds.RasterCount + 1) if b != alpha] or [1]


def band_role(band: gdal.Band) -> str:
    """What a band says it holds, lower case: its colour interpretation ("red", "green",
    "blue", "gray", ...), else its description; "" when it says nothing."""
    interp = band.GetColorInterpretation()
    if interp not in (gdal.GCI_Undefined, gdal.GCI_PaletteIndex):
        return gdal.GetColorInterpretationName(interp).lower().replace("grey", "gray")
    return (band.GetDescription() or "").strip().lower()


def default_bands(ds: gdal.Dataset, names: list[str], name: str) -> tuple[list[int], str]:
    """The raster bands that feed the model's bands ``names`` when the user mapped none, and a
    line for the log saying which were chosen and why. GridError when the raster cannot feed
    them (too few bands besides alpha; a colour-table raster for a multi-band model)."""
    need = len(names)
    first = ds.GetRasterBand(1)
    if need > 1 and ds.RasterCount == 1 and first.GetColorTable() is not None:
        raise GridError(f"{name} is a colour-table (palette) raster: its one band holds colour "
                        f"numbers, not the {need} bands the model needs "
                        f"({', '.join(names)}); expand it first: gdal_translate -expand rgb "
                        f"{name} {Path(name).stem}_rgb.tif")
    roles = {}
    for b in range(1, ds.RasterCount + 1):
        roles.setdefault(band_role(ds.GetRasterBand(b)), []).append(b)
    wanted = [n.lower().replace("grey", "gray") for n in names]
    if all(len(roles.get(n, [])) == 1 for n in wanted):
        chosen = [roles[n][0] for n in wanted]
        return chosen, (f"{name}: bands {','.join(map(str, chosen))} feed the model's "
                        f"{', '.join(names)} (from the raster's colour interpretation)")
    alpha = alpha_band(ds)
    usable = image_bands(ds)
    if len(usable) < need:
        raise GridError(f"the model needs {need} band(s) ({', '.join(names)}) but {name} has "
                        f"{len(usable)}" + (" besides its alpha band" if alpha else "")
                        + f"; choose a raster with at least {need} bands or a model trained on "
                        "this band count")
    chosen = usable[:need]
    return chosen, (f"{name}: bands {','.join(map(str, chosen))} feed the model's "
                    f"{', '.join(names)} (the first {need}"
                    + (f"; band {alpha} is alpha, used as the valid-pixel mask" if alpha else "")
                    + ")")


def model_grid(ds: gdal.Dataset, name: str, ground_resolution: float | None,
               wsrs: osr.SpatialReference, bounds: tuple[float, float, float, float],
               bands: list[int] | None = None) -> ModelGrid:
    """The grid at ``ground_resolution`` (metres; None: the raster's own) in ``wsrs`` over
    ``bounds`` (in ``wsrs``), reading ``bands`` (1-based; default all) of ``ds``."""
    srs = raster_crs(ds, name)
    bands = list(bands or range(1, ds.RasterCount + 1))
    unit = wsrs.GetLinearUnits() or 1.0
    gt = ds.GetGeoTransform()
    same_crs = wsrs.IsSame(srs)
    lat = None
    if srs.IsGeographic():
        b = raster_bounds(ds)
        lat = (b[1] + b[3]) / 2
    native = abs(gt[1]) * (METRES_PER_DEGREE * math.cos(math.radians(lat)) if lat is not None
                           else (srs.GetLinearUnits() or 1.0))
    res = (ground_resolution or native) / unit
    warnings = []
    if srs.IsGeographic():
        warnings.append(f"{name} is in a geographic CRS; processed in {crs_name(wsrs)}")
    if ground_resolution and native > 2 * ground_resolution:
        warnings.append(f"{name} has {native:.2g} m pixels, coarser than the model's "
                        f"{ground_resolution:g} m; the imagery is upsampled and details the model "
                        "learned to use are missing")
    if ground_resolution and native < ground_resolution / FINEST_RATIO:
        warnings.append(f"{name} has {native:.2g} m pixels, {ground_resolution / native:.0f} "
                        f"times finer than the model's {ground_resolution:g} m; if that is not "
                        "true, its georeferencing is wrong (a pixel size in the wrong unit): "
                        "check it with gdalinfo")
    # the raster's alpha band is the validity of the bands read, even when it is not one of them
    alpha = alpha_band(ds)
    mask = {"maskBand": alpha} if alpha is not None and alpha not in bands else {}
    rotated = gt[2] != 0 or gt[4] != 0
    same_grid = (same_crs and not rotated and abs(abs(gt[1]) - res) <= 1e-6 * res
                 and abs(abs(gt[5]) - res) <= 1e-6 * res and gt[5] < 0)
    if same_grid:
        c0 = max(int(math.floor((bounds[0] - gt[0]) / gt[1] + 1e-6)), 0)
        c1 = min(int(math.ceil((bounds[2] - gt[0]) / gt[1] - 1e-6)), ds.RasterXSize)
        r0 = max(int(math.floor((bounds[3] - gt[3]) / gt[5] + 1e-6)), 0)
        r1 = min(int(math.ceil((bounds[1] - gt[3]) / gt[5] - 1e-6)), ds.RasterYSize)
        if c1 <= c0 or r1 <= r0:
            raise GridError(f"the area to search is smaller than one pixel of {name}")
        grid = gdal.Translate("", ds, format="VRT", srcWin=[c0, r0, c1 - c0, r1 - r0],
                              bandList=bands, **mask)
    else:
        x0, y0 = math.floor(bounds[0] / res) * res, math.floor(bounds[1] / res) * res
        x1, y1 = math.ceil(bounds[2] / res) * res, math.ceil(bounds[3] / res) * res
        has_nodata = ds.GetRasterBand(bands[0]).GetNoDataValue() is not None
        down = res * unit > native * 1.01
        sel = gdal.Translate("", ds, format="VRT", bandList=bands, **mask)
        grid = gdal.Warp("", sel, format="VRT", dstSRS=wsrs.ExportToWkt(), xRes=res, yRes=res,
                         outputBounds=(x0, y0, x1, y1),
                         resampleAlg="average" if down else "bilinear",
                         dstAlpha=not has_nodata, multithread=True,
                         # the raster's own pixels, never its overviews: the same grid whether
                         # or not a file has overviews (or how they were made), as in training
                         overviewLevel="NONE")
    if grid.RasterXSize <= 0 or grid.RasterYSize <= 0:
        raise GridError(f"the area to search is smaller than one pixel of {name}")
    if max(grid.RasterXSize, grid.RasterYSize) < SMALLEST_GRID_PX:
        warnings.append(f"the area of {name} is only {grid.RasterXSize} x {grid.RasterYSize} px "
                        f"at {res * unit:g} m; the model sees almost nothing of it (check the "
                        "raster's pixel size, or choose a larger area)")
    return ModelGrid(grid, len(bands), wsrs, srs, unit, native, not same_grid, warnings)


def open_model_grid(raster: Path, ground_resolution: float | None) -> ModelGrid:
    """The whole raster on the model's grid (training and evaluation on a raster): every band
    but an alpha band, which is the valid-pixel mask."""
    ds = open_raster(raster)
    srs = raster_crs(ds, Path(raster).name)
    area = raster_bounds(ds)
    wsrs = working_crs(srs, area)
    return model_grid(ds, Path(raster).name, ground_resolution, wsrs,
                      transform_bounds(area, srs, wsrs), image_bands(ds))


def read_pixels(ds: gdal.Dataset, bands: int | None = None, window: tuple | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """(C, h, w) values of the first ``bands`` bands (default all) in ``window`` (col, row,
    width, height; default everything) and the (h, w) valid mask: a pixel is valid where any
    band's mask says so and every value is finite; invalid pixels are 0 in the values."""
    bands = bands or ds.RasterCount
    win = window or (0, 0, ds.RasterXSize, ds.RasterYSize)
    arr = np.stack([ds.GetRasterBand(b + 1).ReadAsArray(*win) for b in range(bands)])
    valid = np.zeros(arr.shape[1:], dtype=bool)
    for b in range(bands):
        band = ds.GetRasterBand(b + 1)
        if band.GetMaskFlags() & gdal.GMF_ALL_VALID:
            valid[:] = True
            break
        valid |= band.GetMaskBand().ReadAsArray(*win) > 0
    if arr.dtype.kind in "fc":
        finite = np.isfinite(arr).all(axis=0)
        if not finite.all():
            valid &= finite
            arr = np.where(finite, arr, 0).astype(arr.dtype)
    return arr, valid


RASTER_FILES = (".tif", ".tiff", ".vrt", ".img", ".jp2", ".png", ".jpg")


def mosaic(inputs: list[str] | str, out: Path, world=None) -> Path:
    """One raster for detection over several: a single file (or VRT, or GDAL tile index) as it
    is; several files, or a folder of them, as one VRT mosaic (GDAL BuildVRT) beside ``out``
    (one per rank). GridError when they cannot share a grid (CRS, band count)."""
    items = [inputs] if isinstance(inputs, str | Path) else list(inputs)
    paths: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in RASTER_FILES)
            if not found:
                raise GridError(f"no rasters ({', '.join(RASTER_FILES)}) in the folder {item}")
            paths += found
        else:
            paths.append(item)
    if len(paths) == 1:
        return paths[0]
    first, srs0 = None, None
    for p in paths:
        ds = open_raster(p)
        srs = raster_crs(ds, p.name)
        if first is None:
            first, srs0 = (p, ds.RasterCount), srs
        elif ds.RasterCount != first[1] or not srs.IsSame(srs0):
            raise GridError(
                f"{p.name} cannot join {first[0].name} in one mosaic: "
                + (f"{ds.RasterCount} bands against {first[1]}" if ds.RasterCount != first[1]
                   else "another CRS")
                + "; detect them one by one, or reproject them to one CRS first (gdalwarp)")
        del ds
    rank = getattr(world, "rank", 0)
    vrt = Path(out).parent / f".{Path(out).stem}.mosaic{rank}.vrt"
    made = gdal.BuildVRT(str(vrt), [str(p) for p in paths])
    if made is None:
        raise GridError(f"GDAL could not build a mosaic of {len(paths)} rasters")
    made.FlushCache()
    del made
    return vrt
