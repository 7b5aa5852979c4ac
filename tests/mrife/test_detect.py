"""Detection over georeferenced rasters: real Sichuan pixels, real GDAL/OGR, a real (small) model
trained on the scene in the session fixture ``scene_model``."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import torch
from osgeo import gdal, ogr

from mrife.checkpoint import CheckpointError, DataContract, load_model, save_model
from mrife.detect import DetectionError, DetectOptions, detect, plan_detection
from mrife.inference import Cancelled, predict_array, window_starts
from mrife.models import build_model, preset

ROOT = Path(__file__).resolve().parents[2]
PIXEL = 2.0   # the fixture model's ground resolution


def union(path: Path, layer: str | None = None) -> tuple[ogr.Geometry, list[dict]]:
    ds = ogr.Open(str(path))
    lyr = ds.GetLayerByName(layer) if layer else ds.GetLayer(0)
    u, rows = None, []
    for f in lyr:
        g = f.GetGeometryRef().Clone()
        rows.append({**f.items(), "geom": g})
        u = g if u is None else u.Union(g)
    return u, rows


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".mrife-detect-"))


# --- the blending routine against an independent, whole-image calculation --------------------

def test_streamed_blending_equals_whole_image_accumulation():
    """stream_predict (strip buffer, separable weight sums) must equal the textbook calculation:
    full-size sums of weight x probability and of weights over every window, divided. The
    weights are written out here from their definition (1 inside, a linear ramp over the
    overlap at each edge measured from pixel centres, floor 0.001), not taken from the code."""
    torch.manual_seed(0)
    model = build_model(preset("baseline", backbone="resnet18", in_channels=3)).eval()
    rng = np.random.default_rng(0)
    img = rng.normal(size=(3, 150, 170)).astype(np.float32)
    tile, overlap = 64, 16
    got = predict_array(model, img, tile=tile, overlap=overlap, batch_size=3)

    acc = np.zeros((150, 170))
    wsum = np.zeros((150, 170))
    d = np.array([min(i, tile - 1 - i) + 0.5 for i in range(tile)])
    ramp = np.clip(d / overlap, 1e-3, 1.0)
    w2 = np.outer(ramp, ramp)
    assert w2[tile // 2, tile // 2] == 1.0 and w2[0, 0] == pytest.approx((0.5 / 16) ** 2)
    for r in window_starts(150, tile, tile - overlap):
        for c in window_starts(170, tile, tile - overlap):
            with torch.no_grad():
                p = model.predict_proba(torch.from_numpy(img[None, :, r:r + tile, c:c + tile]))
            acc[r:r + tile, c:c + tile] += p[0].numpy() * w2
            wsum[r:r + tile, c:c + tile] += w2
    np.testing.assert_allclose(got, acc / wsum, atol=2e-5)


def test_no_seam_between_adjacent_tiles(scene_model, sichuan_dir):
    """Two adjacent tiles, blended, compared with the same strip run as one big tile: at the
    tile edges the probability changes no more than the one-tile result does there; without
    overlap (no blending) the seam is plain, which shows the check can see one. Blending also
    agrees with the one big tile at least as well as hard tiling does (the absolute agreement
    between 128 px and 256 px of context is the model's, not the blending's: 0.67 for both
    with the fixture model trained on the 2-core development machine)."""
    from mrife.data import load_folder_scenes

    loaded = load_model(scene_model)
    scene = [s for s in load_folder_scenes(sichuan_dir / "images", sichuan_dir / "masks", 0.25)
             if s.name.endswith("011")][0]
    img = scene.image[:, :128, :256]
    pre = loaded.contract.preprocess.apply
    whole = predict_array(loaded.model, img, tile=256, overlap=0, preprocess=pre)

    def seam_ratio(overlap: int) -> tuple[float, float]:
        p = predict_array(loaded.model, img, tile=128, overlap=overlap, preprocess=pre)
        starts = window_starts(256, 128, 128 - overlap)
        edges = sorted(({s for s in starts} | {s + 128 for s in starts}) - {0, 256})
        jump = np.mean([np.abs(p[:, e] - p[:, e - 1]).mean() for e in edges])
        ref = np.mean([np.abs(whole[:, e] - whole[:, e - 1]).mean() for e in edges])
        both = ((p >= 0.5) & (whole >= 0.5)).sum() / max(((p >= 0.5) | (whole >= 0.5)).sum(), 1)
        return jump / max(ref, 1e-4), both

    blended, iou = seam_ratio(32)
    hard, iou_hard = seam_ratio(0)
    assert blended < 2.0, blended
    assert hard > 2.0 * blended, (hard, blended)
    assert iou >= iou_hard - 0.01, (iou, iou_hard)


# --- end to end -------------------------------------------------------------------------------

def test_detect_end_to_end(scene_model, geo_scene, tmp_path):
    out, prob = tmp_path / "found.gpkg", tmp_path / "prob.tif"
    calls = []
    result = detect(scene_model, geo_scene["raster"], out, prob, DetectOptions(device="cpu"),
                    progress=lambda d, t: calls.append((d, t)))
    assert result.tiles == 9 and calls[-1] == (9, 9)
    assert result.plan.pixel_size == pytest.approx(PIXEL)
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["found.gpkg", "prob.qml", "prob.tif"]

    found, rows = union(out, "landslides")
    labels, _ = union(geo_scene["labels"])
    assert found.Intersection(labels).GetArea() / found.Union(labels).GetArea() > 0.5
    assert result.count == len(rows) > 0
    sha = hashlib.sha256(scene_model.read_bytes()).hexdigest()[:16]
    threshold = load_model(scene_model).threshold      # chosen on validation in training
    for row in rows:
        g = row["geom"]
        assert threshold <= row["mean_prob"] <= row["max_prob"] <= 1.0
        assert row["area_m2"] >= 100.0
        # area is counted in pixels before the half-pixel simplification of the outline
        assert row["area_m2"] == pytest.approx(g.GetArea(), abs=g.Boundary().Length() * PIXEL / 2)
        assert row["perimeter_m"] == pytest.approx(g.Boundary().Length(), abs=0.01)
        assert row["model"] == "scene" and row["model_sha"] == sha
        assert row["threshold"] == pytest.approx(threshold)
        assert row["source"] == geo_scene["raster"].name and row["review"] == "unreviewed"
        datetime.fromisoformat(row["created"])
    assert sum(r["area_m2"] for r in rows) == pytest.approx(result.total_area_m2)
    # mean probability checked against the probability raster, independently
    p_ds = gdal.Open(str(prob))
    assert p_ds.GetRasterBand(1).GetNoDataValue() == -1
    p = p_ds.ReadAsArray()
    assert p.min() >= 0.0 and p.max() <= 1.0
    biggest = max(rows, key=lambda r: r["area_m2"])
    mem = gdal.GetDriverByName("MEM").Create("", p.shape[1], p.shape[0], 1, gdal.GDT_Byte)
    mem.SetGeoTransform(p_ds.GetGeoTransform())
    mem.SetProjection(p_ds.GetProjection())
    vds = ogr.GetDriverByName("Memory").CreateDataSource("")
    lyr = vds.CreateLayer("x", p_ds.GetSpatialRef(), ogr.wkbPolygon)
    f = ogr.Feature(lyr.GetLayerDefn())
    f.SetGeometry(biggest["geom"])
    lyr.CreateFeature(f)
    gdal.RasterizeLayer(mem, [1], lyr, burn_values=[1])
    inside = mem.ReadAsArray() == 1
    assert p[inside].mean() == pytest.approx(biggest["mean_prob"], abs=0.02)
    # the confidence style travels inside the GeoPackage as the layer's default
    ds = ogr.Open(str(out))
    style = ds.ExecuteSQL("SELECT f_table_name, useAsDefault, styleQML FROM layer_styles")
    srow = style.GetNextFeature()
    assert srow.GetField(0) == "landslides" and srow.GetField(1) == 1
    assert "graduatedSymbol" in srow.GetField(2) and "mean_prob" in srow.GetField(2)
    ds.ReleaseResultSet(style)


def test_geographic_copy_gives_the_same_polygons(scene_model, geo_scene, tmp_path):
    """The scene warped to EPSG:4326 is processed in UTM: polygons agree within a pixel and a
    half (the symmetric difference is at most 1.5 px wide along the outlines). The copy is
    resampled twice (UTM -> EPSG:4326 -> UTM); measured with the fixture model trained on the
    development machine: IoU 0.92, symmetric difference 1.02 px along the outlines. At the
    threshold 0.5 of that measurement (the fixture model's own threshold, chosen on its
    validation tiles, may sit where its probabilities are flat and outlines move more)."""
    a = detect(scene_model, geo_scene["raster"], tmp_path / "utm.gpkg",
               options=DetectOptions(device="cpu", threshold=0.5))
    b = detect(scene_model, geo_scene["geographic"], tmp_path / "geo.gpkg",
               options=DetectOptions(device="cpu", out_crs="EPSG:32648", threshold=0.5))
    assert b.plan.crs_name == "EPSG:32648" and any("geographic" in w for w in b.warnings)
    ua, rows = union(a.vector)
    ub, _ = union(b.vector)
    perimeter = sum(r["geom"].Boundary().Length() for r in rows)
    assert ua.SymDifference(ub).GetArea() <= perimeter * PIXEL * 1.5
    assert ua.Intersection(ub).GetArea() / ua.Union(ub).GetArea() > 0.9
    # the default output CRS is the raster's: EPSG:4326 for the geographic copy
    c = detect(scene_model, geo_scene["geographic"], tmp_path / "geo4326.gpkg",
               options=DetectOptions(device="cpu"))
    ds = ogr.Open(str(c.vector))          # keep the dataset alive while its layer is used
    srs = ds.GetLayer(0).GetSpatialRef()
    assert srs.IsGeographic() and srs.GetAuthorityCode(None) == "4326"


def test_extent_in_another_crs_and_area_polygons(scene_model, geo_scene, tmp_path):
    from osgeo import osr

    # the western half, given in WGS 84
    src, dst = osr.SpatialReference(), osr.SpatialReference()
    src.ImportFromEPSG(32648)
    dst.ImportFromEPSG(4326)
    dst.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    src.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    west = (400000.0, 3400000.0, 400256.0, 3400512.0)
    e = osr.CoordinateTransformation(src, dst).TransformBounds(*west, 21)
    r = detect(scene_model, geo_scene["raster"], tmp_path / "west.gpkg",
               options=DetectOptions(device="cpu", extent=e, extent_crs="EPSG:4326"))
    u, _ = union(r.vector)
    assert u is not None, "the fixture model finds landslides in the western half"
    assert u.GetEnvelope()[1] <= 400256.0 + 4 * PIXEL
    # polygons: a box in the east; nothing may be found outside it
    aoi = tmp_path / "aoi.gpkg"
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(aoi))
    lyr = ds.CreateLayer("aoi", src, ogr.wkbPolygon)
    f = ogr.Feature(lyr.GetLayerDefn())
    box = ogr.CreateGeometryFromWkt("POLYGON((400300 3400000,400512 3400000,400512 3400400,"
                                    "400300 3400400,400300 3400000))")
    f.SetGeometry(box)
    lyr.CreateFeature(f)
    ds = None
    r = detect(scene_model, geo_scene["raster"], tmp_path / "aoi_out.gpkg",
               options=DetectOptions(device="cpu", aoi=aoi))
    u, _ = union(r.vector)
    assert u is not None
    assert u.Difference(box.Buffer(PIXEL)).GetArea() == pytest.approx(0.0, abs=1e-6)


def test_cancel_leaves_nothing(scene_model, geo_scene, tmp_path):
    ticks = []
    with pytest.raises(Cancelled):
        detect(scene_model, geo_scene["raster"], tmp_path / "x.gpkg", tmp_path / "x.tif",
               DetectOptions(device="cpu", batch_size=1),
               progress=lambda d, t: ticks.append(d), should_stop=lambda: len(ticks) >= 2)
    assert len(ticks) == 2          # stopped at the next tile
    assert list(tmp_path.iterdir()) == []


def test_cli_detect(scene_model, geo_scene, tmp_path):
    cmd = [sys.executable, "-m", "mrife", "detect", "--model", str(scene_model), "--raster",
           str(geo_scene["raster"]), "--out", str(tmp_path / "o.gpkg"), "--probability",
           str(tmp_path / "p.tif"), "--device", "cpu", "--json", str(tmp_path / "r.json")]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["count"] > 0 and summary["tiles"] == 9
    bad = subprocess.run(cmd[:8] + ["--out", str(tmp_path / "o.shp")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "GeoPackage" in bad.stderr
    assert "Traceback" not in bad.stderr


# --- bad input: a clear message, nothing written -----------------------------------------------

def _copy(src: Path, dst: Path, **kw) -> Path:
    gdal.Translate(str(dst), str(src), **kw)
    return dst


def _refused(scene_model, raster, tmp_path, match, **opts):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    with pytest.raises((DetectionError, CheckpointError), match=match):
        detect(scene_model, raster, out / "x.gpkg", out / "x.tif",
               DetectOptions(device="cpu", **opts))
    assert list(out.iterdir()) == []


def test_raster_without_crs(scene_model, sichuan_dir, tmp_path):
    png = shutil.copy(sichuan_dir / "images" / "Landslide011.png", tmp_path)  # shared: read only
    _refused(scene_model, Path(png), tmp_path, "no coordinate reference system; assign one")


def test_area_outside_or_empty(scene_model, geo_scene, tmp_path):
    _refused(scene_model, geo_scene["raster"], tmp_path, "does not overlap scene011.tif",
             extent=(0, 0, 10, 10))
    _refused(scene_model, geo_scene["raster"], tmp_path, "is empty",
             extent=(400100, 3400100, 400100, 3400200))


def test_too_few_bands(scene_model, geo_scene, tmp_path):
    one = _copy(geo_scene["raster"], tmp_path / "one.tif", bandList=[1])
    _refused(scene_model, one, tmp_path, r"needs 3 band\(s\).*one.tif has 1")
    _refused(scene_model, geo_scene["raster"], tmp_path, "do not exist", bands=[1, 2, 7])


def test_sixteen_bit_and_float_imagery(scene_model, geo_scene, tmp_path):
    """An 8-bit model refuses 16-bit or 0-1 float imagery with an explanation; with rescale the
    imagery is stretched onto the training range and the result matches the 8-bit one."""
    ref = detect(scene_model, geo_scene["raster"], tmp_path / "ref.gpkg",
                 options=DetectOptions(device="cpu"))
    u16 = _copy(geo_scene["raster"], tmp_path / "u16.tif", outputType=gdal.GDT_UInt16,
                scaleParams=[[0, 255, 0, 65535]])
    f32 = _copy(geo_scene["raster"], tmp_path / "f32.tif", outputType=gdal.GDT_Float32,
                scaleParams=[[0, 255, 0, 1]])
    for raster, kind in ((u16, "UInt16"), (f32, "Float32")):
        _refused(scene_model, raster, tmp_path, f"\\({kind.lower()}\\).*rescale")
        res = detect(scene_model, raster, tmp_path / f"{kind}.gpkg",
                     options=DetectOptions(device="cpu", rescale=True))
        a, _ = union(ref.vector)
        b, _ = union(res.vector)
        assert a.Intersection(b).GetArea() / a.Union(b).GetArea() > 0.8


def test_nodata_everywhere(scene_model, geo_scene, tmp_path):
    blank = _copy(geo_scene["raster"], tmp_path / "blank.tif", scaleParams=[[0, 255, 7, 7]],
                  noData=7)
    _refused(scene_model, blank, tmp_path, "no valid pixels")


def test_nodata_area_is_excluded(scene_model, geo_scene, tmp_path):
    """A nodata block in the raster gets nodata probability and no polygon."""
    part = _copy(geo_scene["raster"], tmp_path / "part.tif", noData=0)
    ds = gdal.Open(str(part), gdal.GA_Update)
    for b in range(1, 4):
        ds.GetRasterBand(b).WriteArray(np.zeros((512, 1024), dtype=np.uint8), 0, 0)
    ds = None
    r = detect(scene_model, part, tmp_path / "p.gpkg", tmp_path / "p.tif",
               DetectOptions(device="cpu"))
    p = gdal.Open(str(r.probability)).ReadAsArray()
    assert (p[:128] == -1).all() and (p[128:] >= 0).mean() > 0.99
    u, _ = union(r.vector)
    assert u.GetEnvelope()[3] <= 3400256.0 + 1e-6


def test_bad_model_files(scene_model, geo_scene, tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(scene_model.read_bytes()[:5000])
    _refused(broken, geo_scene["raster"], tmp_path, "broken.pt")
    # a model for four bands
    loaded = load_model(scene_model)
    four = build_model(preset("baseline", backbone="resnet18", in_channels=4))
    pre = dict(loaded.contract.preprocessing)
    for key in ("quantiles", "mean", "std"):
        pre[key] = pre[key] + pre[key][:1]
    path = save_model(tmp_path / "four.pt", four,
                      DataContract(["r", "g", "b", "nir"], 2.0, 128, pre))
    _refused(path, geo_scene["raster"], tmp_path, r"needs 4 band\(s\) \(r, g, b, nir\)")


def test_destination_that_cannot_be_written(scene_model, geo_scene, tmp_path):
    with pytest.raises(DetectionError, match="does not exist"):
        detect(scene_model, geo_scene["raster"], tmp_path / "no" / "x.gpkg")
    (tmp_path / "taken.gpkg").mkdir()
    with pytest.raises(DetectionError, match="cannot be replaced"):
        detect(scene_model, geo_scene["raster"], tmp_path / "taken.gpkg")
    with pytest.raises(DetectionError, match="GeoPackage"):
        detect(scene_model, geo_scene["raster"], tmp_path / "x.shp")


class _SmallMemory(torch.nn.Module):
    """Fault injection: a real model that raises CUDA's out-of-memory error for batches above
    one tile, as a GPU would."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def predict_proba(self, x):
        if x.shape[0] > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        return self.inner.predict_proba(x)


def test_out_of_memory_retries_with_smaller_batch(scene_model, geo_scene, tmp_path):
    ref = detect(scene_model, geo_scene["raster"], tmp_path / "ref.gpkg", tmp_path / "ref.tif",
                 DetectOptions(device="cpu", batch_size=4))
    loaded = load_model(scene_model)
    loaded.model = _SmallMemory(loaded.model)
    r = detect(loaded, geo_scene["raster"], tmp_path / "oom.gpkg", tmp_path / "oom.tif",
               DetectOptions(device="cpu", batch_size=4))
    assert r.batch_size == 1
    assert any("out of memory; continued with batch size 1" in w for w in r.warnings)
    np.testing.assert_allclose(gdal.Open(str(r.probability)).ReadAsArray(),
                               gdal.Open(str(ref.probability)).ReadAsArray(), atol=1e-5)


def test_plan_counts_tiles(scene_model, geo_scene):
    plan = plan_detection(scene_model, geo_scene["raster"])
    assert (plan.width, plan.height, plan.tiles) == (256, 256, 9)
    assert "9 tile(s)" in plan.describe()


def test_bundled_model_finds_the_landslides_of_the_bundled_sample(tmp_path):
    """The shipped model on the shipped sample (four Sichuan test scenes it never saw), scored
    against the sample's outlines by rasterising both on the raster's grid (geodata's
    polygon_metrics, not the detection's own map). docs/demo.md: IoU 0.43, 4 of 6 found."""
    import shutil

    from mrife.geodata import polygon_metrics

    sample = ROOT / "resources" / "sample"
    ref = tmp_path / "ref.gpkg"
    shutil.copyfile(sample / "sichuan_sample_landslides.gpkg", ref)
    r = detect(ROOT / "resources" / "models" / "mrife-r18-sichuan.pt",
               sample / "sichuan_sample.tif", tmp_path / "found.gpkg",
               options=DetectOptions(device="cpu"))
    m = polygon_metrics(r.vector, ref, sample / "sichuan_sample.tif")
    assert r.count > 0
    assert m["iou_landslide"] > 0.35 and m["objects_found"] >= 3, m


def test_detection_uses_the_threshold_stored_in_the_model(scene_model, geo_scene, tmp_path):
    """A model file whose stored decision threshold is 0.3: detection without a threshold gives
    the polygons of an explicit 0.3 (not of 0.5), records 0.3 in the GeoPackage, and the area
    found matches the probability raster's pixels >= 0.3, counted here."""
    from mrife.checkpoint import atomic_save, read_payload

    data = read_payload(scene_model)
    data["decision"] = {"threshold": 0.3, "chosen_on": "test"}
    model = tmp_path / "thr.pt"
    atomic_save(data, model)
    assert load_model(model).threshold == 0.3
    runs = {}
    for name, thr in (("default", None), ("t30", 0.3), ("t50", 0.5)):
        runs[name] = detect(model, geo_scene["raster"], tmp_path / f"{name}.gpkg",
                            tmp_path / f"{name}.tif",
                            DetectOptions(device="cpu", threshold=thr, min_area=0))
    assert runs["default"].total_area_m2 == pytest.approx(runs["t30"].total_area_m2)
    assert runs["default"].total_area_m2 > runs["t50"].total_area_m2 * 1.01
    ds = gdal.Open(str(tmp_path / "default.tif"))
    p = ds.ReadAsArray()
    expected = float(((p >= 0.3) & (p >= 0)).sum()) * PIXEL ** 2
    assert runs["default"].total_area_m2 == pytest.approx(expected, rel=0.02)
    _, rows = union(tmp_path / "default.gpkg", "landslides")
    assert rows and all(r["threshold"] == pytest.approx(0.3) for r in rows)
