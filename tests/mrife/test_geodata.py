"""Raster + polygon training data: rasterisation by hand, reprojection, repair, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

from mrife.geodata import load_raster_scenes, rasterize
from mrife.grid import open_model_grid, utm_epsg

X0, Y0 = 500000.0, 3300000.0   # UTM 48N, the synthetic georeference used across the tests


def _raster(path, arr, epsg=32648, res=1.0, x0=X0, y0=Y0):
    arr = arr[None] if arr.ndim == 2 else arr
    ds = gdal.GetDriverByName("GTiff").Create(str(path), arr.shape[2], arr.shape[1],
                                              arr.shape[0], gdal.GDT_Byte)
    ds.SetGeoTransform((x0, res, 0, y0, 0, -res))
    if epsg:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(epsg)
        ds.SetProjection(srs.ExportToWkt())
    for b in range(arr.shape[0]):
        ds.GetRasterBand(b + 1).WriteArray(arr[b])
    ds = None
    return path


def _polygons(path, wkts, epsg=32648):
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    lyr = ds.CreateLayer("landslides", srs, ogr.wkbPolygon)
    for w in wkts:
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetGeometry(ogr.CreateGeometryFromWkt(w))
        lyr.CreateFeature(f)
    ds = None
    return path


def _box(x1, y1, x2, y2):
    return (f"POLYGON(({X0 + x1} {Y0 - 10 + y1},{X0 + x2} {Y0 - 10 + y1},{X0 + x2} {Y0 - 10 + y2},"
            f"{X0 + x1} {Y0 - 10 + y2},{X0 + x1} {Y0 - 10 + y1}))")


def test_rasterisation_by_hand(tmp_path):
    grid = gdal.Open(str(_raster(tmp_path / "r.tif", np.zeros((10, 10), np.uint8))))
    # x in [2, 5], y in [3, 7] of a 10 x 10 m grid whose top is y = 10: pixel centres inside are
    # columns 2..4 and rows 3..6 (centre y = 10 - row - 0.5)
    label = rasterize([ogr.CreateGeometryFromWkt(_box(2, 3, 5, 7))], grid)
    expected = np.zeros((10, 10), np.uint8)
    expected[3:7, 2:5] = 1
    np.testing.assert_array_equal(label, expected)


def test_reprojected_and_repaired_polygons(tmp_path):
    img = np.random.default_rng(0).integers(0, 255, (3, 64, 64)).astype(np.uint8)
    raster = _raster(tmp_path / "r.tif", img)
    # the same box in WGS 84, plus a self-intersecting "bow tie" that needs repair
    src, dst = osr.SpatialReference(), osr.SpatialReference()
    src.ImportFromEPSG(32648)
    dst.ImportFromEPSG(4326)
    for s in (src, dst):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    box = ogr.CreateGeometryFromWkt(f"POLYGON(({X0 + 8} {Y0 - 40},{X0 + 24} {Y0 - 40},"
                                    f"{X0 + 24} {Y0 - 8},{X0 + 8} {Y0 - 8},{X0 + 8} {Y0 - 40}))")
    box.Transform(osr.CoordinateTransformation(src, dst))
    bowtie = ogr.CreateGeometryFromWkt(f"POLYGON(({X0 + 40} {Y0 - 40},{X0 + 60} {Y0 - 60},"
                                       f"{X0 + 60} {Y0 - 40},{X0 + 40} {Y0 - 60},"
                                       f"{X0 + 40} {Y0 - 40}))")
    bowtie.Transform(osr.CoordinateTransformation(src, dst))
    labels = _polygons(tmp_path / "l.gpkg", [box.ExportToWkt(), bowtie.ExportToWkt()], 4326)
    parts, report, facts = load_raster_scenes(raster, labels, block_px=64)
    assert report.reprojected_from == "EPSG:4326"
    assert report.repaired == 1 and report.landslides == 2
    scene = (parts["train"] + parts["val"] + parts["test"])[0]
    assert scene.label[8:40, 8:24].mean() > 0.95           # the box landed where it belongs
    assert scene.label[:, 30:38].sum() == 0
    assert scene.label[40:60, 40:60].sum() > 100            # the repaired bow tie is there
    assert facts["ground_resolution"] == 1.0


def test_mapped_area_limits_negatives(tmp_path):
    raster = _raster(tmp_path / "r.tif", np.full((3, 64, 64), 100, np.uint8))
    labels = _polygons(tmp_path / "l.gpkg", [_box(1, 1, 5, 5)])
    area = _polygons(tmp_path / "a.gpkg", [_box(0, 0, 10, 10)])
    parts, report, _ = load_raster_scenes(raster, labels, area, block_px=64)
    scene = (parts["train"] + parts["val"] + parts["test"])[0]
    assert report.mapped_area
    assert scene.valid.sum() == 100 and scene.valid[0:10, 0:10].all()  # top-left 10 x 10 m


def test_labels_outside_raster_and_missing_crs(tmp_path):
    raster = _raster(tmp_path / "r.tif", np.zeros((3, 32, 32), np.uint8))
    far = _polygons(tmp_path / "far.gpkg", [_box(1000, 1000, 1010, 1010)])
    with pytest.raises(ValueError, match="none of the 1 landslide polygon"):
        load_raster_scenes(raster, far)
    bare = _raster(tmp_path / "bare.tif", np.zeros((3, 8, 8), np.uint8), epsg=None)
    with pytest.raises(ValueError, match="no coordinate reference system"):
        open_model_grid(bare, None)


def test_geographic_raster_goes_to_utm_at_ground_resolution(tmp_path):
    ras = _raster(tmp_path / "g.tif", np.zeros((3, 100, 100), np.uint8), epsg=4326, res=1e-4,
                  x0=104.0, y0=30.0)
    grid = open_model_grid(ras, 2.0).dataset
    assert grid.GetSpatialRef().GetAuthorityCode(None) == str(utm_epsg(104.005, 29.995))
    assert grid.GetGeoTransform()[1] == 2.0
    # 100 px x 1e-4 deg = 0.01 deg: about 965 m of longitude at 30 N, so about 482 px of 2 m
    assert 470 < grid.RasterXSize < 495


def test_export_tiles_georeferenced_and_reusable(tmp_path):
    from mrife.data import pair_folders
    from mrife.export import export_tiles

    img = np.random.default_rng(0).integers(0, 255, (3, 96, 96)).astype(np.uint8)
    raster = _raster(tmp_path / "r.tif", img)
    labels = _polygons(tmp_path / "l.gpkg", [_box(2, 3, 30, 8)])
    parts, _, _ = load_raster_scenes(raster, labels, block_px=96)
    counts = export_tiles(parts, tmp_path / "tiles", 32, pos_neg_ratio=1.0)
    assert sum(counts.values()) > 0
    split = next(k for k, v in counts.items() if v)
    folder = tmp_path / "tiles" / split
    pairs = pair_folders(folder / "images", folder / "masks")
    assert len(pairs) == counts[split]
    for img_path, mask_path in pairs:
        ds = gdal.Open(str(img_path))
        gt = ds.GetGeoTransform()
        r, c = (int(p[1:]) for p in img_path.stem.split("_")[-2:])
        assert gt[0] == X0 + c and gt[3] == Y0 - r          # 1 m pixels from the raster origin
        np.testing.assert_array_equal(ds.ReadAsArray(), img[:, r:r + 32, c:c + 32])
        mask = gdal.Open(str(mask_path)).ReadAsArray()
        assert set(np.unique(mask)) <= {0, 1}


def test_default_block_size_gives_every_split_a_block():
    from mrife.data import split_scenes
    from mrife.geodata import default_block_px

    assert default_block_px(8192, 8192, 512) == 1024          # large: 1024 px blocks
    assert default_block_px(2000, 3000, 64) == 774            # sqrt(6e6 / 10)
    assert default_block_px(512, 512, 128) == 256             # small: two tiles at least
    # the bundled sample at 2 m/px (512 px, 128 px tiles): 4 blocks -> 2 train, 1 val, 1 test
    n = (512 // 256) ** 2
    assert [len(v) for v in split_scenes([f"b{i}" for i in range(n)]).values()] == [2, 1, 1]
