"""The networks: MRIFE, ICSSN and the DeepLabv3+ baseline. Build one with :func:`build_model`."""

from __future__ import annotations

from ..config import ARCHITECTURES, BACKBONES, PRESETS, ModelConfig, arch_preset, preset
from .base import IGNORE_INDEX, SegmentationModel
from .deeplab import DeepLabV3Plus
from .icssn import ICSSN
from .mrife import MRIFE

_CLASSES = {"deeplabv3plus": DeepLabV3Plus, "mrife": MRIFE, "icssn": ICSSN}


def build_model(cfg: ModelConfig) -> SegmentationModel:
    """The network that ``cfg.arch`` names, built from ``cfg``."""
    return _CLASSES[cfg.arch](cfg)


__all__ = ["ARCHITECTURES", "BACKBONES", "IGNORE_INDEX", "ICSSN", "MRIFE", "PRESETS",
           "DeepLabV3Plus", "ModelConfig", "SegmentationModel", "arch_preset", "build_model",
           "preset"]
