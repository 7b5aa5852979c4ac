"""Bad input that used to give a traceback, a hang or a quietly wrong map (issue 14): NaN and
inf pixels, damaged files, a huge sparse raster, two runs on one destination, labels without a
polygon. Real GDAL files, the real CLI and detection, the session's small scene model."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, osr

from mrife.cli import main
from mrife.detect import DetectionError, DetectOptions, detect
from mrife.errors import DataReadError
from mrife.geodata import load_raster_scenes
from mrife.leftovers import DestinationBusyError, DestinationLock
from tests import crafted

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "resources" / "sample"


def _float_scene(geo_scene, path: Path) -> Path:
    """The scene as float32 at the model's 2 m (so no resampling mixes NaN into neighbours)."""
    gdal.Translate(str(path), str(geo_scene["raster"]), outputType=gdal.GDT_Float32,
                   xRes=2.0, yRes=2.0, resampleAlg="average")
    return path


def _poke(path: Path, rows: slice, cols: slice, value: float) -> None:
    ds = gdal.Open(str(path), gdal.GA_Update)
    for b in range(1, ds.RasterCount + 1):
        band = ds.GetRasterBand(b)
        a = band.ReadAsArray()
        a[rows, cols] = value
        band.WriteArray(a)
    ds = None


def _prob(path: Path) -> np.ndarray:
    ds = gdal.Open(str(path))
    return ds.ReadAsArray()


@pytest.fixture(scope="module")
def clean_run(scene_model, geo_scene, tmp_path_factory):
    d = tmp_path_factory.mktemp("clean")
    raster = _float_scene(geo_scene, d / "f.tif")
    r = detect(scene_model, raster, d / "o.gpkg", d / "p.tif",
               DetectOptions(device="cpu"))
    return raster, _prob(r.probability)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_speck_is_invalid_and_nothing_else_changes(value, scene_model, clean_run, tmp_path):
    """A 10 x 10 px speck of NaN/inf: exactly those pixels are nodata in the probability map;
    every other pixel is valid and, beyond the network's reach of the speck (one tile), the
    same as without the speck. Before: the whole tile around the speck was blanked."""
    raster, ref = clean_run
    speck = tmp_path / "speck.tif"
    gdal.Translate(str(speck), str(raster))
    _poke(speck, slice(100, 110), slice(60, 70), value)
    r = detect(scene_model, speck, tmp_path / "o.gpkg", tmp_path / "p.tif",
               DetectOptions(device="cpu"))
    p = _prob(r.probability)
    nodata = p == -1
    expected = np.zeros_like(nodata)
    expected[100:110, 60:70] = True
    assert np.array_equal(nodata, expected)
    assert np.isfinite(p).all()
    far = np.ones_like(nodata)
    far[max(100 - 128, 0):110 + 128, max(60 - 128, 0):70 + 128] = False
    np.testing.assert_allclose(p[far], ref[far], atol=1e-4)
    near = ~far & ~expected
    assert np.abs(p[near] - ref[near]).mean() < 0.05        # not blanked: close to the clean map


def test_nan_block_and_all_nan(scene_model, clean_run, tmp_path):
    raster, _ = clean_run
    block = tmp_path / "block.tif"
    gdal.Translate(str(block), str(raster))
    _poke(block, slice(0, 64), slice(0, 256), np.nan)
    r = detect(scene_model, block, tmp_path / "o.gpkg", tmp_path / "p.tif",
               DetectOptions(device="cpu"))
    p = _prob(r.probability)
    assert (p[:64] == -1).all() and (p[64:] >= 0).all()
    allnan = tmp_path / "allnan.tif"
    gdal.Translate(str(allnan), str(raster))
    _poke(allnan, slice(None), slice(None), np.nan)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DetectionError, match="no valid pixels.*NaN"):
        detect(scene_model, allnan, out / "o.gpkg", out / "p.tif",
               DetectOptions(device="cpu"))
    assert list(out.iterdir()) == []


def test_nan_pixels_are_invalid_for_training(geo_scene, tmp_path):
    """Training reads NaN pixels as invalid (never labelled, never fed to the network)."""
    raster = tmp_path / "f.tif"
    gdal.Translate(str(raster), str(geo_scene["raster"]), outputType=gdal.GDT_Float32)
    _poke(raster, slice(0, 200), slice(0, 1024), np.nan)
    parts, _, _ = load_raster_scenes(raster, geo_scene["labels"], tile_size=128,
                                     ground_resolution=None)
    scenes = [s for v in parts.values() for s in v]
    for s in scenes:
        assert np.isfinite(s.image).all()
        r0 = s.meta["row"]
        top = max(0, min(200 - r0, s.valid.shape[0]))
        assert not s.valid[:top].any()
    assert sum(int(s.valid.sum()) for s in scenes) == 1024 * (1024 - 200)


def _run_cli(capsys, *argv) -> tuple[int, str]:
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def _one_line(rc, err, words):
    assert rc == 1 and err.startswith("error: ") and err.count("\n") == 1, err
    assert words in err, err


def test_truncated_geotiff_and_vrt_with_missing_source(scene_model, geo_scene, tmp_path, capsys):
    full = tmp_path / "full.tif"
    gdal.Translate(str(full), str(geo_scene["raster"]), creationOptions=["TILED=YES"])
    data = full.read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(data[:len(data) // 2])
    out = tmp_path / "o.gpkg"
    _one_line(*_run_cli(capsys, "detect", "--model", scene_model, "--raster", cut, "--out",
                        out, "--device", "cpu"), "cut.tif")
    src = tmp_path / "src.tif"
    gdal.Translate(str(src), str(geo_scene["raster"]))
    vrt = tmp_path / "mosaic.vrt"
    gdal.BuildVRT(str(vrt), [str(src)]).FlushCache()        # written when the dataset closes
    src.unlink()
    rc, err = _run_cli(capsys, "detect", "--model", scene_model, "--raster", vrt, "--out", out,
                       "--device", "cpu")
    _one_line(rc, err, "mosaic.vrt")
    # in a fresh process too: GDAL's own "ERROR 4: ..." line (written to the C-level stderr,
    # which capsys does not see) must not come before ours
    done = subprocess.run([sys.executable, "-m", "mrife", "detect", "--model",
                           str(scene_model), "--raster", str(vrt), "--out", str(out), "--device",
                           "cpu"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    _one_line(done.returncode, done.stderr, "mosaic.vrt")
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    with pytest.raises(DataReadError, match="cut.tif"):
        load_raster_scenes(cut, geo_scene["labels"], tile_size=128)


def test_huge_sparse_raster_answers_within_seconds(scene_model, tmp_path, capsys):
    """100 000 x 100 000 px (a sparse 1.8 MB file): the plan and a refusal come at once."""
    path = tmp_path / "huge.tif"
    ds = gdal.GetDriverByName("GTiff").Create(str(path), 100_000, 100_000, 3, gdal.GDT_Byte,
                                              ["SPARSE_OK=TRUE", "TILED=YES",
                                               "COMPRESS=DEFLATE"])
    ds.SetGeoTransform((400000.0, 0.5, 0, 3400000.0, 0, -0.5))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32648)
    ds.SetProjection(srs.ExportToWkt())
    ds = None
    assert path.stat().st_size < 5e6
    t = time.monotonic()
    rc = main(["detect", "--plan", "--model", str(scene_model), "--raster", str(path), "--out",
               str(tmp_path / "o.gpkg"), "--device", "cpu"])
    out = capsys.readouterr().out
    assert rc == 0 and "--allow-large" in out and "tile(s)" in out
    rc, err = _run_cli(capsys, "detect", "--model", scene_model, "--raster", path, "--out",
                       tmp_path / "o.gpkg", "--device", "cpu")
    _one_line(rc, err, "--allow-large")
    assert time.monotonic() - t < 60
    assert not (tmp_path / "o.gpkg").exists()


def test_second_run_on_the_same_destination_is_refused(scene_model, geo_scene, tmp_path,
                                                       capsys):
    out = tmp_path / "o.gpkg"
    out.write_bytes(b"previous result")
    with DestinationLock(out):                   # another run holds it (a real OS lock)
        with pytest.raises(DestinationBusyError, match="being written by another run"):
            detect(scene_model, geo_scene["raster"], out, options=DetectOptions(device="cpu"))
        _one_line(*_run_cli(capsys, "detect", "--model", scene_model, "--raster",
                            geo_scene["raster"], "--out", out, "--device", "cpu"),
                  "being written by another run")
        prob = tmp_path / "free.tif"
        with pytest.raises(DestinationBusyError):
            detect(scene_model, geo_scene["raster"], out, prob, DetectOptions(device="cpu"))
        assert not prob.exists()
    assert out.read_bytes() == b"previous result"
    r = detect(scene_model, geo_scene["raster"], out, options=DetectOptions(device="cpu"))
    assert r.count > 0 and not (tmp_path / ".o.gpkg.lock").exists()


def test_json_into_a_missing_folder_is_refused_before_work(scene_model, geo_scene, tmp_path,
                                                           capsys):
    out = tmp_path / "o.gpkg"
    _one_line(*_run_cli(capsys, "detect", "--model", scene_model, "--raster",
                        geo_scene["raster"], "--out", out, "--json", tmp_path / "no" / "r.json",
                        "--device", "cpu"), "does not exist")
    assert not out.exists()


def test_labels_without_a_real_polygon_are_refused(geo_scene, tmp_path, capsys):
    x, y = 400100.0, 3400100.0
    degenerate = [
        "",                                                          # NULL geometry
        "POLYGON EMPTY",
        f"POLYGON (({x} {y}, {x + 50} {y}, {x + 100} {y}, {x} {y}))",  # collinear: no area
        f"POINT ({x} {y})",
        f"LINESTRING ({x} {y}, {x + 80} {y - 80})",
    ]
    bad = crafted.label_layer(tmp_path / "bad.gpkg", degenerate)
    with pytest.raises(ValueError, match=r"no usable landslide polygon \(2 empty, 3 points"):
        load_raster_scenes(geo_scene["raster"], bad, tile_size=128, ground_resolution=2.0)
    rc, err = _run_cli(capsys, "train", "--raster", geo_scene["raster"], "--labels", bad,
                       "--tile-size", "128", "--ground-resolution", "2", "--epochs", "1",
                       "--backbone", "resnet18", "--out", tmp_path / "m.pt")
    _one_line(rc, err, "no usable landslide polygon")
    # one real polygon among them: it is the only label; the point burns no pixel
    square = f"POLYGON (({x} {y}, {x + 40} {y}, {x + 40} {y - 40}, {x} {y - 40}, {x} {y}))"
    mixed = crafted.label_layer(tmp_path / "mixed.gpkg", [*degenerate, square])
    parts, report, _ = load_raster_scenes(geo_scene["raster"], mixed, tile_size=128,
                                          ground_resolution=2.0)
    assert report.landslides == 1 and report.dropped_not_polygon == 3
    assert report.dropped_empty == 2
    burned = sum(int(s.label.sum()) for v in parts.values() for s in v)
    assert burned == (40 // 2) ** 2                  # the 40 m square at 2 m/px, nothing else


def test_stale_temporaries_of_dead_runs_are_removed(scene_model, geo_scene, tmp_path):
    """Leftovers of a dead run (no lock held) go; a live run's (lock held) stay."""
    from mrife.leftovers import lock_folder

    dead = tmp_path / ".mrife-detect-dead"
    dead.mkdir()
    (dead / ".owner").write_text("12345\n")
    (dead / "probability.tif").write_bytes(b"x")
    live = tmp_path / ".mrife-detect-live"
    live.mkdir()
    fd = lock_folder(live)
    old = tmp_path / ".mrife-detect-old"        # no owner file at all, an hour old
    old.mkdir()
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    part = tmp_path / ".o.gpkg.lock"
    part.write_text("")
    try:
        detect(scene_model, geo_scene["raster"], tmp_path / "o.gpkg",
               options=DetectOptions(device="cpu"))
        names = sorted(p.name for p in tmp_path.iterdir())
        assert names == [".mrife-detect-live", "o.gpkg"], names
    finally:
        os.close(fd)
