"""Which torch build fits this machine: NVIDIA GPUs and driver (``nvidia-smi``), the CUDA or
CPU build, and the one package index it comes from."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field

from .runtime import CUDA_TAG, MIN_DRIVER, PYTORCH_INDEX, _no_window


@dataclass
class GpuInfo:
    names: list[str] = field(default_factory=list)
    driver: str = ""
    memory_mib: list[int] = field(default_factory=list)
    error: str = ""


def parse_nvidia_smi(text: str) -> GpuInfo:
    """Parse ``nvidia-smi --query-gpu=name,driver_version,memory.total
    --format=csv,noheader,nounits``."""
    info = GpuInfo()
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 3:
            info.names.append(parts[0])
            info.driver = parts[1]
            try:
                info.memory_mib.append(int(float(parts[2])))
            except ValueError:
                pass
    return info


def nvidia_gpus() -> GpuInfo:
    """GPUs the NVIDIA driver reports (empty when there is no driver or no nvidia-smi)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return GpuInfo(error="nvidia-smi not found (no NVIDIA driver)")
    try:
        out = subprocess.run([exe, "--query-gpu=name,driver_version,memory.total",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True,
                             timeout=20, **_no_window())
    except (OSError, subprocess.SubprocessError) as exc:
        return GpuInfo(error=f"nvidia-smi failed: {exc}")
    if out.returncode != 0:
        return GpuInfo(error=f"nvidia-smi failed: {out.stderr.strip() or out.stdout.strip()}")
    return parse_nvidia_smi(out.stdout)


def choose_build(gpus: GpuInfo, platform: str | None = None) -> tuple[str, str]:
    """("cuda" | "cpu", why). macOS: "cpu" (the default wheel, which includes MPS)."""
    platform = platform or sys.platform
    if platform == "darwin":
        return "cpu", "macOS: the standard build (Apple GPUs through MPS)"
    if not gpus.names:
        return "cpu", f"no NVIDIA GPU found ({gpus.error or 'nvidia-smi lists none'})"
    try:
        major = int(gpus.driver.split(".")[0])
    except ValueError:
        major = 0
    need = MIN_DRIVER.get(platform, 525)
    if major < need:
        return "cpu", (f"NVIDIA driver {gpus.driver or '?'} is older than {need}, which CUDA 12 "
                       "builds need; update the driver, then switch to the GPU build")
    return "cuda", f"{gpus.names[0]}, driver {gpus.driver}"


def index_args(build: str, platform: str | None = None) -> list[str]:
    """pip options that pick the build, always from exactly one index, wheels only (no package
    builds, so no setup.py runs). Linux: PyPI's torch is the CUDA build, the CPU build comes
    from PyTorch's index; Windows: PyPI's is the CPU build, CUDA from PyTorch's index; macOS:
    PyPI's (there is one build). PyTorch's indexes also serve torch's own dependencies, so the
    install never mixes them with PyPI."""
    platform = platform or sys.platform
    if build not in ("cpu", "cuda"):
        raise ValueError(f"build must be 'cpu' or 'cuda', not {build!r}")
    if platform.startswith("linux") and build == "cpu":
        index = f"{PYTORCH_INDEX}/cpu"
    elif platform == "win32" and build == "cuda":
        index = f"{PYTORCH_INDEX}/{CUDA_TAG}"
    else:
        index = "https://pypi.org/simple"
    return ["--index-url", index, "--only-binary", ":all:"]
