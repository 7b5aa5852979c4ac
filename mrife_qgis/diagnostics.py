"""A Markdown report to paste into a bug report: versions, where torch comes from, GPUs, the
device chosen, the private packages and the plugin's last errors."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

from qgis.core import Qgis

from . import installer
from .deps import check_deps, packages_base
from .log import RECENT
from .paths import metadata_path
from .settings import PluginSettings


def _plugin_version() -> str:
    for line in metadata_path().read_text(encoding="utf-8").splitlines():
        if line.startswith("version="):
            return line.split("=", 1)[1].strip()
    return "?"


def report_markdown() -> str:
    """The report's text. Never raises: each part says what went wrong instead."""
    out = ["# MRIFE for QGIS diagnostics", ""]
    out += ["## Versions", "",
            f"- plugin: {_plugin_version()}",
            f"- QGIS: {Qgis.QGIS_VERSION} ({Qgis.QGIS_DEV_VERSION or 'release'})",
            f"- Python: {sys.version.split()[0]} ({sys.executable}; prefix {sys.prefix})",
            f"- OS: {platform.platform()} ({platform.machine()})", ""]

    status = check_deps(refresh=True)
    out += ["## torch", ""]
    if status.ok:
        import torch

        out += [f"- torch {torch.__version__} from {Path(torch.__file__).parent}",
                f"- torchvision {status.versions.get('torchvision')}",
                f"- CUDA build: {torch.version.cuda or 'none (CPU build)'}; "
                f"cuda available: {torch.cuda.is_available()}"]
        for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
            p = torch.cuda.get_device_properties(i)
            out.append(f"- cuda:{i} {p.name}, {p.total_memory / 2**30:.1f} GiB")
    else:
        out += [f"- not usable: {name}: {why}" for name, why in status.problems.items()]
    gpus = installer.nvidia_gpus()
    if gpus.names:
        listed = ", ".join(f"{n} ({m} MiB)" for n, m in zip(gpus.names, gpus.memory_mib,
                                                             strict=False))
        out.append(f"- nvidia-smi: {listed}; driver {gpus.driver}")
    else:
        out.append(f"- nvidia-smi: {gpus.error or 'no GPUs listed'}")
    try:
        device = PluginSettings.load().device
    except Exception as exc:  # noqa: BLE001
        device = f"? ({exc})"
    out += [f"- device chosen in the panel: {device}", ""]

    base = packages_base()
    folder = installer.runtime_dir(base)
    manifest = installer.read_manifest(folder)
    out += ["## Private packages", "", f"- folder: {folder} "
            f"({'present' if folder.is_dir() else 'none installed'})"]
    if manifest:
        out += [f"- installed {manifest.get('installed')}, build {manifest.get('build')}, "
                f"requirements {', '.join(manifest.get('requirements', []))}",
                f"- packages: {', '.join(manifest.get('packages', [])) or 'none'}",
                f"- check after install: {json.dumps(manifest.get('verified', {}))}"]
    others = installer.other_runtimes(base)
    if others:
        out.append(f"- folders of other QGIS Pythons (safe to delete): "
                   f"{', '.join(p.name for p in others)}")
    on_path = [p for p in sys.path if p.startswith(str(base))]
    out += [f"- on sys.path: {', '.join(on_path) or 'no'}", ""]

    out += ["## Last warnings and errors from the plugin", ""]
    out += [f"- {line}" for line in RECENT] or ["- none in this session"]
    return "\n".join(out) + "\n"


def write_report(path: Path) -> Path:
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(report_markdown(), encoding="utf-8")
    tmp.replace(path)
    return path
