"""How the network runs on a device: precision, memory layout and threads, decided in one place
for detection, evaluation and training.

``precision="auto"`` picks, per device, the fastest setting that keeps accuracy, by capability
checks (never by CPU or GPU model name):

=====================================  =========================================================
device                                 auto
=====================================  =========================================================
CPU with native bfloat16 (AVX512-BF16  bfloat16 autocast + channels-last (oneDNN runs bf16
or AMX tiles, as torch reports them)   convolutions natively; about 2.6x float32 measured here)
CPU without                            float32 + channels-last (oneDNN's preferred layout)
CUDA with bfloat16 (Ampere and newer)  bfloat16 autocast + channels-last (no loss scaling needed)
CUDA without                           float16 autocast + gradient scaling + channels-last
=====================================  =========================================================

``float32`` is always selectable (CLI ``--precision float32``, Processing, the panel's advanced
settings): no autocast; the layout is still the device's preferred one. ``bfloat16`` and
``float16`` force that autocast dtype. Autocast keeps numerically sensitive operations (losses,
softmax, batch-norm statistics) in float32; weights and optimizer state stay float32.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:          # torch is imported where it is used: the plugin reads PRECISIONS
    import torch  # before it knows whether torch is installed

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
# detection plans above this many tiles need an explicit go-ahead (DetectOptions.max_tiles; the
# CLI's --allow-large, Processing's ALLOW_LARGE): about 15 min at the bundled model's float32
# speed on a 2-core CPU
LARGE_PLAN_TILES = 20_000


def cpu_has_native_bf16() -> bool:
    """True when torch reports native bfloat16 arithmetic on this CPU (AVX512-BF16 or AMX)."""
    import torch

    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    for name in checks:
        fn = getattr(torch.cpu, name, None)
        try:
            if fn is not None and fn():
                return True
        except (RuntimeError, AttributeError):
            continue
    return False


@dataclass(frozen=True)
class ComputePolicy:
    """The settings a run uses on one device.

    Attributes:
        precision: what the user asked for ("auto", "float32", ...).
        device_type: "cpu" or "cuda".
        dtype: autocast dtype, None for plain float32.
        channels_last: inputs and weights in NHWC memory layout.
        grad_scaling: float16 training needs loss scaling (GradScaler).
        why: one line for the log.
    """

    precision: str
    device_type: str
    dtype: torch.dtype | None
    channels_last: bool
    grad_scaling: bool
    why: str

    def autocast(self) -> AbstractContextManager:
        import torch

        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        import torch

        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return model

    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    @property
    def label(self) -> str:
        import torch

        kind = {None: "float32", torch.bfloat16: "bfloat16 autocast",
                torch.float16: "float16 autocast"}[self.dtype]
        return kind + (" + channels-last" if self.channels_last else "")

    def describe(self) -> str:
        import torch

        return f"{self.label} ({self.why}); {torch.get_num_threads()} torch thread(s)"


def choose(precision: str = "auto", device: torch.device | str = "cpu") -> ComputePolicy:
    """The policy for ``precision`` on ``device``; ValueError for an unknown precision or a
    float16 request on the CPU (slow there, and never more accurate)."""
    import torch

    precision = (precision or "auto").strip().lower()
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not '{precision}'")
    dev = torch.device(device)
    if dev.type == "cuda":
        bf16 = torch.cuda.is_bf16_supported()
        if precision == "auto":
            dtype = torch.bfloat16 if bf16 else torch.float16
            why = "GPU with bfloat16" if bf16 else "GPU without bfloat16: float16 with scaling"
        else:
            dtype = {"float32": None, "bfloat16": torch.bfloat16,
                     "float16": torch.float16}[precision]
            why = "chosen"
        return ComputePolicy(precision, "cuda", dtype, True, dtype == torch.float16, why)
    if precision == "float16":
        raise ValueError("float16 is for CUDA GPUs; on the CPU choose auto, bfloat16 or float32")
    native = cpu_has_native_bf16()
    if precision == "auto":
        dtype = torch.bfloat16 if native else None
        why = "CPU with native bfloat16" if native else "CPU without native bfloat16"
    else:
        dtype = torch.bfloat16 if precision == "bfloat16" else None
        why = "chosen" + ("" if native or dtype is None else "; this CPU emulates bfloat16 (slow)")
    return ComputePolicy(precision, dev.type, dtype, True, False, why)


def _count_cpus(text: str) -> int:
    """Number of CPUs in a Linux CPU list such as "0-1" or "0,4"."""
    n = 0
    for part in text.strip().split(","):
        first, _, last = part.partition("-")
        n += int(last) - int(first) + 1 if last else 1
    return n


def physical_cores() -> int:
    """Physical cores available to this process (logical CPUs / threads per core)."""
    try:
        logical = len(os.sched_getaffinity(0))
    except AttributeError:          # macOS, Windows
        logical = os.cpu_count() or 1
    try:
        with open("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list") as fh:
            per_core = _count_cpus(fh.read())
    except (OSError, ValueError):
        per_core = 1
    return max(logical // max(per_core, 1), 1)


def set_threads(threads: int | None = None) -> int:
    """torch's intra-op threads: ``threads``, else ``MRIFE_THREADS`` (environment), else the
    physical cores (hyper-threads slow convolutions down). Set MRIFE_THREADS when several jobs
    share the machine: two jobs of 2 threads on 2 cores run several times slower than two of 1
    (the threads spin waiting for each other). GDAL's warp threads are left to GDAL, which reads
    between batches, not during them. Under torchrun the cores are shared by the machine's ranks
    (LOCAL_WORLD_SIZE). Returns the number set."""
    import os

    import torch

    env = os.environ.get("MRIFE_THREADS", "")
    local = os.environ.get("LOCAL_WORLD_SIZE", "1")        # torchrun's ranks on this machine
    share = max(physical_cores() // int(local), 1) if local.isdigit() and int(local) > 1 \
        else physical_cores()
    n = threads or (int(env) if env.isdigit() and int(env) > 0 else 0) or share
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
