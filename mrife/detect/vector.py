"""Polygons from the thresholded map and the GeoPackage they go to, with the confidence style
stored as the layer's default."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from osgeo import gdal, ogr, osr

from ..geodata import burn
from ..grid import parse_crs

gdal.UseExceptions()
ogr.UseExceptions()

LAYER_NAME = "landslides"


def style(name: str) -> Path:
    """A QML style the results are written with (``mrife/styles/``, in the package wherever it
    is installed: source tree, wheel or plugin)."""
    return Path(__file__).resolve().parents[1] / "styles" / name


def polygons(mask_ds: gdal.Dataset, prob_ds: gdal.Dataset, plan, min_area: float,
             simplify: bool, tmp: Path) -> tuple[list[dict], int]:
    """Polygonise the mask (holes kept, 4-connected), drop small polygons, measure each one's
    mean and max probability over the pixels it covers; outlines simplified by half a pixel."""
    srs = parse_crs(plan.crs_wkt)
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
        if area + 1e-9 < min_area or area < px_area / 2:
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
        if simplify:
            s = k["geom"].SimplifyPreserveTopology(tol)
            if s is not None and not s.IsEmpty() and s.IsValid():
                k["geom"] = s
        k["perimeter"] = k["geom"].Boundary().Length() * unit
    return keep, dropped


def write_vector(path: Path, feats: list[dict], plan, out_srs: osr.SpatialReference,
                 common: dict) -> float:
    """Write the GeoPackage layer with its attributes and the confidence style as the layer's
    default (the ``layer_styles`` table QGIS reads). Returns the total area in m²."""
    src = parse_crs(plan.crs_wkt)
    ct = None if out_srs.IsSame(src) else osr.CoordinateTransformation(src, out_srs)
    # into a geographic CRS, outlines that cross the antimeridian are split there (as ogr2ogr
    # -wrapdateline does) instead of spanning -180..180 around the globe
    wrap = ogr.GeomTransformer(ct, ["WRAPDATELINE=YES"]) \
        if ct is not None and out_srs.IsGeographic() else None
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
        g = k["geom"].Clone()
        if wrap is not None:
            g = g.Transform(wrap)
        elif ct is not None:
            g.Transform(ct)
        g = ogr.ForceToMultiPolygon(g)
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
    _store_default_style(ds, style("landslides.qml"))
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
