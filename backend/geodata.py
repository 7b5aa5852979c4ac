"""Training data from a georeferenced raster (anything GDAL opens) and landslide polygons
(anything OGR opens), optionally with "mapped area" polygons that say where labelling is
complete (without them: the raster's whole extent).

Polygons in another CRS are reprojected to the raster's grid; invalid geometries are repaired
(``MakeValid``) and counted; what is not a polygon after repair (points, lines, an outline
collapsed to a line) is dropped and counted, so it never burns into a label. The raster is put on
the model's grid by ``backend.grid`` (the same grid detection uses). The area is cut into
square spatial blocks that are assigned whole to train / validation / test (8:2:0 by default,
fixed seed), so overlapping tiles never straddle two splits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from osgeo import gdal, ogr, osr

from .data import RASTER_SPLIT, Scene, split_scenes
from .errors import reading
from .grid import open_model_grid, read_pixels, utm_epsg  # noqa: F401  (utm_epsg: re-export)

gdal.UseExceptions()
ogr.UseExceptions()


@dataclass
class GeoLoadReport:
    """What happened while reading, for the log."""

    landslides: int = 0
    repaired: int = 0
    dropped_empty: int = 0
    dropped_not_polygon: int = 0
    reprojected_from: str | None = None
    mapped_area: bool = False
    warnings: list[str] = field(default_factory=list)


def layer_geometries(path: Path, target: osr.SpatialReference, report: GeoLoadReport,
                      count: bool) -> list[ogr.Geometry]:
    src = ogr.Open(str(path))
    if src is None:
        raise ValueError(f"OGR cannot open {path}")
    layer = src.GetLayer(0)
    srs = layer.GetSpatialRef()
    transform = None
    if srs is not None and not srs.IsSame(target):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        target.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        transform = osr.CoordinateTransformation(srs, target)
        if count:
            report.reprojected_from = srs.GetAuthorityName(None) and \
                f"{srs.GetAuthorityName(None)}:{srs.GetAuthorityCode(None)}" or srs.GetName()
    geoms = []
    for feat in layer:
        g = feat.GetGeometryRef()
        if g is None or g.IsEmpty():
            report.dropped_empty += count
            continue
        g = g.Clone()
        if not g.IsValid():
            g = g.MakeValid()
            report.repaired += count
        g = polygonal(g)
        if g is None:
            report.dropped_not_polygon += count
            continue
        if transform is not None:
            g.Transform(transform)
        geoms.append(g)
    return geoms


def polygonal(g: ogr.Geometry | None) -> ogr.Geometry | None:
    """The polygon parts of ``g`` (a polygon, multipolygon or collection), None when it has no
    area: points, lines, and outlines that collapse to a line or a point."""
    if g is None or g.IsEmpty():
        return None
    flat = ogr.GT_Flatten(g.GetGeometryType())
    if flat in (ogr.wkbPolygon, ogr.wkbMultiPolygon, ogr.wkbCurvePolygon,
                ogr.wkbMultiSurface):
        g = ogr.ForceToMultiPolygon(g) if flat != ogr.wkbPolygon else g
        return g if g.GetArea() > 0 else None
    if flat == ogr.wkbGeometryCollection:
        out = ogr.Geometry(ogr.wkbMultiPolygon)
        for i in range(g.GetGeometryCount()):
            part = polygonal(g.GetGeometryRef(i))
            if part is not None:
                for k in range(ogr.ForceToMultiPolygon(part).GetGeometryCount()):
                    out.AddGeometry(ogr.ForceToMultiPolygon(part).GetGeometryRef(k))
        return out if out.GetGeometryCount() and out.GetArea() > 0 else None
    return None


def no_polygons_error(path: Path, report: GeoLoadReport, what: str = "landslide") -> ValueError:
    """The error for a layer with no usable polygon, saying what was dropped."""
    return ValueError(
        f"{Path(path).name} holds no usable {what} polygon ({report.dropped_empty} empty, "
        f"{report.dropped_not_polygon} points, lines or outlines without area dropped); "
        f"draw the {what}s as polygons")


def memory_layer(geoms: list[ogr.Geometry], srs: osr.SpatialReference | None,
                 values: list[int] | None = None) -> tuple[ogr.DataSource, ogr.Layer]:
    """An in-memory OGR layer holding ``geoms`` (with integer field ``v`` = ``values`` when
    given). Keep the returned data source alive while the layer is used."""
    vds = ogr.GetDriverByName("Memory").CreateDataSource("")
    lyr = vds.CreateLayer("m", srs, ogr.wkbUnknown)
    if values is not None:
        lyr.CreateField(ogr.FieldDefn("v", ogr.OFTInteger))
    for i, g in enumerate(geoms):
        f = ogr.Feature(lyr.GetLayerDefn())
        if values is not None:
            f.SetField("v", int(values[i]))
        f.SetGeometry(g)
        lyr.CreateFeature(f)
    return vds, lyr


def burn(ds: gdal.Dataset, geoms: list[ogr.Geometry], values: list[int] | None = None) -> None:
    """Rasterise polygons into band 1 of ``ds`` (pixel centres): 1, or each one's value."""
    if not geoms:
        return
    _vds, lyr = memory_layer(geoms, ds.GetSpatialRef(), values)
    if values is None:
        gdal.RasterizeLayer(ds, [1], lyr, burn_values=[1])
    else:
        gdal.RasterizeLayer(ds, [1], lyr, options=["ATTRIBUTE=v"])


def rasterize(geoms: list[ogr.Geometry], grid: gdal.Dataset) -> np.ndarray:
    """(H, W) uint8: 1 inside any of the polygons (pixel centres), else 0."""
    mem = gdal.GetDriverByName("MEM").Create("", grid.RasterXSize, grid.RasterYSize, 1,
                                             gdal.GDT_Byte)
    mem.SetGeoTransform(grid.GetGeoTransform())
    mem.SetProjection(grid.GetProjection())
    burn(mem, geoms)
    return mem.GetRasterBand(1).ReadAsArray().astype(np.uint8)


BLOCK_TARGET = 10      # aim for this many spatial blocks, so that every split gets one
BLOCK_LARGEST = 1024   # px; larger rasters are cut into blocks of this side


def default_block_px(height: int, width: int, tile_size: int) -> int:
    """Side of the spatial blocks a raster is split by: 1024 px on large rasters, smaller on
    small ones so that there are about ``BLOCK_TARGET`` blocks (validation and test each get
    one), never smaller than two tiles (a block must hold whole training tiles)."""
    side = int((height * width / BLOCK_TARGET) ** 0.5)
    return max(2 * tile_size, min(BLOCK_LARGEST, side))


def load_raster_scenes(raster: Path, landslides: Path, mapped_area: Path | None = None, *,
                       ground_resolution: float | None = None, tile_size: int = 512,
                       block_px: int | None = None, split_seed: int = 0,
                       split_ratios: tuple[float, float, float] = RASTER_SPLIT
                       ) -> tuple[dict[str, list[Scene]], GeoLoadReport, dict]:
    """Scenes (spatial blocks) per split, the load report, and grid facts for the contract.
    Blocks are ``block_px`` square (default: ``default_block_px``)."""
    report = GeoLoadReport()
    with reading(raster):
        mgrid = open_model_grid(raster, ground_resolution)
    grid = mgrid.dataset
    block_px = block_px or default_block_px(grid.RasterYSize, grid.RasterXSize, tile_size)
    target = mgrid.crs
    with reading(landslides):
        polys = layer_geometries(Path(landslides), target, report, count=True)
    if not polys:
        raise no_polygons_error(landslides, report)
    report.landslides = len(polys)
    with reading(raster):
        image, valid = read_pixels(grid, mgrid.bands)
    label = rasterize(polys, grid)
    if not label.any():
        raise ValueError(f"none of the {len(polys)} landslide polygon(s) of "
                         f"{Path(landslides).name} falls inside {Path(raster).name}; check that "
                         "they cover the raster")
    if mapped_area is not None:
        area = layer_geometries(Path(mapped_area), target, report, count=False)
        valid &= rasterize(area, grid).astype(bool) | label.astype(bool)
        report.mapped_area = True
    h, w = label.shape
    gt = grid.GetGeoTransform()
    blocks = []
    for r in range(0, h, block_px):
        for c in range(0, w, block_px):
            sl = (slice(r, r + block_px), slice(c, c + block_px))
            if not valid[sl].any():
                continue
            origin = (gt[0] + c * gt[1], gt[1], 0.0, gt[3] + r * gt[5], 0.0, gt[5])
            blocks.append(Scene(f"block_r{r}_c{c}", image[(slice(None),) + sl], label[sl],
                                valid[sl], {"row": r, "col": c, "geotransform": origin,
                                            "crs": target.ExportToWkt()}))
    split = split_scenes([b.name for b in blocks], split_seed, split_ratios)
    by_name = {b.name: b for b in blocks}
    facts = {"crs": target.ExportToWkt(), "ground_resolution": mgrid.pixel_size_m,
             "bands": mgrid.bands, "dtype": str(image.dtype), "split": split,
             "block_px": block_px}
    return {k: [by_name[n] for n in v] for k, v in split.items()}, report, facts


def polygon_metrics(predicted: Path, reference: Path, raster: Path,
                    area: Path | None = None, min_cover: float = 0.5) -> dict:
    """Metrics (eqs. 9-14 and object accuracy, see ``metrics``) of predicted polygons against
    reference polygons, both rasterised (pixel centres) on the raster's own grid; only pixels
    inside ``area`` polygons (default: the whole raster) count. Either file may be in any CRS."""
    from .metrics import SegmentationScores

    grid = gdal.Open(str(raster))
    if grid is None:
        raise ValueError(f"GDAL cannot open {raster}")
    srs = grid.GetSpatialRef()
    if srs is None:
        raise ValueError(f"{Path(raster).name} has no CRS; polygons cannot be placed on it")
    report = GeoLoadReport()
    pred = rasterize(layer_geometries(Path(predicted), srs, report, False), grid)
    ref = rasterize(layer_geometries(Path(reference), srs, report, True), grid)
    valid = rasterize(layer_geometries(Path(area), srs, report, False), grid).astype(bool) \
        if area else None
    scores = SegmentationScores(min_cover=min_cover)
    scores.update(pred, ref, valid)
    out = scores.as_dict()
    out["reference_repaired"] = report.repaired
    return out
