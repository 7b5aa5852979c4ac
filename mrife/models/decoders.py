"""Decoders: MRIFE/ICSSN's two transposed convolutions (Sec. III-D), DeepLabv3+'s decoder."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class TransposedDecoder(nn.Sequential):
    """Two stacked transposed convolutions with batch norm, ReLU and dropout, then a 1x1
    classifier. Strides 2 and 4 recover the full resolution from stride-8 features.

    Shapes: (N, in_channels, H/8, W/8) -> (N, num_classes, H, W).
    """

    def __init__(self, in_channels: int, num_classes: int, channels: tuple[int, int] = (128, 64),
                 dropout: float = 0.1) -> None:
        c1, c2 = channels
        super().__init__(
            nn.ConvTranspose2d(in_channels, c1, kernel_size=4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(c1), nn.ReLU(inplace=True), nn.Dropout2d(dropout),
            nn.ConvTranspose2d(c1, c2, kernel_size=8, stride=4, padding=2, bias=False),
            nn.BatchNorm2d(c2), nn.ReLU(inplace=True), nn.Dropout2d(dropout),
            nn.Conv2d(c2, num_classes, kernel_size=1),
        )
        for m in self:
            if isinstance(m, nn.ConvTranspose2d):
                bilinear_init_(m)


def bilinear_init_(conv: nn.ConvTranspose2d) -> None:
    """Start a transposed convolution as bilinear upsampling of each input channel (spread
    over the output channels), plus a little noise. The paper gives no initialisation; with
    PyTorch's default one the decoder learned far more slowly than DeepLabv3+'s bilinear
    upsampling in short runs (see the closing notes of the training issue)."""
    k = conv.kernel_size[0]
    factor = (k + 1) // 2
    centre = factor - 1 if k % 2 == 1 else factor - 0.5
    og = torch.arange(k, dtype=torch.float32)
    filt = 1 - (og - centre).abs() / factor
    kernel = filt[:, None] * filt[None, :]
    cin, cout = conv.in_channels, conv.out_channels
    with torch.no_grad():
        weight = torch.randn(cin, cout, k, k) * 1e-3
        for i in range(cin):
            weight[i, i % cout] += kernel * (cout / cin if cin > cout else 1.0)
        conv.weight.copy_(weight)


class DeepLabV3PlusDecoder(nn.Module):
    """DeepLabv3+ decoder: project the stride-4 skip to 48 channels, concatenate with the
    upsampled ASPP features, two 3x3 convolutions, classify, upsample x4 bilinearly."""

    def __init__(self, in_channels: int, low_level_in: int, num_classes: int,
                 low_level_channels: int = 48) -> None:
        super().__init__()
        self.skip = nn.Sequential(nn.Conv2d(low_level_in, low_level_channels, 1, bias=False),
                                  nn.BatchNorm2d(low_level_channels), nn.ReLU(inplace=True))
        self.fuse = nn.Sequential(
            nn.Conv2d(in_channels + low_level_channels, 256, 3, padding=1, bias=False),
            nn.BatchNorm2d(256), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1, bias=False),
            nn.BatchNorm2d(256), nn.ReLU(inplace=True))
        self.classify = nn.Conv2d(256, num_classes, 1)

    def forward(self, features: torch.Tensor, low: torch.Tensor,
                out_size: tuple[int, int]) -> torch.Tensor:
        up = F.interpolate(features, size=low.shape[-2:], mode="bilinear", align_corners=False)
        x = self.classify(self.fuse(torch.cat([up, self.skip(low)], dim=1)))
        return F.interpolate(x, size=out_size, mode="bilinear", align_corners=False)
