"""Hostile and damaged files, made the way an attacker (or an unlucky user) would: real pickles
whose loading would run code (each payload creates ``sentinel``; a test passes only if the
sentinel does not exist afterwards), model files missing keys, label layers of WKT geometries."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch


class ExecPayload:
    """Unpickling this calls builtins.exec with code that writes the sentinel."""

    def __init__(self, sentinel: Path):
        self.sentinel = str(sentinel)

    def __reduce__(self):
        return (exec, (f"open({self.sentinel!r}, 'w').write('code ran')",))


class SystemPayload:
    """Unpickling this calls os.system (the classic form)."""

    def __init__(self, sentinel: Path):
        self.sentinel = str(sentinel)

    def __reduce__(self):
        return (os.system, (f"touch '{self.sentinel}'",))


def top_level(path: Path, sentinel: Path) -> Path:
    """The whole file is the payload."""
    torch.save(ExecPayload(sentinel), path)
    return path


def in_metadata(path: Path, sentinel: Path, model: Path) -> Path:
    """A working model file (``model``, read with the permissive loader as an attacker would)
    with a payload hidden in a metadata field: it would detect normally *and* run the code."""
    data = torch.load(model, map_location="cpu", weights_only=False)  # nosec B614 - test's own
    data["metrics"] = dict(data.get("metrics") or {}, note=SystemPayload(sentinel))
    torch.save(data, path)
    return path


def as_resume(path: Path, sentinel: Path, model: Path) -> Path:
    """A resume file planted at ``<out>.resume.pt``: a model payload plus a 'resume' entry."""
    data = torch.load(model, map_location="cpu", weights_only=False)  # nosec B614 - test's own
    data["resume"] = {"optimizer": ExecPayload(sentinel)}
    torch.save(data, path)
    return path


def missing_keys(path: Path, model: Path, *drop: str) -> Path:
    """A model file with the format tag but without ``drop`` (e.g. "state_dict")."""
    from mrife.checkpoint import read_payload

    data = read_payload(model)
    for key in drop:
        data.pop(key, None)
    torch.save(data, path)
    return path


def label_layer(path: Path, wkts: list[str], epsg: int = 32648) -> Path:
    """A GeoPackage layer ``labels`` of any geometries (WKT; "" = a feature without one)."""
    from osgeo import ogr, osr

    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    lyr = ds.CreateLayer("labels", srs, ogr.wkbUnknown)
    for wkt in wkts:
        f = ogr.Feature(lyr.GetLayerDefn())
        if wkt:
            f.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
        lyr.CreateFeature(f)
    ds = None
    return path


def edited_model(path: Path, model: Path, edit) -> Path:
    """``model``'s payload changed in place by ``edit(payload)``, saved at ``path``: a file that
    passes the safe loader but holds whatever values ``edit`` put there."""
    data = torch.load(model, weights_only=True)
    edit(data)
    torch.save(data, path)
    return path


def zip_bomb(path: Path, model: Path, mib: int) -> Path:
    """``model`` with one more member of ``mib`` MiB of zeros, compressed: a small file whose ZIP
    directory declares far more than its own size."""
    import zipfile

    with zipfile.ZipFile(model) as src, zipfile.ZipFile(path, "w") as dst:
        prefix = src.namelist()[0].split("/")[0]
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        member = zipfile.ZipInfo(f"{prefix}/data/zeros")
        member.compress_type = zipfile.ZIP_DEFLATED
        with dst.open(member, "w", force_zip64=True) as fh:
            for _ in range(mib):
                fh.write(bytes(2**20))
    return path


def byte_raster(path: Path, arrays, geotransform, wkt: str, interps=None,
                palette: bool = False) -> Path:
    """A GeoTIFF of 8-bit ``arrays`` (one per band), optionally with declared colour
    interpretations and a colour table on band 1."""
    from osgeo import gdal

    h, w = arrays[0].shape
    ds = gdal.GetDriverByName("GTiff").Create(str(path), w, h, len(arrays), gdal.GDT_Byte)
    ds.SetGeoTransform(geotransform)
    ds.SetProjection(wkt)
    for i, a in enumerate(arrays):
        band = ds.GetRasterBand(i + 1)
        band.WriteArray(a)
        if interps:
            band.SetColorInterpretation(interps[i])
    if palette:
        table = gdal.ColorTable()
        for i in range(256):
            table.SetColorEntry(i, (i, 255 - i, i // 2, 255))
        ds.GetRasterBand(1).SetRasterColorTable(table)
    ds = None
    return path


@contextlib.contextmanager
def tmpfs(options: str):
    """A small tmpfs mounted with ``options`` (``ro,size=1m``: a read-only file system;
    ``size=64k``: a disk that fills at once), unmounted afterwards; None where this process may
    not mount (not root, or no mount namespace)."""
    import subprocess
    import tempfile

    where = Path(tempfile.mkdtemp(prefix="mrife-tmpfs-"))
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                          capture_output=True).returncode == 0
    try:
        yield where if made else None
    finally:
        if made:
            subprocess.run(["umount", str(where)], capture_output=True)
        where.rmdir()
