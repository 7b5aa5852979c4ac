"""The plugin's remembered choices, kept in QGIS settings under ``mrife/``."""

from __future__ import annotations

from dataclasses import dataclass, fields

from qgis.core import QgsSettings

PREFIX = "mrife/"


@dataclass
class PluginSettings:
    """Settings with their defaults. Load with :meth:`load`, persist with :meth:`save`.

    Attributes:
        device: ``auto`` (first CUDA GPU, else CPU), ``cpu`` or ``cuda:N``.
        results_folder: the Detect tab's last chosen results folder ("" : none yet).
    """

    device: str = "auto"
    results_folder: str = ""

    @classmethod
    def load(cls) -> PluginSettings:
        s = QgsSettings()
        values = {}
        for f in fields(cls):
            values[f.name] = s.value(PREFIX + f.name, f.default, type=type(f.default))
        return cls(**values)

    def save(self) -> None:
        s = QgsSettings()
        for f in fields(self):
            s.setValue(PREFIX + f.name, getattr(self, f.name))
