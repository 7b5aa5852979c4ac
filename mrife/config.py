"""Every configuration value of the three networks, with the paper's values as defaults.

Needs no torch: the plugin imports its lists (architectures, backbones, presets) from here.

Where the paper leaves a value open the choice is documented next to its default. A config is a
plain dataclass so it can be stored in a checkpoint (``asdict``) and rebuilt (``from_dict``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

ARCHITECTURES = ("deeplabv3plus", "mrife", "icssn")
BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101")
MASK_STRATEGIES = ("edge_background", "interior_background", "all")
FUSIONS = ("add", "concat")
TRAIN_FUSION_SOURCES = ("student_masked", "student_original", "teacher_original")


@dataclass
class ModelConfig:
    """Configuration of one network.

    Shared (feature extraction module, Sec. III-B):
        arch: ``deeplabv3plus`` | ``mrife`` | ``icssn``.
        backbone: torchvision ResNet; the paper uses resnet101.
        in_channels: image bands (>= 1); the first convolution adapts.
        num_classes: 2 (background, landslide).
        weights: None (random init, the default: nothing is downloaded), ``"imagenet"``
            (torchvision's weights API; needs the internet once), or a path to a local
            state_dict of the torchvision ResNet.
        aspp_rates: atrous rates at output stride 8. Choice: (12, 24, 36), DeepLabv3's rates
            for output stride 8 (the paper names ASPP but not its rates).
        aspp_channels: ASPP output width = feature width C. Choice: 256 as in DeepLabv3.
        se: Squeeze-and-Excitation after ASPP (Sec. III-B order: backbone, ASPP, SE).
            The DeepLabv3+ baseline switches it off (see ``for_arch``).
        se_reduction: SE bottleneck ratio. Choice: 16, as in the SE paper.

    Decoders:
        decoder_channels: widths of MRIFE/ICSSN's two transposed convolutions (Sec. III-D).
            Choice: (128, 64). Strides 2 then 4 recover the full x8.
        decoder_dropout: dropout after each transposed convolution. Choice: 0.1.
        low_level_channels: DeepLabv3+ skip projection width (48, as in DeepLabv3+).
        mrife_decoder: MRIFE's segmentation decoder. "transposed" (default): the paper's two
            transposed convolutions from stride-8 features (Sec. III-D). "skip": DeepLabv3+'s
            decoder with the stride-4 low-level skip of the segmentation encoder, the one
            difference of MRIFE's branch from the baseline found to matter most (issue 16,
            docs/results.md); an option until measured better.

    MRIFE (Sec. III-C, eq. 1-8):
        block_size: 8 (one feature point per block) or 16 (a 2x2 group), Table V.
        background_fraction / interior_fraction: block classes: background below 10 %
            landslide pixels, interior above 90 %, edge in between; for 8x8 this is exactly the
            paper's < 7 and > 57 of 64 (Sec. III-C-1 and V-C-2).
        mask_strategy: which blocks are masked and contrasted (Table VI).
        mask_fraction: share of the class-1 blocks masked per image (then the same number of
            background blocks). The paper does not say how many; choice: 0.5.
        max_masked_per_class: cap on that number (None: no cap).
        mask_value: value written into masked pixels (after normalisation, so 0 is the mean).
        ema_momentum: lambda of eq. 1 (0.996).
        ema_warmup: off by default (the paper's constant lambda). On: lambda_t =
            min(lambda, 1 - 1/(t + 1)) after the t-th update (Mean Teacher's ramp-up), so the
            teacher, which inference uses, does not trail a young student by ~1/(1-lambda) = 250
            steps; this matters for short (CPU, fine-tuning) runs.
        ema_horizon: 0 (default, the paper's constant lambda) or a fraction h of the run:
            lambda = min(ema_momentum, 1 - 1/(h * planned steps)), an EMA window of about h of
            the run, so that a short run's teacher is not mostly its random start (with 350
            steps and lambda 0.996, a quarter of it still is). Long runs keep 0.996.
        teacher_bn: how the teacher's batch-norm running statistics follow the student's:
            ``ema`` (averaged like the weights, from 0/1; the literal reading of eq. 1) or
            ``copy`` (the student's current statistics). Averaging from 0/1 leaves the teacher's
            features at masked points about 4x too small on the first bundled model, which
            makes MFM's targets the wrong size.
        temperature: tau of eq. 5. Choice: 0.1 (a usual supervised-contrastive value).
        alpha, beta, gamma: weights of L_Reconst, L_Cons, L_CE in eq. 8. Choice: 1, 0.1, 1
            (the paper does not give them; the contrast loss is an order of magnitude larger
            than the MSE at start, so it gets a smaller weight).
        aux_ramp: 0 (default, eq. 8 as written) or a fraction r of the run: alpha and beta
            grow linearly from 0 to their value over the first r of the planned steps, so the
            auxiliary losses (0.5-0.6x the CE gradient at the start on the branch CE also
            needs) do not pull the young encoder before CE has shaped it.
        contrast_reduction: ``mean`` over anchors (default) or ``sum`` (eq. 4 literally).
            Choice: mean, so beta does not change meaning with the number of masked blocks.
        contrast_symmetric: also use background points as anchors (eq. 5 anchors only
            class 1; off by default to follow the paper).
        mfm / sfce: the masked-feature-modelling and contrast tasks (ablation B+M, B+M+C).
        self_distillation: an EMA teacher (True) or, without it, the student's own features
            of the original image (detached) as targets.
        fusion: ``add`` (point to point, default) or ``concat`` + 1x1 convolution (Sec. V-C-3).
        train_fusion_source: which enhancement features are fused during training; see
            ``mrife.py`` for why ``student_masked`` is the default.

    Shared loss:
        dice_weight: weight of a soft Dice loss of the landslide class added to the
            cross-entropy (eq. 7). Not in the paper; 0 keeps eq. 7 alone.

    ICSSN (summary only; see ``icssn.py``):
        embed_dim: width of the object-level (siamese) projection.
        cls_weight, ocl_weight, socl_weight: weights of the classification, object-level
            contrast and sub-object-level (boundary) contrast losses.
        icssn_cycle: the iterative schedule: this many classification-phase steps, then this
            many segmentation-phase steps, over the shared extractor (default 1 and 1).
    """

    arch: str = "mrife"
    backbone: str = "resnet101"
    in_channels: int = 3
    num_classes: int = 2
    weights: str | None = None
    aspp_rates: tuple[int, int, int] = (12, 24, 36)
    aspp_channels: int = 256
    se: bool = True
    se_reduction: int = 16
    decoder_channels: tuple[int, int] = (128, 64)
    decoder_dropout: float = 0.1
    low_level_channels: int = 48
    mrife_decoder: str = "transposed"
    # MRIFE
    block_size: int = 8
    background_fraction: float = 0.1
    interior_fraction: float = 0.9
    mask_strategy: str = "edge_background"
    mask_fraction: float = 0.5
    max_masked_per_class: int | None = None
    mask_value: float = 0.0
    ema_momentum: float = 0.996
    ema_warmup: bool = False
    ema_horizon: float = 0.0
    teacher_bn: str = "ema"
    temperature: float = 0.1
    alpha: float = 1.0
    beta: float = 0.1
    gamma: float = 1.0
    aux_ramp: float = 0.0
    contrast_reduction: str = "mean"
    contrast_symmetric: bool = False
    mfm: bool = True
    sfce: bool = True
    self_distillation: bool = True
    fusion: str = "add"
    train_fusion_source: str = "student_masked"
    dice_weight: float = 0.0
    # ICSSN
    embed_dim: int = 128
    cls_weight: float = 1.0
    ocl_weight: float = 0.1
    socl_weight: float = 0.1
    icssn_cycle: tuple[int, int] = (1, 1)

    def __post_init__(self) -> None:
        self.aspp_rates = tuple(self.aspp_rates)
        self.decoder_channels = tuple(self.decoder_channels)
        self.icssn_cycle = tuple(self.icssn_cycle)
        checks = [
            (self.arch in ARCHITECTURES, f"arch must be one of {ARCHITECTURES}"),
            (self.backbone in BACKBONES, f"backbone must be one of {BACKBONES}"),
            (self.in_channels >= 1, "in_channels must be >= 1"),
            (self.block_size in (8, 16), "block_size must be 8 or 16"),
            (self.mask_strategy in MASK_STRATEGIES,
             f"mask_strategy must be one of {MASK_STRATEGIES}"),
            (self.fusion in FUSIONS, f"fusion must be one of {FUSIONS}"),
            (self.train_fusion_source in TRAIN_FUSION_SOURCES,
             f"train_fusion_source must be one of {TRAIN_FUSION_SOURCES}"),
            (self.contrast_reduction in ("mean", "sum"), "contrast_reduction: mean or sum"),
            (0.0 < self.mask_fraction <= 1.0, "mask_fraction must be in (0, 1]"),
            (0.0 <= self.ema_momentum <= 1.0, "ema_momentum must be in [0, 1]"),
            (self.temperature > 0, "temperature must be > 0"),
            (self.teacher_bn in ("ema", "copy"), "teacher_bn must be ema or copy"),
            (0.0 <= self.ema_horizon <= 1.0, "ema_horizon must be in [0, 1]"),
            (0.0 <= self.aux_ramp <= 1.0, "aux_ramp must be in [0, 1]"),
            (self.dice_weight >= 0.0, "dice_weight must be >= 0"),
            (self.mrife_decoder in ("transposed", "skip"), "mrife_decoder: transposed or skip"),
            (0 <= self.background_fraction < self.interior_fraction <= 1,
             "need 0 <= background_fraction < interior_fraction <= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        if (self.train_fusion_source == "teacher_original" and not self.self_distillation):
            raise ValueError("train_fusion_source=teacher_original needs self_distillation")

    @classmethod
    def for_arch(cls, arch: str, **overrides) -> ModelConfig:
        """Defaults for ``arch``: the DeepLabv3+ baseline is the standard one, without SE."""
        base = {"arch": arch}
        if arch == "deeplabv3plus":
            base["se"] = False
        base.update(overrides)
        return cls(**base)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if not (k == "extra" and not v)}  # older files
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model configuration keys: {sorted(unknown)}")
        return cls(**data)

    def with_(self, **changes) -> ModelConfig:
        return replace(self, **changes)


# Every distinct configuration among the rows of the paper's Tables III-VI.
PRESETS: dict[str, dict] = {
    "B": {"arch": "deeplabv3plus", "se": False},                    # Table III/IV baseline
    "icssn": {"arch": "icssn"},                                     # Table III
    "B+M": {"arch": "mrife", "mfm": True, "sfce": False},           # Table IV
    "B+M+C": {"arch": "mrife", "mfm": True, "sfce": True},          # Table III/IV: MRIFE
    "seg-branch-only": {"arch": "mrife", "mfm": False, "sfce": False},  # control (not a row)
    # not in the paper: the controls with DeepLabv3+'s stride-4 skip in MRIFE's decoder
    "seg-branch-skip": {"arch": "mrife", "mfm": False, "sfce": False, "mrife_decoder": "skip"},
    "mrife-skip": {"arch": "mrife", "mfm": True, "sfce": True, "mrife_decoder": "skip"},
    "block16": {"arch": "mrife", "block_size": 16},                 # Table V
    "interior+background": {"arch": "mrife", "mask_strategy": "interior_background"},  # VI
    "all-blocks": {"arch": "mrife", "mask_strategy": "all"},        # Table VI
    "fusion-concat": {"arch": "mrife", "fusion": "concat"},         # Sec. V-C-3
    "without-self-distillation": {"arch": "mrife", "self_distillation": False},  # Fig. 6
    # not in the paper: MRIFE with the teacher's EMA ramped up (short runs, see ema_warmup)
    "mrife-ema-warmup": {"arch": "mrife", "ema_warmup": True},
}
# the paper's other names for rows that are one of the configurations above (MRIFE's defaults
# are block 8, edge + background blocks, point-to-point addition, self-distillation)
ALIASES: dict[str, str] = {
    "baseline": "B", "mrife": "B+M+C", "block8": "B+M+C", "edge+background": "B+M+C",
    "fusion-add": "B+M+C", "with-self-distillation": "B+M+C",
}
PRESET_NAMES = tuple(sorted(set(PRESETS) | set(ALIASES)))
# settings that only MRIFE's teacher-student branch reads
MRIFE_ONLY = frozenset({"teacher_bn", "ema_horizon", "ema_warmup", "ema_momentum",
                        "train_fusion_source", "alpha", "beta", "mfm", "sfce",
                        "mrife_decoder", "aux_ramp"})


def applicable(arch: str, changes: dict) -> dict:
    """``changes`` without the MRIFE-only settings when ``arch`` is not MRIFE (a recipe applied
    to every network of a comparison)."""
    return {k: v for k, v in changes.items() if arch == "mrife" or k not in MRIFE_ONLY}


# Network settings a fine-tuning run changes in the base model's configuration, chosen on dev
# scenes (docs/recipes-fewshot.md): MRIFE fuses the teacher's features of the original image
# during training, as inference does, instead of the student's of the masked image (the
# paper's training, still the default from scratch): +0.034 +- 0.019 dev landslide IoU with 30
# epochs, 3 of 3 seeds up (+0.011 +- 0.006 at 0.5 with 10 epochs).
FINETUNE_SETTINGS = {"train_fusion_source": "teacher_original"}


def finetune_config(stored: dict) -> ModelConfig:
    """The network settings of a run that fine-tunes a model file: the file's (its
    ``model_config``), no ImageNet weights, and FINETUNE_SETTINGS where they apply (MRIFE
    with an EMA teacher and an enhancement task)."""
    cfg = ModelConfig.from_dict(stored).with_(weights=None)
    if cfg.arch == "mrife" and cfg.self_distillation and (cfg.mfm or cfg.sfce):
        cfg = cfg.with_(**FINETUNE_SETTINGS)
    return cfg


def arch_preset(arch: str, **overrides) -> ModelConfig:
    """The paper's configuration of an architecture (deeplabv3plus: the baseline row)."""
    return preset({"deeplabv3plus": "baseline"}.get(arch, arch), **overrides)


def preset(name: str, **overrides) -> ModelConfig:
    """The configuration of a named row of the paper's tables, with overrides."""
    name = ALIASES.get(name, name)
    if name not in PRESETS:
        raise ValueError(f"unknown preset '{name}'; choose one of {list(PRESET_NAMES)}")
    values = dict(PRESETS[name])
    values.update(overrides)
    return ModelConfig(**values)


PREPROCESSING_MODES = ("dataset", "tile", "none")


@dataclass
class DataSettings:
    """How training data is put on the grid, cut into tiles and split; validated here, recorded
    in the model file's data contract (``settings``).

    Attributes:
        tile_size: training tile, pixels; a multiple of 16 (the networks' output stride 8 and
            MRIFE's 16-pixel blocks), at least 32.
        ground_resolution: metres per pixel to train at; None: the data's own (a
            resolution-agnostic model for folders without georeference).
        pos_neg_ratio: positive tiles per negative tile (paper: 3; 0: all negatives).
        preprocessing: histogram equalisation mode (``mrife.preprocess``).
        split_seed: seed of the scene / block split.
        split_ratios: training : validation : test shares; None: 6:2:2 for folders of scenes,
            8:2:0 for a raster and labels (the user evaluates on their own polygons).
    """

    tile_size: int = 512
    ground_resolution: float | None = None
    pos_neg_ratio: float = 3.0
    preprocessing: str = "dataset"
    split_seed: int = 0
    split_ratios: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        if self.split_ratios is not None:
            self.split_ratios = tuple(float(r) for r in self.split_ratios)
        r = self.split_ratios
        checks = [
            (self.tile_size >= 32 and self.tile_size % 16 == 0,
             f"tile size {self.tile_size} must be a multiple of 16 and at least 32 (e.g. 128, "
             "256, 512)"),
            (self.ground_resolution is None or self.ground_resolution > 0,
             f"ground resolution {self.ground_resolution} must be above 0 m/px"),
            (self.pos_neg_ratio >= 0, "the positive : negative tile ratio must be 0 or more"),
            (self.preprocessing in PREPROCESSING_MODES,
             f"preprocessing must be one of {PREPROCESSING_MODES}"),
            (r is None or (len(r) == 3 and min(r) >= 0 and r[0] > 0 and r[1] > 0),
             f"split ratios {r}: training and validation shares above 0, test 0 or more"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def ratios(self, default: tuple[float, float, float]) -> tuple[float, float, float]:
        return self.split_ratios or default

    def with_(self, **changes) -> DataSettings:
        return replace(self, **changes)


IGNORE_INDEX = 255  # label value of pixels that take no part in the loss (padding, nodata)


@dataclass
class TrainConfig:
    epochs: int = 100
    batch_size: int = 4
    lr: float = 0.007
    momentum: float = 0.9
    weight_decay: float = 0.0005
    poly_power: float = 0.9
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"        # mrife.compute.PRECISIONS
    freeze_encoder: bool = False   # freeze the ResNet backbone(s); ASPP, SE, decoder train
    max_steps_per_epoch: int | None = None
    init_from: str | None = None   # fine-tune: start from this model file's weights
    # decision threshold: the one of metrics.THRESHOLDS with the best validation landslide IoU
    # for the best epoch (epochs are ranked at 0.5), stored in the model file; False keeps 0.5
    choose_threshold: bool = True
    # augmentation beyond flips and rotations (data.TileDataset): photometric strength (0 off)
    # and scale jitter (0 off; 0.25 draws scales in [1/1.25, 1.25])
    photometric: float = 0.0
    scale_jitter: float = 0.0
    # time two training steps on a copy of the model before the run and report the expected
    # duration (a "plan" progress event); costs about two steps
    estimate_time: bool = True
    # the batch is cut into this many equal shards per step, gradients averaged (0: as many as
    # ranks under torchrun, else 1); a run continues with the same shards on any number of
    # ranks that divides them (mrife/distributed.py). ranks: set by the run, recorded.
    shards: int = 0
    ranks: int = 1
    sync_batchnorm: bool = False   # CUDA ranks only
