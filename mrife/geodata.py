"""Training data from a georeferenced raster (anything GDAL opens) and landslide polygons
(anything OGR opens), optionally with "mapped area" polygons that say where labelling is
complete (without them: the raster's whole extent).

Polygons in another CRS are reprojected to the raster's grid; invalid geometries are repaired
(``MakeValid``) and counted; what is not a polygon after repair (points, lines, an outline
collapsed to a line) is dropped and counted, so it never burns into a label. The raster is put on
the model's grid by ``mrife.grid`` (the same grid detection uses). The area is cut into
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
    negatives: int = 0               # 'not landslide' polygons: mapped ground, not burned
    reprojected_from: str | None = None
    mapped_area: bool = False
    warnings: list[str] = field(default_factory=list)


LABEL_LAYER, AREA_LAYER = "labels", "mapped_area"   # the layers of the plugin's label file
LANDSLIDE, NOT_LANDSLIDE = "landslide", "not landslide"  # its ``class`` field's values


def vector_source(path: Path | str) -> tuple[Path, str | None]:
    """A vector path as the file and the layer named in it: QGIS's ``file.gpkg|layername=x``
    form names a layer, a plain path does not."""
    text = str(path)
    if "|" in text:
        file, _, rest = text.partition("|")
        for part in rest.split("|"):
            key, _, value = part.partition("=")
            if key.strip().lower() == "layername" and value:
                return Path(file), value
        return Path(file), None
    return Path(text), None


def open_layer(path: Path | str, role: str = LABEL_LAYER) -> tuple[ogr.DataSource, ogr.Layer]:
    """The data source (keep it alive) and the layer of ``path`` that holds ``role``
    (``labels`` or ``mapped_area``): the layer the path names, else the file's only layer, else
    the layer of that name (the plugin's label file holds both); ValueError listing the layers
    when that is ambiguous, or when the only layer is the other role's."""
    file, name = vector_source(path)
    src = ogr.Open(str(file))
    if src is None:
        raise ValueError(f"OGR cannot open {file}")
    # layers with geometry only: a GeoPackage's style table (layer_styles) is not a candidate
    names = [src.GetLayer(i).GetName() for i in range(src.GetLayerCount())
             if src.GetLayer(i).GetGeomType() != ogr.wkbNone]
    what = "landslide labels" if role == LABEL_LAYER else "mapped area"
    if name is not None:
        if name not in names:
            raise ValueError(f"{file.name} has no layer '{name}' (its layers: "
                             f"{', '.join(names) or 'none'})")
        return src, src.GetLayerByName(name)
    if role in names:
        return src, src.GetLayerByName(role)
    other = AREA_LAYER if role == LABEL_LAYER else LABEL_LAYER
    if len(names) == 1 and names[0] != other:
        return src, src.GetLayer(0)
    raise ValueError(f"{file.name} holds the layers {', '.join(names) or '(none)'}; none is "
                     f"'{role}', so which one holds the {what} is not clear: name it as "
                     f"\"{file.name}|layername=NAME\"")


def layer_geometries(path: Path, target: osr.SpatialReference, report: GeoLoadReport,
                     count: bool, role: str = AREA_LAYER,
                     negatives: list[ogr.Geometry] | None = None) -> list[ogr.Geometry]:
    """The polygons of the layer of ``path`` that holds ``role`` (``open_layer``), repaired and
    reprojected to ``target``. For labels with the plugin's ``class`` field, 'not landslide'
    polygons are not returned: they go to ``negatives`` when given (they are mapped ground,
    never a landslide)."""
    src, layer = open_layer(path, role)
    has_class = role == LABEL_LAYER and layer.GetLayerDefn().GetFieldIndex("class") >= 0
    foreign = set()          # values of a 'class' field that are neither of the plugin's classes
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
        value = feat.GetField("class") if has_class else None
        value = "" if value is None else str(value).strip().lower()
        if value == NOT_LANDSLIDE:
            report.negatives += count
            if negatives is not None:
                negatives.append(g)
            continue
        if value not in ("", LANDSLIDE):
            foreign.add(value)
        geoms.append(g)
    del src
    if foreign:
        raise ValueError(f"{vector_source(path)[0].name}'s field 'class' holds "
                         f"{', '.join(map(repr, sorted(foreign)[:5]))}; label layers use "
                         f"'{LANDSLIDE}' and '{NOT_LANDSLIDE}' (empty: landslide); correct the "
                         "values or rename the field")
    return geoms


def companion_area(labels: Path) -> Path | None:
    """The plugin's label file's own ``mapped_area`` layer (as ``file|layername=mapped_area``)
    when the labels come from such a file and no layer was named; else None."""
    file, name = vector_source(labels)
    if name not in (None, LABEL_LAYER):
        return None
    src = ogr.Open(str(file))
    if src is None:
        return None
    layer = src.GetLayerByName(AREA_LAYER)
    if layer is None or layer.GetFeatureCount() == 0:
        return None
    return Path(f"{file}|layername={AREA_LAYER}")


def polygonal(g: ogr.Geometry | None) -> ogr.Geometry | None:
    """The polygon parts of ``g`` (a polygon, multipolygon or collection) as a new geometry that
    the caller owns, None when it has no area: points, lines, and outlines that collapse to a
    line or a point.

    Every geometry handled here is a clone held in a local variable: OGR's ``GetGeometryRef``
    returns a view into its parent, and ``ForceToMultiPolygon`` of a temporary is freed at once,
    so taking parts of either after the owner is gone reads freed memory (it segfaulted on a
    repaired outline with a spike, a collection of a polygon and a line)."""
    if g is None or g.IsEmpty():
        return None
    flat = ogr.GT_Flatten(g.GetGeometryType())
    if flat == ogr.wkbPolygon:
        own = g.Clone()
        return own if own.GetArea() > 0 else None
    if flat in (ogr.wkbMultiPolygon, ogr.wkbCurvePolygon, ogr.wkbMultiSurface):
        own = ogr.ForceToMultiPolygon(g.Clone())
        return own if own is not None and own.GetArea() > 0 else None
    if flat == ogr.wkbGeometryCollection:
        out = ogr.Geometry(ogr.wkbMultiPolygon)
        for i in range(g.GetGeometryCount()):
            child = g.GetGeometryRef(i).Clone()
            part = polygonal(child)
            if part is None:
                continue
            multi = ogr.ForceToMultiPolygon(part)
            for k in range(multi.GetGeometryCount()):
                out.AddGeometry(multi.GetGeometryRef(k))   # AddGeometry copies
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
    negatives: list[ogr.Geometry] = []
    with reading(landslides):
        polys = layer_geometries(landslides, target, report, count=True, role=LABEL_LAYER,
                                 negatives=negatives)
        if mapped_area is None:
            mapped_area = companion_area(landslides)
            if mapped_area is not None:
                report.warnings.append(f"mapped area: the '{AREA_LAYER}' layer of "
                                       f"{vector_source(landslides)[0].name}")
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
        with reading(mapped_area):
            area = layer_geometries(mapped_area, target, report, count=False) + negatives
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
    pred = rasterize(layer_geometries(predicted, srs, report, False), grid)
    ref = rasterize(layer_geometries(reference, srs, report, True, role=LABEL_LAYER), grid)
    valid = rasterize(layer_geometries(area, srs, report, False), grid).astype(bool) \
        if area else None
    scores = SegmentationScores(min_cover=min_cover)
    scores.update(pred, ref, valid)
    out = scores.as_dict()
    out["reference_repaired"] = report.repaired
    return out
