"""Progress events of a training run, typed (no torch here: the plugin reads them too).

``train(progress=...)`` calls ``progress`` with a :class:`Plan` once before the first step, a
:class:`Step` after every optimizer step and an :class:`Epoch` after every epoch."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Plan:
    epochs: int
    steps_per_epoch: int
    total_steps: int
    steps_left: int
    train_tiles: int
    val_tiles: int
    device: str                       # "cpu", "cuda"
    compute: str                      # precision and layout, in words
    seconds_per_step: float | None    # measured on a copy of the model (None: not measured)
    eta_s: float | None


@dataclass(frozen=True)
class Step:
    epoch: int                        # 1-based
    epochs: int
    step: int                         # 1-based, within the epoch
    steps: int
    global_step: int
    total_steps: int
    lr: float
    losses: dict[str, float]          # "loss" and its named parts
    eta_s: float

    @property
    def fraction(self) -> float:
        return self.global_step / max(self.total_steps, 1)


@dataclass(frozen=True)
class Epoch:
    epoch: int                        # 1-based
    train: dict[str, float]           # mean losses over the epoch ("loss", "ce", ...)
    val: dict[str, float] = field(default_factory=dict)   # validation metrics (empty: none)
    best_iou: float = -1.0

    @property
    def train_loss(self) -> float | None:
        return self.train.get("loss")

    @property
    def val_iou(self) -> float | None:
        return self.val.get("iou_landslide")

    @property
    def val_f1(self) -> float | None:
        return self.val.get("f1")

    def record(self) -> dict:
        """The flat form kept in the model file's history: epoch, train_*, val_*."""
        return {"epoch": self.epoch, **{f"train_{k}": v for k, v in self.train.items()},
                **{f"val_{k}": v for k, v in self.val.items()}}
