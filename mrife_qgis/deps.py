"""Is the deep-learning stack usable from QGIS's Python? Checked lazily, never at plugin import."""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .i18n import tr

REQUIRED = ("torch", "torchvision")


@dataclass
class DepsStatus:
    """The result of :func:`check_deps`.

    Attributes:
        ok: every required package imported.
        versions: package -> version for those that imported.
        problems: package -> why it failed ("not installed", or the import error).
    """

    ok: bool
    versions: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)

    def message(self) -> str:
        """What is missing and the exact command that fixes it, for the panel."""
        if self.ok:
            return ", ".join(f"{k} {v}" for k, v in self.versions.items())
        lines = [f"{name}: {why}" for name, why in self.problems.items()]
        lines.append(tr("Press 'Install packages...' below, or run in a terminal:"))
        lines.append(f"  {install_command()}")
        return "\n".join(lines)


def install_command() -> str:
    """The manual fallback: the pip command that installs the stack for the Python QGIS runs
    into the plugin's private folder (what the panel's Install button does, step by step)."""
    from .installer import (
        REQUIREMENTS,
        choose_build,
        index_args,
        nvidia_gpus,
        python_interpreter,
        runtime_dir,
    )

    try:
        python = str(python_interpreter())
    except FileNotFoundError:
        python = "python3"
    reqs = " ".join(f'"{r}"' for r in REQUIREMENTS)
    index = " ".join(index_args(choose_build(nvidia_gpus())[0]))
    return (f'"{python}" -m pip install --prefix "{runtime_dir(packages_base())}" {index} '
            f"{reqs}")


def packages_base() -> Path:
    """Where the plugin installs packages: <QGIS profile folder>/mrife/python-packages (a folder
    per QGIS Python inside, see ``installer``). ``MRIFE_PACKAGES`` overrides it."""
    if os.environ.get("MRIFE_PACKAGES"):
        return Path(os.environ["MRIFE_PACKAGES"])
    from qgis.core import QgsApplication

    return Path(QgsApplication.qgisSettingsDirPath()) / "mrife" / "python-packages"


def activate_private_packages() -> list[str]:
    """Put the plugin's private packages on sys.path (at plugin start, before torch is
    imported). Never raises: a broken folder must not stop QGIS from loading the plugin."""
    from .installer import activate

    try:
        return activate(packages_base())
    except Exception:  # noqa: BLE001
        return []


_cache: DepsStatus | None = None


def keep_triton_out() -> None:
    """Stop torch from loading Triton inside QGIS.

    torchvision imports torch._dynamo, which imports ``triton`` if installed; libtriton.so
    carries its own LLVM, whose start-up collides with the libLLVM that Mesa has already loaded
    into the QGIS desktop, and QGIS aborts (seen with QGIS 3.22 on Debian 12 under llvmpipe).
    The plugin never uses torch.compile, so Triton is made unimportable in QGIS's process
    (torch then reports it as absent). ``MRIFE_ALLOW_TRITON=1`` turns this off.
    """
    if os.environ.get("MRIFE_ALLOW_TRITON") != "1" and "triton" not in sys.modules:
        sys.modules["triton"] = None  # import triton -> ImportError, which torch handles


def check_deps(refresh: bool = False) -> DepsStatus:
    """Try to import torch and torchvision; never raises. Cached until ``refresh``."""
    global _cache
    if _cache is not None and not refresh:
        return _cache
    keep_triton_out()
    status = DepsStatus(ok=True)
    for name in REQUIRED:
        try:
            module = importlib.import_module(name)
            status.versions[name] = str(getattr(module, "__version__", "?"))
        except ModuleNotFoundError:
            status.ok = False
            status.problems[name] = tr("not installed")
        except Exception as exc:  # a broken install raises anything: OSError, RuntimeError...
            status.ok = False
            why = f"{type(exc).__name__}: {exc}"
            status.problems[name] = tr("installed but cannot be imported ({0})").format(why)
    _cache = status
    return status
