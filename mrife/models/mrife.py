"""MRIFE (He et al., Sec. III): segmentation branch + teacher-student feature enhancement.

Three encoders of the feature-extraction structure with separate parameters (Fig. 1): the
segmentation encoder, the student and the teacher (an EMA of the student, eq. 1, never touched
by the optimizer). Training (``compute_losses``):

1. the mask module masks equal numbers of class-1 (edge) and background blocks per image;
2. student(masked) and teacher(original) give f_mask and f_img; MFM = MSE at the masked points
   (eqs. 2-3); SFCE = supervised contrast across a pair of samples, masked points of one against
   original points of the other and the reverse (eqs. 4-6);
3. the enhancement features are fused with the segmentation features (add, or concat + 1x1
   conv), decoded, and the CE loss is taken; loss = alpha*L_Reconst + beta*L_Cons + gamma*L_CE.

Inference: teacher features of the original image are fused with the segmentation features.

Which enhancement features are fused during training? The paper does not say. Default
``student_masked``: the student's features of the masked image. Reasons: the teacher has no
gradient, so fusing its features would leave the CE loss unable to train the enhancement branch,
whereas Sec. III-D says the segmentation branch "guides and constrains" it; and with masked
inputs the decoder learns to segment from *reconstructed* edge features, which ties MFM to the
segmentation it is meant to serve. ``student_original`` (one more student pass on the original)
and ``teacher_original`` stay reachable through ``ModelConfig.train_fusion_source``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..config import ModelConfig
from .base import SegmentationModel, segmentation_loss
from .decoders import DeepLabV3PlusDecoder, TransposedDecoder
from .encoder import FeatureExtractor
from .losses import edge_contrast_loss, gather_points, reconstruction_loss
from .mask import MaskResult, make_masks


def make_pairs(eligible: list[int], generator: torch.Generator | None = None
               ) -> list[tuple[int, int]]:
    """Random pairs of two different samples among ``eligible`` (those with masked blocks).
    An odd one out is paired with another random eligible sample; a lone sample with itself."""
    if not eligible:
        return []
    if len(eligible) == 1:
        return [(eligible[0], eligible[0])]
    order = [eligible[i] for i in torch.randperm(len(eligible), generator=generator).tolist()]
    pairs = [(order[i], order[i + 1]) for i in range(0, len(order) - 1, 2)]
    if len(order) % 2:
        partner = order[int(torch.randint(len(order) - 1, (1,), generator=generator))]
        pairs.append((order[-1], partner))
    return pairs


class MRIFE(SegmentationModel):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.input_multiple = cfg.block_size
        self.encoder = FeatureExtractor(cfg)
        channels = self.encoder.out_channels
        self.enhance = cfg.mfm or cfg.sfce
        self.student = FeatureExtractor(cfg) if self.enhance else None
        self.teacher = None
        if self.enhance and cfg.self_distillation:
            self.teacher = copy.deepcopy(self.student)  # DINO: the teacher starts as the student
            for p in self.teacher.parameters():
                p.requires_grad_(False)
        self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long))
        self.fuse_conv = None
        if self.enhance and cfg.fusion == "concat":
            self.fuse_conv = nn.Sequential(nn.Conv2d(2 * channels, channels, 1, bias=False),
                                           nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.skip = cfg.mrife_decoder == "skip"
        if self.skip:
            self.decoder = DeepLabV3PlusDecoder(channels, self.encoder.low_level_channels,
                                                cfg.num_classes, cfg.low_level_channels)
        else:
            self.decoder = TransposedDecoder(channels, cfg.num_classes, cfg.decoder_channels,
                                             cfg.decoder_dropout)

    def decode(self, f: torch.Tensor, low: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(f, low, x.shape[-2:]) if self.skip else self.decoder(f)

    def train(self, mode: bool = True) -> MRIFE:
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()  # the teacher is never in training mode (BN statistics are EMA'd)
        return self

    def fuse(self, f_seg: torch.Tensor, f_ad: torch.Tensor) -> torch.Tensor:
        if self.fuse_conv is None:
            return f_seg + f_ad
        return self.fuse_conv(torch.cat([f_seg, f_ad], dim=1))

    def _reference(self) -> FeatureExtractor:
        return self.teacher if self.teacher is not None else self.student

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check(x, multiple=8)
        f_seg, low = self.encoder(x)
        if self.enhance:
            f_seg = self.fuse(f_seg, self._reference()(x)[0])
        return self.decode(f_seg, low, x)

    def loss_arguments(self, step: int) -> dict:
        """``aux_weight``: the share of alpha and beta at global step ``step`` (``aux_ramp``:
        0 at the first step, 1 from ``aux_ramp`` of the planned steps on; always 1 without)."""
        ramp = self.cfg.aux_ramp * getattr(self, "planned_steps", 0)
        return {"aux_weight": min(1.0, step / ramp) if ramp > 0 else 1.0}

    def compute_losses(self, x: torch.Tensor, target: torch.Tensor,
                       generator: torch.Generator | None = None, aux_weight: float = 1.0,
                       **kwargs) -> dict:
        cfg = self.cfg
        if not self.enhance:
            return super().compute_losses(x, target, generator)
        self.check(x)
        masks = make_masks(x, target, block_size=cfg.block_size, strategy=cfg.mask_strategy,
                           fraction=cfg.mask_fraction, max_per_class=cfg.max_masked_per_class,
                           background_fraction=cfg.background_fraction,
                           interior_fraction=cfg.interior_fraction, mask_value=cfg.mask_value,
                           generator=generator)
        f_seg, low = self.encoder(x)
        f_mask, _ = self.student(masks.masked)
        with torch.no_grad():
            if self.teacher is not None:
                f_img = self.teacher(x)[0]
            else:  # without self-distillation: the student's own view of the original
                f_img = self.student(x)[0].detach()
        source = cfg.train_fusion_source
        f_ad = {"student_masked": lambda: f_mask,
                "student_original": lambda: self.student(x)[0],
                "teacher_original": lambda: f_img}[source]()
        logits = self.decode(self.fuse(f_seg, f_ad), low, x)
        ce = segmentation_loss(logits, target, cfg.dice_weight)

        reconst, cons = self.enhancement_losses(f_mask, f_img, masks, generator)
        loss = cfg.gamma * ce
        if cfg.mfm:
            loss = loss + aux_weight * cfg.alpha * reconst
        if cfg.sfce:
            loss = loss + aux_weight * cfg.beta * cons
        return {"loss": loss, "ce": ce.detach(), "reconst": reconst.detach(),
                "cons": cons.detach(), "masked_blocks": sum(masks.count(i)
                                                            for i in range(x.shape[0])),
                "logits": logits}

    def enhancement_losses(self, f_mask: torch.Tensor, f_img: torch.Tensor, masks: MaskResult,
                           generator: torch.Generator | None = None
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        """L_Reconst (eq. 3) and L_Cons (eq. 6), averaged over the sample pairs."""
        width = f_mask.shape[-1]
        points = [masks.feature_points(i, width) for i in range(f_mask.shape[0])]
        eligible = [i for i in range(f_mask.shape[0]) if masks.count(i) > 0]
        pairs = make_pairs(eligible, generator)
        zero = f_mask.sum() * 0.0
        if not pairs:
            return zero, zero
        reconst, cons = [], []
        for a, b in pairs:
            (ia, la), (ib, lb) = points[a], points[b]
            reconst.append(reconstruction_loss(f_mask[a], f_img[a], ia)
                           + reconstruction_loss(f_mask[b], f_img[b], ib))
            cross = []
            for (m, im, lm), (o, io, lo) in (((a, ia, la), (b, ib, lb)),
                                             ((b, ib, lb), (a, ia, la))):
                feats = torch.cat([gather_points(f_mask[m], im), gather_points(f_img[o], io)])
                cross.append(edge_contrast_loss(feats, torch.cat([lm, lo]), self.cfg.temperature,
                                                self.cfg.contrast_reduction,
                                                self.cfg.contrast_symmetric))
            cons.append(cross[0] + cross[1])
        return torch.stack(reconst).mean(), torch.stack(cons).mean()

    def trainable_parameters(self) -> list[nn.Parameter]:
        teacher = {id(p) for p in self.teacher.parameters()} if self.teacher is not None else set()
        return [p for p in self.parameters() if p.requires_grad and id(p) not in teacher]

    def plan_steps(self, total: int) -> None:
        self.planned_steps = int(total)

    def ema_lambda(self) -> float:
        """lambda of eq. 1 for the next update: ``ema_momentum``, shortened to
        1 - 1/(ema_horizon * planned steps) for short runs (``ema_horizon``), and ramped up as
        min(lambda, 1 - 1/(t + 1)) with ``ema_warmup``."""
        m = self.cfg.ema_momentum
        planned = getattr(self, "planned_steps", 0)
        if self.cfg.ema_horizon > 0 and planned > 0:
            m = min(m, 1.0 - 1.0 / max(self.cfg.ema_horizon * planned, 2.0))
        if self.cfg.ema_warmup:
            m = min(m, 1.0 - 1.0 / (float(self.ema_updates) + 1.0))
        return m

    @torch.no_grad()
    def update_teacher(self) -> None:
        """Eq. 1: theta_t = lambda * theta_t + (1 - lambda) * theta_s, after optimizer.step()
        (lambda from ``ema_lambda``). Batch-norm running statistics: averaged the same way
        (``teacher_bn="ema"``) or copied from the student (``"copy"``); counters are copied."""
        if self.teacher is None:
            return
        self.ema_updates += 1
        m = self.ema_lambda()
        for pt, ps in zip(self.teacher.parameters(), self.student.parameters(), strict=True):
            pt.mul_(m).add_(ps.detach(), alpha=1.0 - m)
        average_bn = self.cfg.teacher_bn == "ema"
        for bt, bs in zip(self.teacher.buffers(), self.student.buffers(), strict=True):
            if bt.dtype.is_floating_point and average_bn:
                bt.mul_(m).add_(bs, alpha=1.0 - m)
            else:
                bt.copy_(bs)
