"""Shared test fixtures. The QGIS ones (qgis_app, qgis_iface, qgis_new_project, qgis_processing)
come from pytest-qgis; the repository root is put on sys.path so ``mrife`` imports."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SICHUAN = ROOT.parent / "shared" / "data" / "sichuan"


@pytest.fixture(scope="session")
def sichuan_dir() -> Path:
    """The real Sichuan landslide scenes (images/, masks/), shipped beside the repository.
    Missing data fails the tests that need it (about a third of the suite): a CI run without the
    data must not pass by skipping them. MRIFE_SKIP_MISSING_DATA=1 skips them instead (for a
    quick local run on a machine without ../shared)."""
    if not (SICHUAN / "images").is_dir():
        message = (f"real data not found at {SICHUAN}: put the Sichuan scenes there (see "
                   "README, Data), or set MRIFE_SKIP_MISSING_DATA=1 to skip these tests")
        if os.environ.get("MRIFE_SKIP_MISSING_DATA") == "1":
            pytest.skip(message)
        pytest.fail(message)
    return SICHUAN


@pytest.fixture(scope="session", autouse=True)
def shared_data_untouched():
    """The session writes nothing into ../shared (it once left QGIS's .aux.xml statistics beside
    a scene): the files there after the session, and their modification times, are the ones
    before it."""
    def files() -> set[tuple[str, int]]:
        return {(str(Path(d) / f), (Path(d) / f).stat().st_mtime_ns)
                for d, _, names in os.walk(SICHUAN.parent) for f in names}
    before = files()
    yield
    written = sorted(name for name, _ in files() - before)
    assert not written, f"the test session wrote into ../shared: {written[:5]}"


# --- a georeferenced real scene and a small model that has learned it, for detection tests ---

SCENE = "011"
SCENE_ORIGIN = (400000.0, 3400512.0)        # upper-left corner in EPSG:32648 (UTM 48N, Sichuan)
SCENE_PIXEL = 0.5                           # m


def georeference_scene(sichuan: Path, out_dir: Path, number: str = SCENE) -> dict:
    """The scene as a UTM GeoTIFF at 0.5 m, its label as polygons (GeoPackage) and a copy of
    the image warped to EPSG:4326."""
    from osgeo import gdal

    gdal.UseExceptions()
    out_dir.mkdir(parents=True, exist_ok=True)
    x0, y0 = SCENE_ORIGIN
    size = 1024 * SCENE_PIXEL
    ullr = [x0, y0, x0 + size, y0 - size]
    raster = out_dir / f"scene{number}.tif"
    gdal.Translate(str(raster), str(sichuan / "images" / f"Landslide{number}.png"),
                   outputSRS="EPSG:32648", outputBounds=ullr, creationOptions=["COMPRESS=LZW"])
    mask = out_dir / f"mask{number}.tif"
    gdal.Translate(str(mask), str(sichuan / "masks" / f"LandslideLabel{number}.png"),
                   outputSRS="EPSG:32648", outputBounds=ullr, bandList=[1])
    labels = out_dir / f"labels{number}.gpkg"
    src = gdal.Open(str(mask))
    drv = gdal.GetDriverByName("MEM").Create("", 1024, 1024, 1, gdal.GDT_Byte)
    drv.SetGeoTransform(src.GetGeoTransform())
    drv.SetProjection(src.GetProjection())
    drv.GetRasterBand(1).WriteArray((src.ReadAsArray() > 0).astype("uint8"))
    from osgeo import ogr

    vds = ogr.GetDriverByName("GPKG").CreateDataSource(str(labels))
    lyr = vds.CreateLayer("landslides", src.GetSpatialRef(), ogr.wkbPolygon)
    lyr.CreateField(ogr.FieldDefn("v", ogr.OFTInteger))
    band = drv.GetRasterBand(1)
    gdal.Polygonize(band, band, lyr, 0)
    vds = None
    geographic = out_dir / f"scene{number}_4326.tif"
    gdal.Warp(str(geographic), str(raster), dstSRS="EPSG:4326", resampleAlg="bilinear")
    return {"raster": raster, "mask": mask, "labels": labels, "geographic": geographic}


@pytest.fixture(scope="session")
def geo_scene(sichuan_dir, tmp_path_factory) -> dict:
    return georeference_scene(sichuan_dir, tmp_path_factory.mktemp("geo_scene"))


def train_scene_model(sichuan: Path, out: Path, epochs: int = 12) -> Path:
    """A DeepLabv3+ (resnet18) trained on the scene itself at 2 m/px, 128 px tiles: it has
    learned that scene (confident, mostly right), which is what detection tests need."""
    from mrife.config import DataSettings
    from mrife.data import load_folder_scenes
    from mrife.jobs import train_on_scenes
    from mrife.models import preset
    from mrife.train import TrainConfig

    scenes = [s for s in load_folder_scenes(sichuan / "images", sichuan / "masks", 0.25)
              if s.name.endswith(SCENE)]
    parts = {"train": scenes, "val": scenes, "test": []}
    train_on_scenes(parts, {"source": "test fixture"}, preset("baseline", backbone="resnet18"),
                    TrainConfig(epochs=epochs, batch_size=4, lr=0.01, device="cpu", seed=0),
                    out, DataSettings(tile_size=128, ground_resolution=2.0, pos_neg_ratio=0.0))
    return out


@pytest.fixture(scope="session")
def scene_model(sichuan_dir, tmp_path_factory) -> Path:
    return train_scene_model(sichuan_dir, tmp_path_factory.mktemp("scene_model") / "scene.pt")


def link_scenes(sichuan: Path, root: Path, numbers) -> Path:
    """``root``/images and ``root``/masks holding links to the Sichuan scenes ``numbers``."""
    (root / "images").mkdir()
    (root / "masks").mkdir()
    for i in numbers:
        (root / "images" / f"Landslide{i:03d}.png").symlink_to(
            sichuan / "images" / f"Landslide{i:03d}.png")
        (root / "masks" / f"LandslideLabel{i:03d}.png").symlink_to(
            sichuan / "masks" / f"LandslideLabel{i:03d}.png")
    return root
