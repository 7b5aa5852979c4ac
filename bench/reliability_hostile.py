"""The cases of issue 31 for ``make reliability`` (bench/reliability.py calls ``add_cases``):
model files that are safe to unpickle but not sane, imagery read wrongly, polygons that crashed,
label files of the plugin's own schema, destinations, arguments, resume, signals. Each is a
command a user types; ``check`` functions compare the result with an independent reading of the
files (``(text, ok)``: ok False counts as a silently wrong result)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from osgeo import gdal, ogr, osr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests import crafted  # noqa: E402

MODEL = ROOT / "resources" / "models" / "mrife-r18-sichuan.pt"
SAMPLE = ROOT / "resources" / "sample" / "sichuan_sample.tif"
LABELS = ROOT / "resources" / "sample" / "sichuan_sample_landslides.gpkg"
SPIKE = ("POLYGON((400100 3399900,400900 3399900,400900 3399100,400500 3399100,"
         "400500 3398500,400500 3399100,400100 3399100,400100 3399900))")
TRAIN = ["--arch", "deeplabv3plus", "--backbone", "resnet18", "--tile-size", "128",
         "--ground-resolution", "4", "--epochs", "2", "--max-steps-per-epoch", "2",
         "--batch-size", "2", "--device", "cpu", "--quiet"]


def edited_model(edit):
    return lambda f: crafted.edited_model(f / "m.pt", MODEL, edit)


def bomb(f: Path) -> Path:
    return crafted.zip_bomb(f / "m.pt", MODEL, 1536)


def _conv(d: dict) -> str:
    return next(k for k, v in d["state_dict"].items() if v.ndim == 4)


def _int8_nan(f: Path) -> Path:
    from mrife.checkpoint import load_model, model_payload, plain

    loaded = load_model(MODEL)
    payload = model_payload(loaded.model, loaded.contract, precision="int8")
    next(iter(payload["quantized"].values()))["scale"][0] = float("nan")
    torch.save(plain(payload), f / "m.pt")
    return f / "m.pt"


MODEL_EDITS = {
    "tile size 65536": lambda d: d["data_contract"].update(tile_size=65536),
    "tile size 100 (not a multiple of 8)": lambda d: d["data_contract"].update(tile_size=100),
    "preprocessing std 0": lambda d: d["data_contract"]["preprocessing"].update(
        std=[0.0, 1.0, 1.0]),
    "preprocessing mean NaN": lambda d: d["data_contract"]["preprocessing"].update(
        mean=[float("nan"), 0.0, 0.0]),
    "NaN weights": lambda d: d["state_dict"][_conv(d)].fill_(float("nan")),
    "NaN stored threshold": lambda d: d.update(decision={"threshold": float("nan")}),
    "stored threshold 1.5": lambda d: d.update(decision={"threshold": 1.5}),
    "ground resolution 0": lambda d: d["data_contract"].update(ground_resolution=0.0),
    "ground resolution -2": lambda d: d["data_contract"].update(ground_resolution=-2.0),
    "format_version '1' (a string)": lambda d: d.update(format_version="1"),
    "no bands": lambda d: d["data_contract"].update(bands=[]),
}


def _sample():
    ds = gdal.Open(str(SAMPLE))
    return ds.ReadAsArray(), ds.GetGeoTransform(), ds.GetProjection()


def raster(name: str, bands_of, interps=None, gt=None, wkt=None, table=False):
    def make(f: Path) -> Path:
        rgb, sgt, swkt = _sample()
        return crafted.byte_raster(f / name, bands_of(rgb), gt or sgt, wkt or swkt, interps,
                                   palette=table)
    return make


def polygons(name: str, wkts, layer="a", fields=None, more_layers=()):
    def make(f: Path) -> Path:
        ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(f / name))
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(32648)
        for extra, extra_wkts in more_layers:
            lyr = ds.CreateLayer(extra, srs, ogr.wkbPolygon)
            for w in extra_wkts:
                feat = ogr.Feature(lyr.GetLayerDefn())
                feat.SetGeometry(ogr.CreateGeometryFromWkt(w))
                lyr.CreateFeature(feat)
        lyr = ds.CreateLayer(layer, srs, ogr.wkbUnknown)
        for fld in fields or {}:
            lyr.CreateField(ogr.FieldDefn(fld, ogr.OFTString))
        for i, w in enumerate(wkts(f) if callable(wkts) else wkts):
            feat = ogr.Feature(lyr.GetLayerDefn())
            feat.SetGeometry(ogr.CreateGeometryFromWkt(w))
            for fld, values in (fields or {}).items():
                feat.SetField(fld, values[i])
            lyr.CreateFeature(feat)
        ds = None
        return f / name
    return make


def _outlines(_f=None) -> list[str]:
    src = ogr.Open(str(LABELS))
    return [feat.GetGeometryRef().ExportToWkt() for feat in src.GetLayer(0)]


def _prob(path: Path) -> np.ndarray:
    ds = gdal.Open(str(path))
    return ds.GetRasterBand(1).ReadAsArray()


def add_cases(case, work: Path) -> None:
    det = ["detect", "--device", "cpu", "--raster", SAMPLE, "--out", lambda f: f / "o.gpkg"]
    for name, edit in MODEL_EDITS.items():
        case(f"model file: {name} -> detect", [*det, "--model", edited_model(edit)],
             allowed={"m.pt"})
    case("model file: int8 scale NaN -> detect", [*det, "--model", _int8_nan], allowed={"m.pt"})
    case("model file: zip bomb (1.5 GiB of zeros in a small file) -> detect",
         [*det, "--model", bomb], allowed={"m.pt"})
    big = edited_model(MODEL_EDITS["tile size 65536"])
    case("model file: tile size 65536 -> detect --plan", [*det, "--plan", "--model", big],
         allowed={"m.pt"})
    case("model file: tile size 65536 -> evaluate", ["evaluate", "--model", big, "--images",
                                                     lambda f: f, "--masks", lambda f: f],
         allowed={"m.pt"})
    case("model file: tile size 65536 -> export-model",
         ["export-model", "--model", big, "--out", lambda f: f / "x.pt"], allowed={"m.pt"})
    case("model file: NaN weights -> train --init-from",
         ["train", "--raster", SAMPLE, "--labels", LABELS, *TRAIN, "--init-from",
          edited_model(MODEL_EDITS["NaN weights"]), "--out", lambda f: f / "n.pt"],
         allowed={"m.pt"})

    # imagery
    rgba_interp = [gdal.GCI_RedBand, gdal.GCI_GreenBand, gdal.GCI_BlueBand, gdal.GCI_AlphaBand]

    def with_alpha(rgb):
        alpha = np.full(rgb.shape[1:], 255, np.uint8)
        alpha[:, :1024] = 0
        return [*rgb, alpha]

    def alpha_check(f, rc, out, err):
        p = _prob(f / "p.tif")
        ok = rc == 0 and bool((p[:, :256] == -1).all() and (p[:, 256:] != -1).all())
        return f"exit {rc}; transparent half nodata: {ok}", ok
    case("RGBA raster, left half transparent", ["detect", "--device", "cpu", "--model", MODEL,
         "--raster", raster("rgba.tif", with_alpha, rgba_interp), "--out",
         lambda f: f / "o.gpkg", "--probability", lambda f: f / "p.tif"], expect_ok=True,
         allowed={"rgba.tif"}, check=alpha_check)

    def nbgr(rgb):
        return [rgb.mean(axis=0).astype(np.uint8), rgb[2], rgb[1], rgb[0]]

    def same_as_rgb(f, rc, out, err):
        ref = f / "ref.tif"
        subprocess.run([sys.executable, "-m", "mrife", "detect", "--device", "cpu", "--model",
                        str(MODEL), "--raster", str(SAMPLE), "--out", str(f / "r.gpkg"),
                        "--probability", str(ref), "--precision", "float32", "--quiet"],
                       cwd=ROOT, check=True, capture_output=True)
        ok = rc == 0 and np.array_equal(_prob(f / "p.tif"), _prob(ref))
        for n in ("r.gpkg", "ref.tif", "ref.qml"):
            (f / n).unlink(missing_ok=True)
        line = next((ln for ln in out.splitlines() if "feed the model" in ln), "")
        return f"{line[:90]}; identical to the RGB raster's map: {ok}", ok
    case("bands declared NIR, B, G, R", ["detect", "--device", "cpu", "--model", MODEL,
         "--precision", "float32", "--raster",
         raster("nbgr.tif", nbgr, [gdal.GCI_Undefined, gdal.GCI_BlueBand, gdal.GCI_GreenBand,
                                   gdal.GCI_RedBand]),
         "--out", lambda f: f / "o.gpkg", "--probability", lambda f: f / "p.tif"],
         expect_ok=True, allowed={"nbgr.tif"}, check=same_as_rgb)
    case("palette (colour-table) raster", [*det[:4], raster("pal.tif", lambda rgb: [rgb[0]],
                                                          table=True), *det[5:], "--model",
                                           MODEL], allowed={"pal.tif"})
    d = 2 / 111320
    wgs = osr.SpatialReference()
    wgs.ImportFromEPSG(4326)

    def split_check(f, rc, out, err):
        src = ogr.Open(str(f / "o.gpkg"))
        widths = [g.GetGeometryRef(i).GetEnvelope()[1] - g.GetGeometryRef(i).GetEnvelope()[0]
                  for feat in src.GetLayer(0) for g in [feat.GetGeometryRef()]
                  for i in range(g.GetGeometryCount())]
        ok = rc == 0 and bool(widths) and max(widths) < 0.01
        return f"exit {rc}; widest polygon part {max(widths or [0]):.4f} deg", ok
    case("geographic raster across the antimeridian", [*det[:4], raster(
        "am.tif", lambda rgb: list(rgb[:, ::4, ::4]), gt=(180 - 256 * d, d, 0, -17.0, 0, -d),
        wkt=wgs.ExportToWkt()), *det[5:], "--model", MODEL], expect_ok=True,
        allowed={"am.tif"}, check=split_check)

    def warned(words):
        def check(f, rc, out, err):
            ok = rc == 0 and words in out
            return (next((ln for ln in out.splitlines() if words in ln), out[-100:])[:160], ok)
        return check
    case("1 cm pixels (an 11 x 11 m raster)", [*det[:4], raster(
        "cm.tif", lambda rgb: list(rgb[:, :1100, :1100]),
        gt=(400000, 0.01, 0, 3400000, 0, -0.01)), *det[5:], "--model", MODEL, "--plan"],
        expect_ok=True, allowed={"cm.tif"}, check=warned("times finer"))
    case("--bands naming a band that does not exist", [*det, "--model", MODEL, "--bands",
                                                       "1,2,5"])
    case("--bands with two bands for a three-band model", [*det, "--model", MODEL, "--bands",
                                                           "1,2"])

    # polygons
    case("spiked area polygon -> detect --aoi (segfaulted)", [*det, "--model", MODEL, "--aoi",
         polygons("a.gpkg", [SPIKE])], expect_ok=True, allowed={"a.gpkg"},
         check=warned("400 x 400 px"))
    case("GeometryCollection area feature -> detect --aoi", [*det, "--model", MODEL, "--aoi",
         polygons("a.gpkg", [f"GEOMETRYCOLLECTION({SPIKE},LINESTRING(400000 3400000,"
                             "400500 3399500))"])], expect_ok=True, allowed={"a.gpkg"},
         check=warned("400 x 400 px"))
    tiles = ["--ground-resolution", "2", "--tile-size", "128"]
    case("spiked label polygon -> export-tiles (segfaulted)",
         ["export-tiles", "--raster", SAMPLE, "--labels", polygons("l.gpkg", [SPIKE]), *tiles,
          "--out", lambda f: f / "t"], expect_ok=True, allowed={"l.gpkg", "t"})
    case("spiked label polygon -> train (segfaulted)",
         ["train", "--raster", SAMPLE, "--labels", polygons("l.gpkg", [SPIKE, *_outlines()]),
          *TRAIN, "--out", lambda f: f / "m.pt"], expect_ok=True, allowed={"l.gpkg", "m.pt"})
    half = ("POLYGON((400000 3400000,401024 3400000,401024 3399488,400000 3399488,"
            "400000 3400000))")
    n = len(_outlines())
    classes = {"class": ["not landslide" if i % 3 == 0 else "landslide" for i in range(n)]}

    def burned(f, rc, out, err):
        from mrife.geodata import load_raster_scenes

        parts, report, _ = load_raster_scenes(SAMPLE, f / "l.gpkg", ground_resolution=2.0,
                                              tile_size=128)
        got = sum(int(b.label.sum()) for k in parts for b in parts[k])
        src = ogr.Open(str(f / "l.gpkg"))
        lyr = src.GetLayerByName("labels")
        lyr.SetAttributeFilter("class = 'landslide'")
        mem = gdal.Translate("", str(SAMPLE), format="MEM", xRes=2, yRes=2,
                             resampleAlg="average")
        grid = gdal.GetDriverByName("MEM").Create("", mem.RasterXSize, mem.RasterYSize, 1)
        grid.SetGeoTransform(mem.GetGeoTransform())
        grid.SetProjection(mem.GetProjection())
        gdal.RasterizeLayer(grid, [1], lyr, burn_values=[1])
        want = int(grid.GetRasterBand(1).ReadAsArray().sum())
        ok = rc == 0 and got == want and report.mapped_area
        return (f"exit {rc}; landslide pixels {got}, by hand {want}; "
                f"{report.negatives} negatives; mapped area used: {report.mapped_area}", ok)
    case("the plugin's label file (mapped_area first, class field) -> export-tiles",
         ["export-tiles", "--raster", SAMPLE, "--labels",
          polygons("l.gpkg", _outlines, layer="labels", fields=classes,
                   more_layers=[("mapped_area", [half])]), *tiles, "--out", lambda f: f / "t"],
         expect_ok=True, allowed={"l.gpkg", "t"}, check=burned)
    case("labels file whose only layer is mapped_area",
         ["export-tiles", "--raster", SAMPLE, "--labels", polygons("l.gpkg", [half],
                                                                   layer="mapped_area"),
          *tiles, "--out", lambda f: f / "t"], allowed={"l.gpkg"})
    case("labels file with two layers, neither named labels",
         ["export-tiles", "--raster", SAMPLE, "--labels", polygons(
             "l.gpkg", _outlines, layer="second", more_layers=[("first", [SPIKE])]), *tiles,
          "--out", lambda f: f / "t"], allowed={"l.gpkg"})
    two_layers = polygons("l.gpkg", _outlines, layer="second", more_layers=[("first", [SPIKE])])

    def named(f: Path) -> str:
        return f"{two_layers(f)}|layername=second"
    case("labels layer named in QGIS's form file.gpkg|layername=",
         ["export-tiles", "--raster", SAMPLE, "--labels", named, *tiles, "--out",
          lambda f: f / "t"], expect_ok=True, allowed={"l.gpkg", "t"})
    case("labels with a foreign 'class' field ('rockfall')",
         ["export-tiles", "--raster", SAMPLE, "--labels", polygons(
             "l.gpkg", [SPIKE], fields={"class": ["rockfall"]}), *tiles, "--out",
          lambda f: f / "t"], allowed={"l.gpkg"})

    # destinations, before any work
    with crafted.tmpfs("ro,size=1m") as ro_fs, crafted.tmpfs("size=64k") as full:
        destination_cases(case, det, tiles, ro_fs, full)

    # arguments
    for flag, value in (("--min-area", "nan"), ("--min-area", "-5"), ("--threshold", "nan"),
                        ("--threshold", "1.5"), ("--overlap", "200")):
        case(f"{flag} {value}", [*det, "--model", MODEL, flag, value])


def destination_cases(case, det: list, tiles: list, ro_fs: Path | None,
                      full: Path | None) -> None:
    """Outputs that are the other kind of thing, on a read-only file system (a real read-only
    tmpfs; /proc, where no file can be made, when this process may not mount) and on a full
    disk (a 64 KiB tmpfs): one line, before any work where it can be known, nothing left."""
    ro, ro_name = (ro_fs, "a read-only file system") if ro_fs is not None else \
        (Path("/proc/mrife-out"), "/proc (no file can be made there)")
    model_out = ["export-model", "--model", MODEL, "--out"]
    train = ["train", "--raster", SAMPLE, "--labels", LABELS, *TRAIN, "--out"]
    for name, args in (
            ("export-tiles onto a file", ["export-tiles", "--raster", SAMPLE, "--labels", LABELS,
                                          *tiles, "--out", lambda f: (f / "x").write_text("x")
                                          and f / "x"]),
            (f"export-tiles into {ro_name}", ["export-tiles", "--raster", SAMPLE, "--labels",
                                              LABELS, *tiles, "--out", ro / "t"]),
            ("export-model onto a folder", [*model_out, lambda f: f]),
            (f"export-model into {ro_name}", [*model_out, ro / "x.pt"]),
            ("export-model --format onnx onto a folder", [*model_out, lambda f: f, "--format",
                                                          "onnx"]),
            ("train --out onto a folder", [*train, lambda f: f]),
            (f"train --out into {ro_name}", [*train, ro / "m.pt"]),
            (f"detect --out into {ro_name}", ["detect", "--device", "cpu", "--raster", SAMPLE,
                                              "--model", MODEL, "--out", ro / "o.gpkg"]),
            ("detect --probability onto a folder (not a .tif name)",
             [*det, "--model", MODEL, "--probability", lambda f: f]),
            ("evaluate --json onto a folder", ["evaluate", "--model", MODEL, "--images",
                                               lambda f: f, "--masks", lambda f: f, "--json",
                                               lambda f: f])):
        case(f"destination: {name}", args, allowed={"x"})
    if full is None:
        return

    def nothing_left(f, rc, out, err):
        left = sorted(p.name for p in full.iterdir())
        return f"{(err.strip().splitlines() or [''])[-1]}; left on the disk: {left}", not left
    for name, args in (
            ("detect", ["detect", "--device", "cpu", "--raster", SAMPLE, "--model", MODEL,
                        "--out", full / "o.gpkg", "--probability", full / "p.tif"]),
            ("export-model", [*model_out, full / "x.pt"]),
            ("train", [*train, full / "m.pt"])):
        case(f"full disk: {name}", args, check=nothing_left)
