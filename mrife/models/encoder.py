"""Feature extraction module (MRIFE Sec. III-B, shared by all three networks).

ResNet backbone at output stride 8 -> ASPP (multi-scale context) -> Squeeze-and-Excitation.
Returns the stride-8 features and the stride-4 low-level features (for DeepLabv3+'s skip).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torchvision import models
from torchvision.models.resnet import BasicBlock

from ..config import ModelConfig

OUTPUT_STRIDE = 8
_WEIGHTS = {
    "resnet18": "ResNet18_Weights", "resnet34": "ResNet34_Weights",
    "resnet50": "ResNet50_Weights", "resnet101": "ResNet101_Weights",
}


def check_input(x: torch.Tensor, in_channels: int, multiple: int = OUTPUT_STRIDE) -> None:
    """Raise ValueError with a fix when ``x`` is not (N, in_channels, H, W), H and W % multiple."""
    if x.ndim != 4:
        raise ValueError(f"expected a batch of images (N, bands, H, W), got shape {tuple(x.shape)}")
    if x.shape[1] != in_channels:
        raise ValueError(f"the model expects {in_channels} band(s), the input has {x.shape[1]}; "
                         "map the raster's bands onto the model's bands")
    h, w = x.shape[-2:]
    if h % multiple or w % multiple:
        def near(n: int) -> str:
            lo, hi = (n // multiple) * multiple, -(-n // multiple) * multiple
            return f"{lo} or {hi}" if lo and lo != hi else str(hi)

        raise ValueError(f"input size {h} x {w} is not divisible by {multiple}: use a tile of "
                         f"{near(h)} x {near(w)} pixels (pad or crop)")


def _dilate_basic_layer(layer: nn.Sequential, dilation: int) -> None:
    """Turn a strided BasicBlock stage into a dilated one (torchvision only does this for
    Bottleneck ResNets): stride 1 everywhere, dilation on the 3x3 convolutions."""
    for i, block in enumerate(layer):
        assert isinstance(block, BasicBlock)
        block.conv1.stride = (1, 1)
        if block.downsample is not None:
            block.downsample[0].stride = (1, 1)
        # The first block keeps the previous stage's dilation (as torchvision does for
        # Bottleneck): dilation // 2 on its first conv.
        d1 = max(dilation // 2, 1) if i == 0 else dilation
        block.conv1.dilation, block.conv1.padding = (d1, d1), (d1, d1)
        block.conv2.dilation, block.conv2.padding = (dilation, dilation), (dilation, dilation)


def build_backbone(name: str, weights: str | None, in_channels: int) -> nn.Module:
    """A torchvision ResNet at output stride 8, its first convolution adapted to the bands.

    Args:
        name: resnet18 | resnet34 | resnet50 | resnet101.
        weights: None, "imagenet" (torchvision's weights API) or a local state_dict path.
        in_channels: bands of the input.
    """
    builder = getattr(models, name)
    tv_weights = None
    if weights == "imagenet":
        tv_weights = getattr(models, _WEIGHTS[name]).DEFAULT
    if name in ("resnet50", "resnet101"):
        net = builder(weights=tv_weights, replace_stride_with_dilation=[False, True, True])
    else:
        net = builder(weights=tv_weights)
        _dilate_basic_layer(net.layer3, 2)
        _dilate_basic_layer(net.layer4, 4)
    if weights not in (None, "imagenet"):
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"backbone weights file not found: {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        missing, unexpected = net.load_state_dict(state, strict=False)
        if len([k for k in missing if not k.startswith("fc.")]) or unexpected:
            raise ValueError(f"{path} is not a torchvision {name} state_dict "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    if in_channels != 3:
        old = net.conv1
        new = nn.Conv2d(in_channels, old.out_channels, kernel_size=7, stride=2, padding=3,
                        bias=False)
        if weights is not None:
            # Keep pretrained filters useful for other band counts: every band gets the mean
            # RGB filter, scaled so the response magnitude stays the same.
            with torch.no_grad():
                mean = old.weight.mean(dim=1, keepdim=True)
                new.weight.copy_(mean.repeat(1, in_channels, 1, 1) * (3.0 / in_channels))
        net.conv1 = new
    net.fc = nn.Identity()
    net.avgpool = nn.Identity()
    return net


class ASPP(nn.Module):
    """Atrous Spatial Pyramid Pooling (DeepLabv3): 1x1, three dilated 3x3, image pooling.

    The image-pooling branch has no batch norm: on a 1x1 pooled map, batch norm fails for a
    batch of one, which fine-tuning on few tiles does use.
    """

    def __init__(self, in_channels: int, out_channels: int, rates: tuple[int, ...]) -> None:
        super().__init__()

        def branch(k: int, d: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(in_channels, out_channels, k, padding=0 if k == 1 else d, dilation=d,
                          bias=False),
                nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))

        self.branches = nn.ModuleList([branch(1, 1)] + [branch(3, r) for r in rates])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1),
                                  nn.Conv2d(in_channels, out_channels, 1), nn.ReLU(inplace=True))
        self.project = nn.Sequential(
            nn.Conv2d(out_channels * (len(rates) + 2), out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True), nn.Dropout(0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [b(x) for b in self.branches]
        outs.append(F.interpolate(self.pool(x), size=x.shape[-2:], mode="nearest"))
        return self.project(torch.cat(outs, dim=1))


class SqueezeExcitation(nn.Module):
    """Channel re-weighting (Hu et al.): global pool -> bottleneck MLP -> sigmoid gates."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1),
                                  nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1),
                                  nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class FeatureExtractor(nn.Module):
    """Backbone (OS 8) -> ASPP -> SE. ``forward`` returns (features /8, low-level /4)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.in_channels = cfg.in_channels
        self.backbone = build_backbone(cfg.backbone, cfg.weights, cfg.in_channels)
        deep = 512 if cfg.backbone in ("resnet18", "resnet34") else 2048
        self.low_level_channels = 64 if cfg.backbone in ("resnet18", "resnet34") else 256
        self.out_channels = cfg.aspp_channels
        self.aspp = ASPP(deep, cfg.aspp_channels, cfg.aspp_rates)
        self.se = SqueezeExcitation(cfg.aspp_channels, cfg.se_reduction) if cfg.se \
            else nn.Identity()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = self.backbone
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        low = b.layer1(x)
        deep = b.layer4(b.layer3(b.layer2(low)))
        return self.se(self.aspp(deep)), low
