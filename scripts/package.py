"""Build dist/mrife_qgis-<version>.zip for QGIS's "Install from ZIP" and the official plugin
repository (plugins.qgis.org).

One top folder, ``mrife_qgis/``, holding the plugin, the library in ``lib/mrife/`` (``lib/``
holds nothing else: it is the only folder the plugin puts on ``sys.path``), ``resources/``
(without model files: models come from the catalogue, ``resources/models/catalogue.json``),
``metadata.txt`` and the licence; no tests, caches or venv. The build is refused when the ZIP
breaks a rule of the repository as its documentation states them (PyQGIS cookbook, "Releasing
your plugin", and the
repository's upload validator): at most 25 MB; one top folder that is a valid Python package
name; metadata.txt with name, qgisMinimumVersion, description, about, version, author, email and
repository; no compiled Python, ``__MACOSX`` or hidden folders; the icon it names present.
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
MODEL_SUFFIXES = {".pt", ".pth", ".onnx"}       # models come from the catalogue, not the ZIP
MAX_BYTES = 25 * 10**6                          # plugins.qgis.org's upload limit
REQUIRED = ("name", "qgisMinimumVersion", "description", "about", "version", "author", "email",
            "repository")


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
        for sub, inside in (("mrife", "lib/mrife"), ("resources", "resources")):
            for path in _files(ROOT / sub):
                if path.suffix in MODEL_SUFFIXES:
                    continue
                zf.write(path, f"{PLUGIN}/{inside}/{path.relative_to(ROOT / sub)}")
        for name in ("metadata.txt", "LICENSE", "README.md"):
            zf.write(ROOT / name, f"{PLUGIN}/{name}")
    problems = check(tmp)
    if problems:
        tmp.unlink()
        raise SystemExit("package refused: " + "; ".join(problems))
    tmp.replace(target)
    return target


def check(zip_path: Path) -> list[str]:
    """The repository's rules that this ZIP breaks (empty: none)."""
    problems = []
    size = zip_path.stat().st_size
    if size > MAX_BYTES:
        problems.append(f"{size / 1e6:.1f} MB, over the repository's 25 MB")
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        tops = {n.split("/")[0] for n in names}
        if tops != {PLUGIN} or not PLUGIN.isidentifier():
            problems.append(f"top-level entries {sorted(tops)}: need exactly one package folder")
        bad = [n for n in names if n.endswith((".pyc", ".pyo")) or "__MACOSX" in n
               or any(part.startswith(".") for part in n.split("/")[1:-1])]
        if bad:
            problems.append(f"compiled or hidden files: {bad[:3]}")
        cfg = configparser.ConfigParser(interpolation=None)
        cfg.read_string(zf.read(f"{PLUGIN}/metadata.txt").decode("utf-8"))
        meta = cfg["general"] if cfg.has_section("general") else {}
        missing = [k for k in REQUIRED if not str(meta.get(k, "")).strip()]
        if missing:
            problems.append(f"metadata.txt lacks {missing}")
        icon = meta.get("icon")
        if icon and f"{PLUGIN}/{icon}" not in names:
            problems.append(f"the icon {icon} named in metadata.txt is not in the ZIP")
        if not any(n.endswith("resources/models/catalogue.json") for n in names):
            problems.append("the model catalogue is missing")
    return problems


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    zip_path = build(parser.parse_args().out)
    print(f"package: {zip_path} ({zip_path.stat().st_size / 1e6:.1f} MB, under the "
          f"repository's {MAX_BYTES / 1e6:.0f} MB; layout and metadata checked)")
