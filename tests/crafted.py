"""Hostile and damaged files, made the way an attacker (or an unlucky user) would: real pickles
whose loading would run code (each payload creates ``sentinel``; a test passes only if the
sentinel does not exist afterwards), model files missing keys, label layers of WKT geometries."""

from __future__ import annotations

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
