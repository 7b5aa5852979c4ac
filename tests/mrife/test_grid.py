"""One grid (mrife.grid) for training and detection: the pixels a model is trained on are the
pixels detection gives it, for a raster in a US-feet CRS, a raster coarser than the model (up-
sampled) and a geographic raster; and the rules themselves (units, resampling, snapping)."""

from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

from mrife.checkpoint import DataContract, LoadedModel
from mrife.detect import DetectOptions, make_grid
from mrife.geodata import load_raster_scenes
from mrife.grid import open_model_grid, read_pixels

RES = 2.0        # the model's ground resolution, metres
FOOT = 0.3048006096012192    # US survey foot


def _raster(path, epsg: int, origin: tuple[float, float], pixel: float, size: int = 120):
    rng = np.random.default_rng(1)
    # smooth texture: neighbouring pixels differ, resampling has something to change
    base = rng.integers(0, 255, (3, size // 4 + 2, size // 4 + 2)).astype(np.float32)
    img = np.stack([np.kron(b, np.ones((4, 4)))[:size, :size] for b in base])
    img = (img + rng.integers(0, 30, img.shape)).clip(0, 255).astype(np.uint8)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), size, size, 3, gdal.GDT_Byte)
    ds.SetGeoTransform((origin[0], pixel, 0, origin[1], 0, -pixel))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    ds.SetProjection(srs.ExportToWkt())
    for b in range(3):
        ds.GetRasterBand(b + 1).WriteArray(img[b])
    ds = None
    return path


def _labels(path, raster):
    """One polygon in the middle of the raster, in the raster's CRS."""
    ds = gdal.Open(str(raster))
    gt = ds.GetGeoTransform()
    w, h = ds.RasterXSize, ds.RasterYSize
    x0, x1 = gt[0] + gt[1] * w * 0.3, gt[0] + gt[1] * w * 0.6
    y0, y1 = gt[3] + gt[5] * h * 0.3, gt[3] + gt[5] * h * 0.6
    out = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    lyr = out.CreateLayer("l", ds.GetSpatialRef(), ogr.wkbPolygon)
    f = ogr.Feature(lyr.GetLayerDefn())
    f.SetGeometry(ogr.CreateGeometryFromWkt(
        f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"))
    lyr.CreateFeature(f)
    out = None
    return path


def _model() -> LoadedModel:
    """make_grid reads only the model's data contract."""
    return LoadedModel(model=None, config=None, meta={},
                       contract=DataContract(bands=["red", "green", "blue"],
                                             ground_resolution=RES, tile_size=32,
                                             preprocessing={}))


CASES = {
    # name: (EPSG, origin, native pixel in CRS units, expected grid pixel in CRS units)
    "us-feet CRS": (2229, (6_500_000.0, 1_900_000.0), 2.0, RES / FOOT),
    "upsampled (4 m raster, 2 m model)": (32648, (400_000.0, 3_300_000.0), 4.0, RES),
    "geographic": (4326, (104.0, 30.0), 1e-5, RES),
}


@pytest.mark.parametrize("case", list(CASES))
def test_training_and_detection_tiles_are_the_same_pixels(case, tmp_path):
    epsg, origin, pixel, grid_pixel = CASES[case]
    raster = _raster(tmp_path / "r.tif", epsg, origin, pixel)
    labels = _labels(tmp_path / "l.gpkg", raster)
    parts, _, facts = load_raster_scenes(raster, labels, ground_resolution=RES, tile_size=32,
                                         block_px=64)
    assert facts["ground_resolution"] == pytest.approx(RES)      # metres, whatever the unit
    blocks = [b for v in parts.values() for b in v]
    grid, plan, _ = make_grid(_model(), raster, DetectOptions())
    assert plan.pixel_size == pytest.approx(RES)
    gt = grid.dataset.GetGeoTransform()
    assert gt[1] == pytest.approx(grid_pixel)
    det, det_valid = read_pixels(grid.dataset, 3)
    compared = 0
    for b in blocks:
        bgt = b.meta["geotransform"]
        col = (bgt[0] - gt[0]) / gt[1]
        row = (bgt[3] - gt[3]) / gt[5]
        assert col == pytest.approx(round(col), abs=1e-6)     # same pixel edges
        assert row == pytest.approx(round(row), abs=1e-6)
        r, c = round(row), round(col)
        h, w = b.label.shape
        win = det[:, r:r + h, c:c + w]
        assert np.array_equal(b.valid, det_valid[r:r + h, c:c + w])
        assert np.array_equal(b.image[:, b.valid], win[:, b.valid])
        compared += int(b.valid.sum())
    assert compared > 0.5 * det_valid.sum()

    # a detection over a part of the raster lies on the same pixels (snapped origin)
    n = grid.width
    x0 = gt[0] + 0.273 * n * gt[1]
    y1 = gt[3] + 0.211 * n * gt[5]
    sub, _, _ = make_grid(_model(), raster, DetectOptions(
        extent=(x0, y1 + 0.5 * n * gt[5], x0 + 0.5 * n * gt[1], y1),
        extent_crs=grid.crs.ExportToWkt()))
    sgt = sub.dataset.GetGeoTransform()
    c, r = (sgt[0] - gt[0]) / gt[1], (sgt[3] - gt[3]) / gt[5]
    assert c == pytest.approx(round(c), abs=1e-6) and r == pytest.approx(round(r), abs=1e-6)
    part, pvalid = read_pixels(sub.dataset, 3)
    c, r = round(c), round(r)
    whole = det[:, r:r + part.shape[1], c:c + part.shape[2]]
    both = pvalid & det_valid[r:r + part.shape[1], c:c + part.shape[2]]
    assert both.sum() > 0.2 * n * n
    diff = np.abs(part[:, both].astype(int) - whole[:, both].astype(int))
    if case == "geographic":
        # GDAL's approximate transformer (error 1/8 px) is fitted per warped area: a reprojected
        # sub-area may differ by one grey level at a few pixels
        assert diff.max() <= 1 and (diff > 0).mean() < 0.01
    else:
        assert diff.max() == 0


def test_resampling_rule_average_down_bilinear_up(tmp_path):
    """Down-sampling averages (a 2 x 2 block of a 1 m raster becomes its mean); up-sampling is
    bilinear (a 4 m raster at 2 m: values between the source pixels), checked by hand."""
    fine = _raster(tmp_path / "fine.tif", 32648, (400_000.0, 3_300_000.0), 1.0, size=64)
    g = open_model_grid(fine, 2.0)
    src = gdal.Open(str(fine)).ReadAsArray().astype(np.float64)
    got, _ = read_pixels(g.dataset, 3)
    expected = src.reshape(3, 32, 2, 32, 2).mean(axis=(2, 4))
    assert np.abs(got[:, 1:-1, 1:-1] - expected[:, 1:-1, 1:-1]).max() <= 1.0
    coarse = _raster(tmp_path / "coarse.tif", 32648, (400_000.0, 3_300_000.0), 4.0, size=32)
    g = open_model_grid(coarse, 2.0)
    csrc = gdal.Open(str(coarse)).ReadAsArray().astype(np.float64)
    up, _ = read_pixels(g.dataset, 3)
    assert up.shape[1:] == (64, 64)
    # output pixel (2i+1) centre sits at source coordinate i + 0.75 (pixel-centre convention):
    # bilinear = 0.75 * src[i+1] + 0.25 * src[i] along each axis
    i = 10
    for j in (5, 20):
        row_interp = 0.25 * csrc[:, i, :] + 0.75 * csrc[:, i + 1, :]
        want = 0.25 * row_interp[:, j] + 0.75 * row_interp[:, j + 1]
        assert np.abs(up[:, 2 * i + 2, 2 * j + 2] - want).max() <= 1.0


def test_feet_crs_pixels_are_metres(tmp_path):
    raster = _raster(tmp_path / "ft.tif", 2229, (6_500_000.0, 1_900_000.0), 2.0)
    g = open_model_grid(raster, 2.0)
    assert g.pixel_size_m == pytest.approx(2.0)
    # 120 px of 2 ft = 73.15 m: about 37 px of 2 m (snapping may add one on each side)
    assert 36 <= g.width <= 39


def test_overviews_do_not_change_the_grid(tmp_path):
    """Down-sampling reads the raster's own pixels: a copy with (nearest-neighbour) overviews
    gives the same model grid as one without, and both equal the 4 x 4 block means computed
    here (GDAL's warper reads a tiled file's overview unless told not to)."""
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (3, 256, 256), dtype=np.uint8)
    paths = []
    for name, overviews in (("plain.tif", False), ("pyramids.tif", True)):
        ds = gdal.GetDriverByName("GTiff").Create(str(tmp_path / name), 256, 256, 3,
                                                  gdal.GDT_Byte, ["TILED=YES"])
        ds.SetGeoTransform((500000.0, 0.5, 0, 3400000.0, 0, -0.5))
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(32648)
        ds.SetProjection(srs.ExportToWkt())
        for b in range(3):
            ds.GetRasterBand(b + 1).WriteArray(pixels[b])
        if overviews:
            ds.BuildOverviews("NEAREST", [2, 4, 8])
        ds.FlushCache()
        del ds
        paths.append(tmp_path / name)
    grids = [open_model_grid(p, 2.0) for p in paths]
    got = [read_pixels(g.dataset, 3)[0].astype(float) for g in grids]
    expected = pixels.reshape(3, 64, 4, 64, 4).mean(axis=(2, 4))
    assert np.abs(got[0] - expected).max() <= 0.5          # GDAL rounds the mean to a byte
    assert np.array_equal(got[0], got[1])
