"""ICSSN (Lu et al., TGRS 2023), built from its summary (``icssn-summary.txt``): only that is
available, so every structural choice below is ours and is documented here.

- One feature extractor (the same module as MRIFE's: backbone, ASPP, SE) shared by an object
  classification network and a semantic segmentation network.
- Classification network: global average pooling -> MLP -> one logit, "the tile contains a
  landslide" (label: any landslide pixel in the tile). :meth:`classify` gives its probability to
  callers.
- Object-level contrastive learning (OCL) through a siamese network: two random flip / rot90
  views of every tile go through the *same* extractor and a projection head; the embeddings are
  contrasted by tile class with the supervised contrastive loss of MRIFE eq. 5, both classes as
  anchors (views of tiles of the same class attract, of different classes repel).
- Sub-object-level contrastive learning (SOCL) in the segmentation network: boundary (edge)
  blocks against background blocks of the label, chosen as MRIFE's mask module chooses them
  (but nothing is masked), contrasted on the segmentation features with eq. 5.
- Segmentation decoder: MRIFE's two transposed convolutions (the summary says MRIFE reused
  ICSSN's decoder).
- The iterative schedule (alternating classification and segmentation phases over the shared
  extractor) belongs to the trainer; ``compute_losses(phase=...)`` gives each phase's loss.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..config import ModelConfig
from .base import SegmentationModel, segmentation_loss
from .decoders import TransposedDecoder
from .encoder import FeatureExtractor
from .losses import edge_contrast_loss, gather_points
from .mask import block_classes, select_blocks

PHASES = ("joint", "classification", "segmentation")


def random_view(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random flip / 90-degree rotation of each tile (a siamese view); non-square tiles
    rotate by 0 or 180 degrees only, so the views keep their shape."""
    square = x.shape[-1] == x.shape[-2]
    out = []
    for tile in x:
        k = int(torch.randint(4, (1,), generator=generator)) if square else \
            2 * int(torch.randint(2, (1,), generator=generator))
        tile = torch.rot90(tile, k, dims=(-2, -1))
        if int(torch.randint(2, (1,), generator=generator)):
            tile = torch.flip(tile, dims=(-1,))
        out.append(tile)
    return torch.stack(out)


class ICSSN(SegmentationModel):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = FeatureExtractor(cfg)
        c = self.encoder.out_channels
        self.decoder = TransposedDecoder(c, cfg.num_classes, cfg.decoder_channels,
                                         cfg.decoder_dropout)
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                        nn.Linear(c, c // 2), nn.ReLU(inplace=True),
                                        nn.Dropout(0.2), nn.Linear(c // 2, 1))
        self.projector = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, c),
                                       nn.ReLU(inplace=True), nn.Linear(c, cfg.embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check(x)
        return self.decoder(self.encoder(x)[0])

    def classify_logits(self, x: torch.Tensor) -> torch.Tensor:
        self.check(x)
        return self.classifier(self.encoder(x)[0]).squeeze(1)

    @torch.no_grad()
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Probability (N,) that each tile contains a landslide."""
        return torch.sigmoid(self.classify_logits(x).float())

    def loss_arguments(self, step: int) -> dict:
        """The iterative schedule: ``icssn_cycle[0]`` classification-phase steps, then
        ``icssn_cycle[1]`` segmentation-phase steps, repeated."""
        n_cls, n_seg = self.cfg.icssn_cycle
        return {"phase": "classification" if step % (n_cls + n_seg) < n_cls else "segmentation"}

    def compute_losses(self, x: torch.Tensor, target: torch.Tensor,
                       generator: torch.Generator | None = None, phase: str = "joint",
                       **kwargs) -> dict:
        """Loss of a training phase: ``classification`` (BCE + OCL), ``segmentation``
        (CE + SOCL), or ``joint`` (both, one step)."""
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}")
        self.check(x)
        cfg = self.cfg
        out: dict = {}
        loss = x.new_zeros(())
        if phase in ("joint", "segmentation"):
            features, _ = self.encoder(x)
            logits = self.decoder(features)
            ce = segmentation_loss(logits, target, self.cfg.dice_weight)
            socl = self.boundary_contrast(features, target, generator)
            loss = loss + ce + cfg.socl_weight * socl
            out.update(ce=ce.detach(), socl=socl.detach(), logits=logits)
        if phase in ("joint", "classification"):
            tile_label = (target == 1).flatten(1).any(dim=1).float()
            views = torch.cat([random_view(x, generator), random_view(x, generator)])
            feats, _ = self.encoder(views)
            cls_logits = self.classifier(feats).squeeze(1)
            bce = F.binary_cross_entropy_with_logits(cls_logits, tile_label.repeat(2))
            ocl = edge_contrast_loss(self.projector(feats), tile_label.repeat(2).long(),
                                     cfg.temperature, "mean", symmetric=True)
            loss = loss + cfg.cls_weight * bce + cfg.ocl_weight * ocl
            with torch.no_grad():
                acc = ((cls_logits > 0).float() == tile_label.repeat(2)).float().mean()
            out.update(bce=bce.detach(), ocl=ocl.detach(), cls_accuracy=acc)
        out["loss"] = loss
        return out

    def boundary_contrast(self, features: torch.Tensor, target: torch.Tensor,
                          generator: torch.Generator | None = None) -> torch.Tensor:
        """SOCL: eq.-5 contrast of edge against background blocks of each tile (8 x 8 blocks,
        one feature point each)."""
        cfg = self.cfg
        classes = block_classes(target, 8, cfg.background_fraction, cfg.interior_fraction)
        list1, list0 = select_blocks(classes, "edge_background", cfg.mask_fraction,
                                     cfg.max_masked_per_class, generator)
        losses = []
        for i in range(features.shape[0]):
            if list1[i].numel() < 2:
                continue
            idx = torch.cat([list1[i], list0[i]])
            labels = torch.cat([torch.ones_like(list1[i]), torch.zeros_like(list0[i])])
            losses.append(edge_contrast_loss(gather_points(features[i], idx), labels,
                                             cfg.temperature, cfg.contrast_reduction))
        return torch.stack(losses).mean() if losses else features.sum() * 0.0
