"""Where the plugin's parts live, in the source tree and in the packaged plugin.

Packaged (``make package``), ``backend/``, ``resources/`` and ``metadata.txt`` sit inside the
plugin folder. In the source tree they sit beside ``mrife_qgis/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

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


def backend_root() -> Path:
    """The folder that holds ``backend/``: the plugin folder when packaged, else the source
    tree."""
    return PLUGIN_DIR if (PLUGIN_DIR / "backend").is_dir() else PLUGIN_DIR.parent


def use_backend() -> None:
    """Make ``import backend`` find this plugin's backend (once, when the plugin package is
    imported): its folder goes first on ``sys.path``. Triton is kept out of QGIS's process
    before torch can be imported (``deps.keep_triton_out``)."""
    from .deps import keep_triton_out

    keep_triton_out()
    root = str(backend_root())
    if root not in sys.path:
        sys.path.insert(0, root)
