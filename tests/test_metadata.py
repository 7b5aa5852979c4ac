"""metadata.txt parses, holds what QGIS's plugin repository requires, and fits the QGIS we run."""

from __future__ import annotations

import configparser
from pathlib import Path

from qgis.core import Qgis

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = ("name", "description", "about", "version", "qgisMinimumVersion",
            "qgisMaximumVersion", "author", "email", "category", "hasProcessingProvider", "icon",
            "tags", "homepage", "tracker", "repository", "license")


def _meta() -> dict:
    cfg = configparser.ConfigParser(interpolation=None)
    assert cfg.read(ROOT / "metadata.txt", encoding="utf-8")
    return dict(cfg["general"])


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def test_required_keys_present():
    meta = {k.lower(): v for k, v in _meta().items()}
    missing = [k for k in REQUIRED if not meta.get(k.lower(), "").strip()]
    assert not missing


def test_values_as_specified():
    meta = _meta()
    assert meta["qgisminimumversion"] == "3.22"
    assert meta["qgismaximumversion"] == "4.99"
    assert meta["supportsqt6"] == "True"          # QGIS 4 loads only plugins declaring it
    assert meta["category"] == "Raster"
    assert meta["hasprocessingprovider"] == "yes"
    assert (ROOT / meta["icon"]).is_file()
    assert len(_version(meta["version"])) == 3


def test_versions_consistent_with_running_qgis():
    meta = _meta()
    running = _version(Qgis.QGIS_VERSION.split("-")[0])[:2]
    assert _version(meta["qgisminimumversion"]) <= running <= _version(meta["qgismaximumversion"])


def test_backend_version_matches_metadata():
    import mrife

    assert mrife.__version__ == _meta()["version"]
