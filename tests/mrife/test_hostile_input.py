"""Imagery, polygons and destinations that used to crash, or to map the wrong thing without a
word (issue 31). Real GDAL files made here from the bundled sample, the bundled model, the real
CLI; what could segfault runs in a subprocess so that a crash fails the test instead of pytest."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

from mrife.cli import main
from mrife.geodata import load_raster_scenes, polygonal
from tests import crafted

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "resources" / "sample" / "sichuan_sample.tif"
LABELS = ROOT / "resources" / "sample" / "sichuan_sample_landslides.gpkg"
BUNDLED = ROOT / "resources" / "models" / "mrife-r18-sichuan.pt"
SPIKE = ("POLYGON((400100 3399900,400900 3399900,400900 3399100,400500 3399100,"
         "400500 3398500,400500 3399100,400100 3399100,400100 3399900))")


def _cli(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mrife", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def _polygons(path: Path, wkts: list[str], name: str = "a", fields=None) -> Path:
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32648)
    lyr = ds.CreateLayer(name, srs, ogr.wkbUnknown)
    for f in fields or {}:
        lyr.CreateField(ogr.FieldDefn(f, ogr.OFTString))
    for i, w in enumerate(wkts):
        feat = ogr.Feature(lyr.GetLayerDefn())
        feat.SetGeometry(ogr.CreateGeometryFromWkt(w))
        for f, values in (fields or {}).items():
            feat.SetField(f, values[i])
        lyr.CreateFeature(feat)
    ds = None
    return path


def _sample_bands() -> tuple[np.ndarray, tuple, str]:
    src = gdal.Open(str(SAMPLE))
    return src.ReadAsArray(), src.GetGeoTransform(), src.GetProjection()


def _raster(path: Path, arrays, interps=None, gt=None, wkt=None) -> Path:
    _, sgt, swkt = _sample_bands()
    return crafted.byte_raster(path, arrays, gt or sgt, wkt or swkt, interps)


def _read(path: Path) -> np.ndarray:
    ds = gdal.Open(str(path))
    return ds.GetRasterBand(1).ReadAsArray()


def test_polygonal_keeps_owned_parts_of_repaired_spikes_and_collections():
    """The parts of a repaired spiked outline (a collection of a polygon and a line) and of a
    nested collection, taken many times over: it used to read freed OGR memory and segfault.
    Areas against a hand computation."""
    for _ in range(300):
        g = polygonal(ogr.CreateGeometryFromWkt(SPIKE).MakeValid())
        c = polygonal(ogr.CreateGeometryFromWkt(
            "GEOMETRYCOLLECTION(POLYGON((0 0,2 0,2 2,0 0)),MULTIPOLYGON(((5 5,6 5,6 6,5 5)),"
            "((7 7,9 7,9 9,7 7))),LINESTRING(0 0,3 3),GEOMETRYCOLLECTION(POINT(1 1)))"))
    assert g.GetArea() == pytest.approx(800 * 800)
    assert c.GetGeometryCount() == 3 and c.GetArea() == pytest.approx(2 + 0.5 + 2)


def test_spiked_area_and_label_polygons_do_not_crash(tmp_path):
    """detect --aoi and train --labels with a hand-drawn outline with a spike, in fresh
    processes: they exit normally (not SIGSEGV) and the area is the outline without its
    spike."""
    spiked = _polygons(tmp_path / "spike.gpkg", [SPIKE])
    r = _cli("detect", "--device", "cpu", "--model", BUNDLED, "--raster", SAMPLE, "--out",
             tmp_path / "o.gpkg", "--aoi", spiked)
    assert r.returncode == 0, r.stderr
    assert "400 x 400 px" in r.stdout                 # 800 m square at 2 m, spike dropped
    r = _cli("export-tiles", "--raster", SAMPLE, "--labels", spiked, "--out", tmp_path / "t",
             "--ground-resolution", "2", "--tile-size", "128")
    assert r.returncode == 0, r.stderr


def test_alpha_band_is_validity(tmp_path):
    """An RGBA raster whose left quarter is transparent: those pixels are nodata in the
    probability map and no polygon reaches into them; the rest equals the RGB run."""
    rgb, _, _ = _sample_bands()
    alpha = np.full(rgb.shape[1:], 255, np.uint8)
    alpha[:, :512] = 0
    rgba = _raster(tmp_path / "rgba.tif", [*rgb, alpha], [gdal.GCI_RedBand, gdal.GCI_GreenBand,
                                                           gdal.GCI_BlueBand, gdal.GCI_AlphaBand])
    assert main(["detect", "--device", "cpu", "--model", str(BUNDLED), "--raster", str(rgba),
                 "--out", str(tmp_path / "a.gpkg"), "--probability", str(tmp_path / "a.tif"),
                 "--quiet"]) == 0
    prob = _read(tmp_path / "a.tif")
    # the model's grid is 2 m: 4 source pixels a side; 512 transparent columns = 128 columns
    assert (prob[:, :128] == -1).all() and (prob[:, 128:] != -1).all()
    src = ogr.Open(str(tmp_path / "a.gpkg"))       # kept: a layer dies with its data source
    lyr = src.GetLayer(0)
    x_edge = 400000 + 512 * 0.5
    assert all(f.GetGeometryRef().GetEnvelope()[0] >= x_edge - 1e-6 for f in lyr)


def test_colour_interpretation_picks_the_bands(tmp_path, capsys):
    """A raster declared NIR, B, G, R feeds bands 4, 3, 2 to an RGB model, says so, and maps
    exactly what the RGB raster maps."""
    rgb, _, _ = _sample_bands()
    nir = rgb.mean(axis=0).astype(np.uint8)
    nbgr = _raster(tmp_path / "nbgr.tif", [nir, rgb[2], rgb[1], rgb[0]],
                   [gdal.GCI_Undefined, gdal.GCI_BlueBand, gdal.GCI_GreenBand, gdal.GCI_RedBand])
    base = ["detect", "--device", "cpu", "--model", str(BUNDLED), "--precision", "float32"]
    assert main([*base, "--raster", str(nbgr), "--out", str(tmp_path / "n.gpkg"),
                 "--probability", str(tmp_path / "n.tif")]) == 0
    assert "bands 4,3,2 feed the model's red, green, blue" in capsys.readouterr().out
    assert main([*base, "--raster", str(SAMPLE), "--out", str(tmp_path / "s.gpkg"),
                 "--probability", str(tmp_path / "s.tif")]) == 0
    np.testing.assert_array_equal(_read(tmp_path / "n.tif"), _read(tmp_path / "s.tif"))


def test_palette_raster_gets_the_expand_advice(tmp_path, capsys):
    crafted.byte_raster(tmp_path / "pal.tif", [np.zeros((256, 256), np.uint8)],
                        (400000, 2, 0, 3400000, 0, -2), gdal.Open(str(SAMPLE)).GetProjection(),
                        palette=True)
    rc = main(["detect", "--device", "cpu", "--model", str(BUNDLED), "--raster",
               str(tmp_path / "pal.tif"), "--out", str(tmp_path / "o.gpkg")])
    err = capsys.readouterr().err
    assert rc == 1 and "gdal_translate -expand rgb pal.tif" in err and err.count("\n") == 1


def test_antimeridian_polygons_are_split_not_wrapped(tmp_path):
    """A geographic raster across 180°: each output polygon part stays within a few metres'
    worth of degrees, instead of spanning -180..180 around the globe."""
    rgb, _, _ = _sample_bands()
    small = rgb[:, ::4, ::4]
    d = 2 / 111320
    wgs = osr.SpatialReference()
    wgs.ImportFromEPSG(4326)
    am = _raster(tmp_path / "am.tif", list(small), gt=(180 - 256 * d, d, 0, -17.0, 0, -d),
                 wkt=wgs.ExportToWkt())
    assert main(["detect", "--device", "cpu", "--model", str(BUNDLED), "--raster", str(am),
                 "--out", str(tmp_path / "o.gpkg"), "--quiet"]) == 0
    src = ogr.Open(str(tmp_path / "o.gpkg"))
    lyr = src.GetLayer(0)
    widths, sides = [], set()
    for f in lyr:
        g = f.GetGeometryRef()
        for i in range(g.GetGeometryCount()):
            e = g.GetGeometryRef(i).GetEnvelope()
            widths.append(e[1] - e[0])
            sides.add(e[0] > 0)
    assert widths and max(widths) < 0.01 and sides == {True, False}


def test_tiny_pixels_are_warned_about(tmp_path, capsys):
    rgb, _, wkt = _sample_bands()
    tiny = _raster(tmp_path / "cm.tif", list(rgb[:, :1100, :1100]),
                   gt=(400000, 0.01, 0, 3400000, 0, -0.01), wkt=wkt)
    assert main(["detect", "--device", "cpu", "--model", str(BUNDLED), "--raster", str(tiny),
                 "--out", str(tmp_path / "o.gpkg"), "--plan"]) == 0
    out = capsys.readouterr().out
    assert "200 times finer than the model's 2 m" in out and "only 6 x 6 px" in out


def _plugin_label_file(path: Path) -> tuple[Path, int]:
    """The plugin's label GeoPackage: ``mapped_area`` written first, then ``labels`` with the
    class field, every third sample outline marked 'not landslide'. Returns it and the number
    of negatives."""
    src = ogr.Open(str(LABELS))
    wkts = [f.GetGeometryRef().ExportToWkt() for f in src.GetLayer(0)]
    classes = ["not landslide" if i % 3 == 0 else "landslide" for i in range(len(wkts))]
    _polygons(path, ["POLYGON((400000 3400000,401024 3400000,401024 3399488,400000 3399488,"
                     "400000 3400000))"], name="mapped_area")          # the northern half
    ds = ogr.Open(str(path), 1)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32648)
    lyr = ds.CreateLayer("labels", srs, ogr.wkbPolygon)
    lyr.CreateField(ogr.FieldDefn("class", ogr.OFTString))
    for w, c in zip(wkts, classes, strict=True):
        feat = ogr.Feature(lyr.GetLayerDefn())
        feat.SetGeometry(ogr.CreateGeometryFromWkt(w))
        feat.SetField("class", c)
        lyr.CreateFeature(feat)
    ds = None
    return path, classes.count("not landslide")


def test_the_plugins_label_file_is_read_by_its_schema(tmp_path):
    """'not landslide' polygons are not burned as landslides, the labels layer is found although
    mapped_area comes first, and that mapped area limits the labelled ground. Against a hand
    rasterisation of the landslide-class outlines."""
    path, negatives = _plugin_label_file(tmp_path / "plugin.gpkg")
    parts, report, _ = load_raster_scenes(SAMPLE, path, ground_resolution=2.0, tile_size=128)
    assert report.negatives == negatives and report.mapped_area
    blocks = [b for k in parts for b in parts[k]]
    got = sum(int(b.label.sum()) for b in blocks)
    valid = sum(int(b.valid.sum()) for b in blocks)
    # by hand: the landslide-class polygons burned on the same 2 m grid
    mem = gdal.Translate("", str(SAMPLE), format="MEM", xRes=2, yRes=2, resampleAlg="average")
    grid = gdal.GetDriverByName("MEM").Create("", mem.RasterXSize, mem.RasterYSize, 1)
    grid.SetGeoTransform(mem.GetGeoTransform())
    grid.SetProjection(mem.GetProjection())
    src = ogr.Open(str(path))
    lyr = src.GetLayerByName("labels")
    lyr.SetAttributeFilter("class = 'landslide'")
    gdal.RasterizeLayer(grid, [1], lyr, burn_values=[1])
    want = int(grid.GetRasterBand(1).ReadAsArray().sum())
    assert got == want
    assert valid < 512 * 512          # the mapped area (and the negatives) only


def test_ambiguous_and_foreign_label_files_are_refused(tmp_path, capsys):
    two = _polygons(tmp_path / "two.gpkg", [SPIKE], name="first")
    ds = ogr.Open(str(two), 1)
    ds.CreateLayer("second", ds.GetLayer(0).GetSpatialRef(), ogr.wkbPolygon)
    ds = None
    rc = main(["export-tiles", "--raster", str(SAMPLE), "--labels", str(two), "--out",
               str(tmp_path / "t"), "--ground-resolution", "2", "--tile-size", "128"])
    err = capsys.readouterr().err
    assert rc == 1 and "first, second" in err and "|layername=NAME" in err, err
    # the layer named in QGIS's form is read
    rc = main(["export-tiles", "--raster", str(SAMPLE), "--labels", f"{two}|layername=first",
               "--out", str(tmp_path / "t"), "--ground-resolution", "2", "--tile-size", "128"])
    assert rc == 0, capsys.readouterr().err
    other = _polygons(tmp_path / "c.gpkg", [SPIKE], fields={"class": ["rockfall"]})
    rc = main(["export-tiles", "--raster", str(SAMPLE), "--labels", str(other), "--out",
               str(tmp_path / "t2"), "--ground-resolution", "2", "--tile-size", "128"])
    err = capsys.readouterr().err
    assert rc == 1 and "'rockfall'" in err and err.count("\n") == 1, err


@pytest.mark.parametrize("command", ["export-tiles", "export-model", "train"])
def test_destinations_are_checked_before_any_work(command, tmp_path, capsys):
    """A folder where a file goes (and a file where a folder goes), and a read-only file
    system (a bind mount would need privileges; /proc is read-only for everyone): one line
    before any work, nothing written."""
    files = {"export-tiles": ["--raster", SAMPLE, "--labels", LABELS, "--tile-size", "128",
                              "--ground-resolution", "2"],
             "export-model": ["--model", BUNDLED],
             "train": ["--raster", SAMPLE, "--labels", LABELS, "--arch", "deeplabv3plus",
                       "--backbone", "resnet18", "--tile-size", "128", "--epochs", "1",
                       "--device", "cpu"]}[command]
    wrong = tmp_path / "x.txt" if command == "export-tiles" else tmp_path
    if command == "export-tiles":
        wrong.write_text("a file")
    for out, words in ((wrong, "it is a f"), (Path("/proc/mrife-out/m.pt"), "not writable")):
        t = time.monotonic()
        rc = main([command, *map(str, files), "--out", str(out)])
        err = capsys.readouterr().err
        assert rc == 1 and words in err and err.count("\n") == 1, err
        assert time.monotonic() - t < 5


def test_resume_with_another_network_is_refused_first(tmp_path):
    """A resume file of a DeepLabv3+ run, resumed with --arch icssn: one line naming both."""
    from tests.mrife.test_kill import _train_args

    out = tmp_path / "m.pt"
    args = _train_args(tmp_path, out, 2)
    proc = subprocess.Popen([sys.executable, "-m", "mrife", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if line.startswith("epoch 1/2") or "epoch 1" in line:
            proc.send_signal(signal.SIGTERM)
            break
    proc.wait(120)
    assert (tmp_path / "m.resume.pt").exists(), "SIGTERM in epoch 1 left no resume file"
    other = [("icssn" if a == "deeplabv3plus" else a) for a in args]
    r = _cli(*other, "--resume")
    assert r.returncode == 1 and "another network" in r.stderr and "arch 'deeplabv3plus'" in \
        r.stderr and r.stderr.count("\n") == 1, r.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_in_the_first_epoch_keeps_a_resume_file(sig, tmp_path):
    """SIGINT or SIGTERM during epoch 1: the run stops after its step, writes the resume file
    and says so; --resume then completes."""
    from tests.mrife.test_kill import _train_args

    out = tmp_path / "m.pt"
    args = _train_args(tmp_path, out, 2)
    proc = subprocess.Popen([sys.executable, "-m", "mrife", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "step 1/" in line or "expected" in line:
            proc.send_signal(sig)
            break
    rest = proc.communicate(timeout=120)[0]
    assert proc.returncode == 3, "".join(seen) + rest
    assert "cancelled" in rest and (tmp_path / "m.resume.pt").exists()
    r = _cli(*args, "--resume")
    assert r.returncode == 0 and "completed" in r.stdout, r.stdout + r.stderr


def test_sigterm_during_detection_leaves_nothing(tmp_path):
    """SIGTERM cleans up as Ctrl+C does: no temporary folder, no lock, no output."""
    proc = subprocess.Popen([sys.executable, "-m", "mrife", "detect", "--device", "cpu",
                             "--model", str(BUNDLED), "--raster", str(SAMPLE), "--out",
                             str(tmp_path / "o.gpkg"), "--probability", str(tmp_path / "p.tif"),
                             "--overlap", "96"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if line.startswith("tiles "):
            proc.send_signal(signal.SIGTERM)
            break
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert sorted(os.listdir(tmp_path)) == []


def test_min_area_nan_is_refused(tmp_path, capsys):
    rc = main(["detect", "--device", "cpu", "--model", str(BUNDLED), "--raster", str(SAMPLE),
               "--out", str(tmp_path / "o.gpkg"), "--min-area", "nan"])
    err = capsys.readouterr().err
    assert rc == 1 and "minimum area nan" in err and not (tmp_path / "o.gpkg").exists()
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.parametrize("command", ["detect", "export-model", "train"])
def test_full_disk_is_one_line_and_leaves_nothing(command, tmp_path, capsys):
    """A 64 KiB file system that fills at once (a real tmpfs; skipped where this process may not
    mount): one line that says so, not a traceback nor a blamed input raster, and nothing left
    on it."""
    with crafted.tmpfs("size=64k") as full:
        if full is None:
            pytest.skip("mounting a tmpfs needs root")
        args = {"detect": ["detect", "--device", "cpu", "--model", BUNDLED, "--raster", SAMPLE,
                           "--out", full / "o.gpkg", "--probability", full / "p.tif"],
                "export-model": ["export-model", "--model", BUNDLED, "--out", full / "x.pt"],
                "train": ["train", "--raster", SAMPLE, "--labels", LABELS, "--arch",
                          "deeplabv3plus", "--backbone", "resnet18", "--tile-size", "128",
                          "--ground-resolution", "4", "--epochs", "1", "--max-steps-per-epoch",
                          "1", "--batch-size", "2", "--device", "cpu", "--out",
                          full / "m.pt"]}[command]
        r = _cli(*args)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        last = r.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and ("disk is full" in last or "probably full" in last)
        assert "sichuan_sample.tif" not in last
        assert sorted(os.listdir(full)) == []


def test_read_only_file_system_is_refused_before_work(tmp_path, capsys):
    with crafted.tmpfs("ro,size=1m") as ro:
        if ro is None:
            pytest.skip("mounting a tmpfs needs root")
        rc = main(["export-model", "--model", str(BUNDLED), "--out", str(ro / "x.pt")])
        err = capsys.readouterr().err
        assert rc == 1 and "Read-only file system" in err and err.count("\n") == 1, err
