"""Where the plugin's parts live, in the source tree and in the packaged plugin.

Packaged (``make package``), ``resources/`` and ``metadata.txt`` sit inside the plugin folder and
the library sits in ``lib/mrife/`` (``lib/`` holds nothing else, so putting it on ``sys.path``
adds exactly one top-level name, ``mrife``). In the source tree they sit beside
``mrife_qgis/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent


def _first_existing(name: str) -> Path:
    inside = PLUGIN_DIR / name
    return inside if inside.exists() else PLUGIN_DIR.parent / name


def resources_dir() -> Path:
    """The ``resources/`` folder (icons, bundled sample and model, the model catalogue)."""
    return _first_existing("resources")


def metadata_path() -> Path:
    """The plugin's ``metadata.txt``."""
    return _first_existing("metadata.txt")


def library_root() -> Path:
    """The folder that holds the library ``mrife/``: ``lib/`` inside the packaged plugin, else the
    source tree."""
    lib = PLUGIN_DIR / "lib"
    return lib if (lib / "mrife").is_dir() else PLUGIN_DIR.parent


def use_library() -> None:
    """Make ``import mrife`` find this plugin's library (once, when the plugin package is
    imported). Only the folder holding ``mrife`` goes on ``sys.path``, never the plugin folder
    itself, so none of the plugin's own modules (``processing``, ``settings``, ``log``, ...)
    becomes a top-level module of QGIS's shared interpreter. Triton is kept out of QGIS's
    process before torch can be imported (``deps.keep_triton_out``)."""
    from .deps import keep_triton_out

    keep_triton_out()
    root = str(library_root())
    if root not in sys.path:
        sys.path.insert(0, root)
