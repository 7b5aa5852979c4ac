"""Shared test fixtures. The QGIS ones (qgis_app, qgis_iface, qgis_new_project, qgis_processing)
come from pytest-qgis; the repository root is put on sys.path so ``backend`` imports."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SICHUAN = ROOT.parent / "shared" / "data" / "sichuan"


@pytest.fixture(scope="session")
def sichuan_dir() -> Path:
    """The real Sichuan landslide scenes (images/, masks/), shipped beside the repository."""
    if not (SICHUAN / "images").is_dir():
        pytest.skip(f"real data not found at {SICHUAN}")
    return SICHUAN
