"""Build the bundled sample in resources/sample/ from ../shared/data/sichuan:

- ``sichuan_sample.tif``: a 2 x 2 mosaic (2048 x 2048 px) of four real scenes, JPEG-compressed
  RGB GeoTIFF with overviews;
- ``sichuan_sample_landslides.gpkg``: their labelled landslide outlines (layer ``landslides``);
- ``ATTRIBUTION.txt``: the licence's attribution and what is synthetic.

The four scenes are in the test part of the 6:2:2 scene split with seed 0 (mrife.data.
split_scenes), so the bundled model, trained on the train part, never saw them.

The georeference is SYNTHETIC: the crops carry none. The mosaic is placed in WGS 84 / UTM zone
48N (EPSG:32648) with its upper-left corner at (400000, 3400000) and 0.5 m pixels (the crops'
approximate resolution); scenes that were not neighbours are shown side by side.

    .venv/bin/python scripts/make_sample.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from osgeo import gdal, ogr, osr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from mrife.data import split_scenes  # noqa: E402

gdal.UseExceptions()
DATA = ROOT.parent / "shared" / "data" / "sichuan"
OUT = ROOT / "resources" / "sample"
ORIGIN = (400000.0, 3400000.0)
PIXEL = 0.5
EPSG = 32648


def scenes() -> list[str]:
    names = sorted(p.stem for p in (DATA / "images").glob("Landslide*.png"))
    return split_scenes(names, 0)["test"][:4]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    picked = scenes()
    image = np.zeros((3, 2048, 2048), dtype=np.uint8)
    label = np.zeros((2048, 2048), dtype=np.uint8)
    for k, name in enumerate(picked):
        r, c = (k // 2) * 1024, (k % 2) * 1024
        image[:, r:r + 1024, c:c + 1024] = gdal.Open(str(DATA / "images" / f"{name}.png")) \
            .ReadAsArray()[:3]
        num = name.replace("Landslide", "")
        m = gdal.Open(str(DATA / "masks" / f"LandslideLabel{num}.png")).ReadAsArray()
        label[r:r + 1024, c:c + 1024] = (m.max(axis=0) if m.ndim == 3 else m) > 0
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(EPSG)
    gt = (ORIGIN[0], PIXEL, 0.0, ORIGIN[1], 0.0, -PIXEL)
    mem = gdal.GetDriverByName("MEM").Create("", 2048, 2048, 3, gdal.GDT_Byte)
    mem.SetGeoTransform(gt)
    mem.SetProjection(srs.ExportToWkt())
    for b in range(3):
        mem.GetRasterBand(b + 1).WriteArray(image[b])
        mem.GetRasterBand(b + 1).SetColorInterpretation(gdal.GCI_RedBand + b)
    mem.BuildOverviews("AVERAGE", [2, 4, 8])
    tif = OUT / "sichuan_sample.tif"
    gdal.Translate(str(tif), mem, creationOptions=[
        "COMPRESS=JPEG", "JPEG_QUALITY=90", "PHOTOMETRIC=YCBCR", "TILED=YES",
        "COPY_SRC_OVERVIEWS=YES"])
    lab = gdal.GetDriverByName("MEM").Create("", 2048, 2048, 1, gdal.GDT_Byte)
    lab.SetGeoTransform(gt)
    lab.SetProjection(srs.ExportToWkt())
    lab.GetRasterBand(1).WriteArray(label)
    gpkg = OUT / "sichuan_sample_landslides.gpkg"
    if gpkg.exists():
        gpkg.unlink()
    vds = ogr.GetDriverByName("GPKG").CreateDataSource(str(gpkg))
    lyr = vds.CreateLayer("landslides", srs, ogr.wkbPolygon)
    lyr.CreateField(ogr.FieldDefn("landslide", ogr.OFTInteger))
    band = lab.GetRasterBand(1)
    gdal.Polygonize(band, band, lyr, 0)
    n = lyr.GetFeatureCount()
    vds = None
    (OUT / "ATTRIBUTION.txt").write_text(
        "Sample imagery and landslide outlines derived from:\n"
        "Zeng Chao, Cao Zhenyu, Su Fenghuan et al., \"High-precision aerial imagery and "
        "interpretation dataset of landslide and debris flow disaster in Sichuan and "
        "surrounding areas\", Science Data Bank, 2021, DOI 10.11922/sciencedb.j00001.00222, "
        "licence CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/).\n"
        "1024 px crops published by atlan-antillia "
        "(TensorFlow-FlexUNet-Tiled-Image-Segmentation-Sichuan-Landslide, Apache-2.0).\n\n"
        f"Changes: scenes {', '.join(picked)} mosaicked 2 x 2 (upper-left, upper-right, "
        "lower-left, lower-right), JPEG-compressed; outlines polygonised from the masks.\n"
        "The georeference is SYNTHETIC (the crops carry none): EPSG:32648, upper-left corner "
        f"({ORIGIN[0]:.0f}, {ORIGIN[1]:.0f}), {PIXEL} m pixels. Scenes that were not neighbours "
        "appear side by side; coordinates do not locate real places.\n")
    size = sum(p.stat().st_size for p in OUT.iterdir()) / 2**20
    print(f"scenes {picked}; {n} landslide polygons; {size:.1f} MB in {OUT}")


if __name__ == "__main__":
    main()
