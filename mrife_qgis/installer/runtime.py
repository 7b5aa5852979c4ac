"""Where a runtime lives: one folder per QGIS Python (version, platform, interpreter), its
site-packages put on ``sys.path`` ahead of QGIS's own, and the interpreter that runs pip."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path

# Exact versions (the pair this project is tested with, requirements.txt), each from one index
# only (index_args): a name searched on two indexes at once is the shape of a dependency-
# confusion attack, and a range lets an index serve any release it likes.
TORCH_VERSION = "2.15.0"
TORCHVISION_VERSION = "0.29.2"
REQUIREMENTS = (f"torch=={TORCH_VERSION}", f"torchvision=={TORCHVISION_VERSION}")
PYTORCH_INDEX = "https://download.pytorch.org/whl"
CUDA_TAG = "cu126"              # CUDA 12.6 wheels: need an NVIDIA driver >= 525 (Linux) / 528
MIN_DRIVER = {"linux": 525, "win32": 528}
MANIFEST = "manifest.json"
ALWAYS_PIN = ("numpy",)


# -- where -------------------------------------------------------------------------------------

def runtime_key(version: Sequence[int] | None = None, platform: str | None = None,
                prefix: str | None = None) -> str:
    """E.g. ``py311-linux-x86_64-1a2b3c4d``: one private folder per QGIS Python."""
    v = version or sys.version_info
    plat = (platform or sysconfig.get_platform()).replace(".", "_").replace(" ", "_")
    # a folder name, not a security use; sha1 keeps the names of existing installs
    digest = hashlib.sha1(os.path.realpath(prefix or sys.prefix).encode(),
                          usedforsecurity=False).hexdigest()[:8]
    return f"py{v[0]}{v[1]}-{plat}-{digest}"


def runtime_dir(base: Path, **kw) -> Path:
    return Path(base) / runtime_key(**kw)


def site_dirs(folder: Path) -> list[Path]:
    """The site-packages folders pip made under a ``--prefix`` folder (the layout differs by
    OS and distribution: lib/pythonX.Y/site-packages, Lib/site-packages,
    local/lib/.../dist-packages)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for pattern in ("*-packages", "*/*-packages", "*/*/*-packages",
                               "*/*/*/*-packages")
             for p in folder.glob(pattern) if p.is_dir() and p.name in ("site-packages",
                                                                          "dist-packages")]
    return sorted(set(found))


def activate(base: Path, path: list[str] | None = None) -> list[str]:
    """Put this runtime's private site-packages on ``sys.path`` (or ``path``), before the first
    site-/dist-packages entry; idempotent. Returns the entries added."""
    path = sys.path if path is None else path
    added = []
    for site in site_dirs(runtime_dir(base)):
        entry = str(site)
        if entry in path:
            continue
        at = next((i for i, p in enumerate(path) if p.rstrip("/\\").endswith(
            ("site-packages", "dist-packages"))), len(path))
        path.insert(at, entry)
        added.append(entry)
    return added


def deactivate(base: Path, path: list[str] | None = None) -> None:
    path = sys.path if path is None else path
    root = str(runtime_dir(base))
    path[:] = [p for p in path if not p.startswith(root)]


# -- which Python --------------------------------------------------------------------------------

def _probe(python: Path) -> dict | None:
    try:
        out = subprocess.run([str(python), "-c", "import json, sys; print(json.dumps("
                              "{'version': list(sys.version_info[:2]), 'prefix': sys.prefix}))"],
                             capture_output=True, text=True, timeout=30, **_no_window())
        return json.loads(out.stdout) if out.returncode == 0 else None
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def python_interpreter(executable: str | None = None, prefix: str | None = None,
                       version: Sequence[int] | None = None) -> Path:
    """The Python interpreter of the running QGIS. In QGIS on Windows and macOS,
    ``sys.executable`` is QGIS itself (qgis-bin.exe, QGIS.app/Contents/MacOS/QGIS); the
    interpreter lies under ``sys.prefix`` (or ``sys.exec_prefix``). Each candidate is run to check
    that its version is QGIS's. FileNotFoundError when none is found."""
    executable = executable or sys.executable
    prefix = prefix or sys.prefix
    v = tuple((version or sys.version_info)[:2])
    name = Path(executable).name.lower()
    candidates = []
    if name.startswith("python"):
        candidates.append(Path(executable))
    for root in dict.fromkeys((Path(prefix), Path(sys.exec_prefix))):
        candidates += [root / "python.exe", root / "python3.exe",
                       root / "bin" / f"python{v[0]}.{v[1]}", root / "bin" / "python3",
                       root / "bin" / "python"]
    for which in (f"python{v[0]}.{v[1]}", "python3"):
        found = shutil.which(which)
        if found:
            candidates.append(Path(found))
    # same version and same prefix: QGIS's own interpreter. sys.executable can be a different
    # Python of the same version (seen: QGIS on Debian reports a pyenv shim found on PATH), whose
    # packages are not QGIS's; it is only taken when no candidate has QGIS's prefix.
    same_version = []
    for cand in dict.fromkeys(candidates):
        if cand.is_file():
            probe = _probe(cand)
            if probe and tuple(probe["version"]) == v:
                if os.path.realpath(probe["prefix"]) == os.path.realpath(prefix):
                    return cand
                same_version.append(cand)
    if same_version:
        return same_version[0]
    raise FileNotFoundError(f"cannot find the Python {v[0]}.{v[1]} interpreter QGIS runs "
                            f"(sys.executable is {executable}); install the packages by hand "
                            "with the command shown")


def _no_window() -> dict:
    """No console window flashing up on Windows."""
    if sys.platform == "win32":
        return {"creationflags": 0x08000000}   # CREATE_NO_WINDOW
    return {}


# -- which build -------------------------------------------------------------------------------
