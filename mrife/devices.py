"""Which compute device the backend will use, described for people.

torch is imported inside the functions: callers (the QGIS plugin) may import this module to
describe the device even before knowing whether torch is installed.
"""

from __future__ import annotations

from dataclasses import dataclass

AUTO = "auto"
CPU = "cpu"


@dataclass(frozen=True)
class DeviceInfo:
    """One device a user can choose.

    Attributes:
        key: ``"cpu"`` or ``"cuda:N"``, what torch.device() takes.
        name: the hardware's name ("NVIDIA H100 80GB HBM3", or "CPU").
        memory_bytes: total device memory, or None for the CPU.
    """

    key: str
    name: str
    memory_bytes: int | None = None

    @property
    def label(self) -> str:
        """A one-line description, e.g. ``cuda:0 - NVIDIA A100 (40.0 GiB)``."""
        if self.memory_bytes is None:
            return f"{self.key} - {self.name}" if self.key != CPU else "CPU"
        return f"{self.key} - {self.name} ({self.memory_bytes / 2**30:.1f} GiB)"


def list_devices() -> list[DeviceInfo]:
    """All devices torch can use here: every CUDA device, then the CPU."""
    import torch

    found = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            found.append(DeviceInfo(f"cuda:{i}", props.name, int(props.total_memory)))
    found.append(DeviceInfo(CPU, "CPU"))
    return found


def resolve_device(choice: str = AUTO) -> DeviceInfo:
    """The device for a user's choice: ``auto`` (first CUDA device, else CPU), ``cpu``, ``cuda:N``.

    Raises:
        ValueError: the choice names a device that does not exist here; the message lists those
            that do.
    """
    devices = list_devices()
    choice = (choice or AUTO).strip().lower()
    if choice == AUTO:
        return devices[0]
    if choice == "cuda":
        choice = "cuda:0"
    for dev in devices:
        if dev.key == choice:
            return dev
    available = ", ".join(d.key for d in devices)
    raise ValueError(f"device '{choice}' is not available here; choose one of: auto, {available}")
