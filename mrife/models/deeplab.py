"""DeepLabv3+ baseline (the paper's "Baseline" row and the "B" of its ablation)."""

from __future__ import annotations

import torch

from ..config import ModelConfig
from .base import SegmentationModel
from .decoders import DeepLabV3PlusDecoder
from .encoder import FeatureExtractor


class DeepLabV3Plus(SegmentationModel):
    """Backbone at output stride 8, ASPP, low-level skip connection and decoder."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = FeatureExtractor(cfg)
        self.decoder = DeepLabV3PlusDecoder(self.encoder.out_channels,
                                            self.encoder.low_level_channels, cfg.num_classes,
                                            cfg.low_level_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check(x)
        features, low = self.encoder(x)
        return self.decoder(features, low, x.shape[-2:])
