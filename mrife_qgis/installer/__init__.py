"""Install torch and torchvision for QGIS's Python into a folder the plugin owns.

Nothing here imports QGIS, Qt or torch, so it runs before any of them and in plain tests.

Layout: ``<base>/<runtime key>/`` per QGIS runtime, where the key is the Python version, the
platform and a hash of the interpreter's prefix (a QGIS upgrade with a new Python gets a new,
empty folder, so the plugin offers a fresh install). pip installs with ``--prefix`` into it, so:
- nothing is written into QGIS's own site-packages and PEP 668 ("externally managed") does not
  apply;
- pip sees what QGIS's Python already has and keeps it: a constraints file pins every compiled
  distribution QGIS's Python ships (numpy above all, which GDAL and QGIS are built against), so a
  requirement that would upgrade one fails to resolve instead of breaking QGIS.
``manifest.json`` in the folder records what was installed, the build and pip's log.

At start the plugin calls :func:`activate`, which puts the folder's site-packages on ``sys.path``
ahead of QGIS's site-packages (packages the constraints let pip add, such as a newer
typing_extensions that torch needs, must win over older copies).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .gpu import GpuInfo, choose_build, index_args, nvidia_gpus, parse_nvidia_smi
from .pip import (
    PipRun,
    check_versions,
    constraints_text,
    explain_failure,
    installed_distributions,
    pip_command,
    pip_env,
    run_pip,
    verify,
)
from .runtime import (
    ALWAYS_PIN,
    MANIFEST,
    REQUIREMENTS,
    TORCH_VERSION,
    TORCHVISION_VERSION,
    activate,
    deactivate,
    python_interpreter,
    runtime_dir,
    runtime_key,
    site_dirs,
)


@dataclass
class InstallResult:
    ok: bool
    message: str
    folder: Path
    log: str = ""
    verified: dict = field(default_factory=dict)


def read_manifest(folder: Path) -> dict:
    try:
        return json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}


def install(base: Path, requirements: Sequence[str] = REQUIREMENTS, build: str = "auto",
            python: Path | None = None, extra_args: Sequence[str] = (),
            on_line: Callable[[str], None] | None = None,
            should_cancel: Callable[[], bool] | None = None,
            verify_device: str | None = "auto", **key) -> InstallResult:
    """Install ``requirements`` into this runtime's private folder under ``base``.

    pip installs into a staging folder beside it; only a successful (and verified) install
    replaces the folder, so a failed or cancelled run leaves the previous state as it was.
    ``verify_device`` None skips the torch check (for packages other than torch)."""
    folder = runtime_dir(base, **key)
    lines: list[str] = []

    def say(text: str) -> None:
        lines.append(text)
        if on_line is not None:
            on_line(text)

    try:
        python = Path(python) if python else python_interpreter()
    except FileNotFoundError as exc:
        return InstallResult(False, str(exc), folder)
    gpus = nvidia_gpus()
    if build == "auto":
        build, why = choose_build(gpus)
        say(f"build: {build} ({why})")
    Path(base).mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".stage", dir=base))
    # same build already there: pip sees it and adds only what is missing, merged in at the end;
    # another build (CPU -> GPU): a fresh folder that replaces the old one when it works
    keep = folder.is_dir() and read_manifest(folder).get("build") == build
    seen = [stage, folder] if keep else [stage]
    try:
        dists = installed_distributions(python, exclude=[folder, stage])
        constraints = stage / "constraints.txt"
        constraints.write_text(constraints_text(dists))
        cmd = pip_command(python, stage, requirements, constraints,
                          [*index_args(build), *extra_args])
        say("$ " + " ".join(cmd))
        run = run_pip(cmd, pip_env(*seen), say, should_cancel)
        if run.returncode != 0 or run.cancelled:
            return InstallResult(False, explain_failure(run, folder, str(python)), folder,
                                 "\n".join(lines))
        verified = {}
        if verify_device:
            say(f"checking torch in a fresh process on {verify_device} ...")
            try:
                verified = verify(python, *seen, device=verify_device)
                check_versions(verified, requirements)
            except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as exc:
                return InstallResult(False, str(exc), folder, "\n".join(lines))
            say(json.dumps(verified))
        constraints.unlink()
        if keep:
            shutil.copytree(stage, folder, dirs_exist_ok=True, symlinks=True)
        else:
            old = folder.with_name(folder.name + ".old")
            if folder.exists():
                shutil.rmtree(old, ignore_errors=True)
                folder.rename(old)
            stage.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        manifest = read_manifest(folder) if keep else {}
        manifest.update({
            "requirements": sorted(set(manifest.get("requirements", [])) | set(requirements)),
            "build": build, "python": str(python),
            "python_version": ".".join(map(str, sys.version_info[:3])),
            "installed": datetime.now(UTC).isoformat(timespec="seconds"),
            "verified": verified or manifest.get("verified", {}), "gpus": asdict(gpus),
            "packages": sorted(p.name[:-len(".dist-info")] for st in site_dirs(folder)
                               for p in st.iterdir() if p.name.endswith(".dist-info"))})
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
        (folder / "pip.log").write_text("\n".join(lines) + "\n")
        return InstallResult(True, f"installed into {folder}", folder, "\n".join(lines),
                             verified)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def remove(base: Path, **key) -> bool:
    """Delete this runtime's private folder (only a folder this module made: it must hold a
    manifest). True when something was removed."""
    folder = runtime_dir(base, **key)
    if not (folder / MANIFEST).is_file():
        return False
    deactivate(base)
    shutil.rmtree(folder)
    return True


def other_runtimes(base: Path) -> list[Path]:
    """Private folders of other QGIS Pythons (e.g. left by a QGIS upgrade)."""
    base, mine = Path(base), runtime_key()
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_dir() and p.name != mine
                  and (p / MANIFEST).is_file())


__all__ = ["ALWAYS_PIN", "MANIFEST", "REQUIREMENTS", "TORCHVISION_VERSION", "TORCH_VERSION",
           "GpuInfo", "InstallResult", "PipRun", "activate", "check_versions", "choose_build",
           "constraints_text", "deactivate", "explain_failure", "index_args", "install",
           "installed_distributions", "nvidia_gpus", "other_runtimes", "parse_nvidia_smi",
           "pip_command", "pip_env", "python_interpreter", "read_manifest", "remove",
           "run_pip", "runtime_dir", "runtime_key", "site_dirs", "verify"]
