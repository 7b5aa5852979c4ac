"""Build dist/mrife_qgis-<version>.zip that QGIS's "Install from ZIP" accepts.

One top folder, ``mrife_qgis/``, holding the plugin, ``backend/``, ``resources/``,
``metadata.txt`` and the licence; no tests, caches or venv.
"""

from __future__ import annotations

import argparse
import configparser
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "mrife_qgis"
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
SKIP_SUFFIXES = {".pyc", ".pyo"}


def _files(folder: Path):
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not SKIP_DIRS.intersection(rel.parts) \
                and path.suffix not in SKIP_SUFFIXES:
            yield path


def version() -> str:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(ROOT / "metadata.txt", encoding="utf-8")
    return cfg["general"]["version"]


def build(out_dir: Path) -> Path:
    """Write the zip into ``out_dir`` and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{PLUGIN}-{version()}.zip"
    tmp = target.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in _files(ROOT / PLUGIN):
            zf.write(path, f"{PLUGIN}/{path.relative_to(ROOT / PLUGIN)}")
        for sub in ("backend", "resources"):
            for path in _files(ROOT / sub):
                zf.write(path, f"{PLUGIN}/{path.relative_to(ROOT)}")
        for name in ("metadata.txt", "LICENSE", "README.md"):
            zf.write(ROOT / name, f"{PLUGIN}/{name}")
    tmp.replace(target)
    return target


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    zip_path = build(parser.parse_args().out)
    print(f"package: {zip_path} ({zip_path.stat().st_size / 1e6:.1f} MB)")
