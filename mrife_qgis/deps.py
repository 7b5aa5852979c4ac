"""Is the deep-learning stack usable from QGIS's Python? Checked lazily, never at plugin import."""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field

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
        lines.append("To fix it, run in a terminal:")
        lines.append(f"  {install_command()}")
        return "\n".join(lines)


def install_command() -> str:
    """The pip command that installs the stack into the Python QGIS runs."""
    return f'"{sys.executable}" -m pip install --user "torch>=2.4" "torchvision>=0.19"'


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
            status.problems[name] = "not installed"
        except Exception as exc:  # a broken install raises anything: OSError, RuntimeError...
            status.ok = False
            why = f"{type(exc).__name__}: {exc}"
            status.problems[name] = f"installed but cannot be imported ({why})"
    _cache = status
    return status
