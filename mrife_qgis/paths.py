"""Where the plugin's parts live, in the source tree and in the packaged plugin.

Packaged (``make package``), ``backend/``, ``resources/`` and ``metadata.txt`` sit inside the
plugin folder. In the source tree they sit beside ``mrife_qgis/``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

PLUGIN_DIR = Path(__file__).resolve().parent


def _first_existing(name: str) -> Path:
    inside = PLUGIN_DIR / name
    return inside if inside.exists() else PLUGIN_DIR.parent / name


def resources_dir() -> Path:
    """The ``resources/`` folder (icons, QML styles, bundled sample and model)."""
    return _first_existing("resources")


def metadata_path() -> Path:
    """The plugin's ``metadata.txt``."""
    return _first_existing("metadata.txt")


def backend_module(name: str = "") -> ModuleType:
    """Import ``backend`` (or ``backend.<name>``) from wherever this layout keeps it."""
    from .deps import keep_triton_out

    keep_triton_out()
    suffix = f".{name}" if name else ""
    if (PLUGIN_DIR / "backend").is_dir():
        return importlib.import_module(f"{__package__}.backend{suffix}")
    root = str(PLUGIN_DIR.parent)
    if root not in sys.path:
        sys.path.append(root)
    return importlib.import_module(f"backend{suffix}")
