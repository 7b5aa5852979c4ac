"""Training loop: paper set-up by default (Table II), callbacks, cancel, resume, checkpoints.

- SGD (lr 0.007, momentum 0.9, weight decay 5e-4), batch 4, 100 epochs; learning rate follows
  the "poly" schedule lr * (1 - step / total) ** 0.9 per step (DeepLab's schedule; the paper does
  not name one).
- Precision and layout from ``backend.compute`` (``precision="auto"``: bfloat16 autocast and
  channels-last on CPUs and GPUs with native bfloat16, float16 with gradient scaling on older
  GPUs, float32 channels-last otherwise); validation runs under the same policy.
- Model and resume files are written on a background thread (``BackgroundWriter``), overlapping
  the next epoch; the run waits for the last write before it returns.
- MRIFE: the EMA teacher is updated after every optimizer step. ICSSN: the iterative schedule
  alternates classification-phase and segmentation-phase steps over the shared extractor
  (``icssn_cycle`` steps of each, default 1 and 1).
- Every step draws its randomness (dropout, mask choice) from (seed, step), and every tile's
  augmentation from (seed, epoch, index): a CPU run is repeatable, and a resumed run continues
  exactly as an uninterrupted one would.
- Files: ``out`` is the best model on validation landslide IoU; ``<out>.resume.pt`` is the last
  state (written after every epoch and on cancel), removed when the run completes. Both are
  written atomically.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .checkpoint import (
    BackgroundWriter,
    DataContract,
    model_payload,
    read_payload,
    snapshot,
    weights_from_payload,
)
from .compute import ComputePolicy, choose, set_threads
from .data import TileDataset
from .devices import resolve_device
from .leftovers import remove_stale
from .metrics import SegmentationScores, ThresholdSweep
from .models import ModelConfig, SegmentationModel, build_model


class TrainingError(RuntimeError):
    """A run cannot go on; the message says why and what to do."""


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
    precision: str = "auto"        # backend.compute.PRECISIONS
    freeze_encoder: bool = False   # freeze the ResNet backbone(s); ASPP, SE, decoder train
    icssn_cycle: tuple[int, int] = (1, 1)
    max_steps_per_epoch: int | None = None
    init_from: str | None = None   # fine-tune: start from this model file's weights
    # decision threshold: the one of metrics.THRESHOLDS with the best validation landslide IoU
    # (epochs are ranked by that IoU too), stored in the model file; False keeps 0.5
    choose_threshold: bool = True
    # augmentation beyond flips and rotations (data.TileDataset): photometric strength (0 off)
    # and scale jitter (0 off; 0.25 draws scales in [1/1.25, 1.25])
    photometric: float = 0.0
    scale_jitter: float = 0.0
    # time two training steps on a copy of the model before the run and report the expected
    # duration (a "plan" progress event); costs about two steps
    estimate_time: bool = True


@dataclass
class TrainResult:
    status: str                    # "completed" | "cancelled"
    best_path: Path | None
    resume_path: Path
    epochs_done: int
    best_metrics: dict
    history: list[dict] = field(default_factory=list)


def resume_path_for(out: Path) -> Path:
    return Path(out).with_suffix(".resume.pt")


def _step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step) % (2**63 - 1)


def _batch(dataset: TileDataset, indices, device: torch.device
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels of the dataset's tiles ``indices``, stacked, on ``device``."""
    items = [dataset[i] for i in indices]
    return (torch.from_numpy(np.stack([it[0] for it in items])).to(device),
            torch.from_numpy(np.stack([it[1] for it in items])).to(device))


def _freeze_backbones(model: SegmentationModel) -> list[torch.nn.Module]:
    frozen = []
    for name in ("encoder", "student"):
        part = getattr(model, name, None)
        if part is not None:
            for p in part.backbone.parameters():
                p.requires_grad_(False)
            frozen.append(part.backbone)
    return frozen


def evaluate_tiles(model: SegmentationModel, dataset: TileDataset, device: torch.device,
                   batch_size: int, policy: ComputePolicy) -> dict:
    """Pixel metrics over the dataset's tiles (validation during training) at threshold 0.5,
    plus ``threshold``: the candidate threshold with the best landslide IoU, and that IoU
    (``iou_at_threshold``)."""
    model.eval()
    scores, sweep = SegmentationScores(), ThresholdSweep()
    with torch.no_grad(), policy.autocast():
        for k in range(0, len(dataset), batch_size):
            items = [dataset[i] for i in range(k, min(k + batch_size, len(dataset)))]
            x = policy.prepare_input(torch.from_numpy(np.stack([it[0] for it in items])).to(device))
            prob = model.predict_proba(x).float().cpu().numpy()
            for p, (_, y) in zip(prob, items):
                scores.update(p >= 0.5, y == 1, valid=y != 255, objects=False)
                sweep.update(p, y == 1, y != 255)
    threshold, iou = sweep.best()
    return {**scores.as_dict(), "threshold": threshold, "iou_at_threshold": iou}


def train(model_cfg: ModelConfig, train_ds: TileDataset, val_ds: TileDataset | None,
          cfg: TrainConfig, out: Path, contract: DataContract, *,
          training_data: dict | None = None, resume: bool = False,
          progress: Callable[[dict], None] | None = None,
          should_stop: Callable[[], bool] | None = None) -> TrainResult:
    """Train and write the best model to ``out``; see the module docstring."""
    out = Path(out)
    rpath = resume_path_for(out)
    for target in (out, rpath):           # half-written files of a killed run into ``out``
        remove_stale(out.parent, f".{target.name}.*.part")
    device = torch.device(resolve_device(cfg.device).key)
    cuda = device.type == "cuda"
    policy = choose(cfg.precision, device)
    set_threads()
    torch.manual_seed(cfg.seed)
    model = build_model(model_cfg)
    if cfg.init_from:
        src = read_payload(Path(cfg.init_from))
        base = ModelConfig.from_dict(src["model_config"])
        if (base.arch, base.backbone, base.in_channels) != (model_cfg.arch, model_cfg.backbone,
                                                            model_cfg.in_channels):
            raise TrainingError(f"cannot fine-tune from {Path(cfg.init_from).name}: it is a "
                                f"{base.arch}/{base.backbone} model with {base.in_channels} "
                                "band(s); choose the same architecture, backbone and bands")
        model.load_state_dict(weights_from_payload(src), strict=not src.get("inference_only"))
        if src.get("inference_only") and getattr(model, "teacher", None) is not None:
            # shipped files leave out the student: it restarts as a copy of the teacher (as at
            # the start of self-distillation)
            model.student.load_state_dict(model.teacher.state_dict())
    frozen = _freeze_backbones(model) if cfg.freeze_encoder else []
    policy.prepare_model(model.to(device))
    params = model.trainable_parameters()
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay)
    batches_per_epoch = _batches(len(train_ds), cfg)
    if batches_per_epoch == 0:
        raise TrainingError("no training tiles: label some landslides inside the raster")
    total = cfg.epochs * batches_per_epoch
    model.plan_steps(total)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: max(1.0 - s / total, 0.0) ** cfg.poly_power)
    scaler = torch.amp.GradScaler("cuda", enabled=cuda and policy.grad_scaling)
    writer = BackgroundWriter()

    epoch, skip, step, best, history = 0, 0, 0, -1.0, []
    best_metrics: dict = {}
    sums: dict[str, float] = {}
    if resume and not rpath.exists():
        raise TrainingError(f"nothing to resume: {rpath} does not exist (the run completed, or "
                            "never started); run again without resume to start afresh")
    if resume:
        state = read_payload(rpath, device, resume=True)
        model.load_state_dict(state["state_dict"])
        r = state["resume"]
        opt.load_state_dict(r["optimizer"])
        sched.load_state_dict(r["scheduler"])
        scaler.load_state_dict(r["scaler"])
        epoch, skip, step = r["epoch"], r["step_in_epoch"], r["global_step"]
        best, best_metrics, history = r["best_score"], r["best_metrics"], r["history"]
        sums = r["epoch_sums"]

    def save_resume(ep: int, in_epoch: int, partial: dict) -> None:
        payload = model_payload(model, contract, training_data=training_data,
                                train_config=asdict(cfg))
        payload["resume"] = snapshot({
            "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "scaler": scaler.state_dict(), "epoch": ep, "step_in_epoch": in_epoch,
            "global_step": step, "best_score": best, "best_metrics": best_metrics,
            "history": history, "epoch_sums": partial})
        writer.save(payload, rpath)

    if progress is not None:
        per_step = _seconds_per_step(model, model_cfg, train_ds, cfg, device, policy) \
            if cfg.estimate_time else None
        val_batches = -(-len(val_ds) // cfg.batch_size) if val_ds is not None else 0
        left = total - step
        progress({"event": "plan", "epochs": cfg.epochs, "steps_per_epoch": batches_per_epoch,
                  "total_steps": total, "steps_left": left, "train_tiles": len(train_ds),
                  "val_tiles": len(val_ds) if val_ds is not None else 0,
                  "device": device.type, "compute": policy.describe(),
                  "seconds_per_step": per_step,
                  # validation is a forward pass only: about a third of a training step
                  "eta_s": None if per_step is None else
                  per_step * (left + (cfg.epochs - epoch) * val_batches / 3.0)})

    t0, steps_at_start = time.monotonic(), step
    while epoch < cfg.epochs:
        train_ds.set_epoch(epoch)
        order = np.random.default_rng([cfg.seed, epoch]).permutation(len(train_ds))
        model.train()
        for m in frozen:
            m.eval()
        for b in range(skip, batches_per_epoch):
            if should_stop is not None and should_stop():
                save_resume(epoch, b, sums)
                writer.wait()
                return TrainResult("cancelled", out if out.exists() else None, rpath, epoch,
                                   best_metrics, history)
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            x, y = _batch(train_ds, idx, device)
            x = policy.prepare_input(x)
            torch.manual_seed(_step_seed(cfg.seed, step))
            gen = torch.Generator().manual_seed(_step_seed(cfg.seed, step))
            kwargs = {}
            if model_cfg.arch == "icssn":
                n_cls, n_seg = cfg.icssn_cycle
                kwargs["phase"] = "classification" if step % (n_cls + n_seg) < n_cls \
                    else "segmentation"
            with policy.autocast():
                losses = model.compute_losses(x, y, gen, **kwargs)
            loss = losses["loss"]
            if not torch.isfinite(loss):
                writer.wait()
                kept = (f" The last good state is kept in {rpath.name} (--resume)."
                        if rpath.exists() else "")
                raise TrainingError(
                    f"the loss became {float(loss.detach())} at epoch {epoch + 1}, step {b + 1}; "
                    f"lower the learning rate (now {cfg.lr}) or check the imagery for invalid "
                    f"values.{kept}")
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            model.update_teacher()
            step += 1
            scalars = {k: float(v.detach()) for k, v in losses.items()
                       if k != "logits" and torch.is_tensor(v) and v.ndim == 0}
            for k, v in scalars.items():
                sums[k] = sums.get(k, 0.0) + v
            if progress is not None:
                done = step - steps_at_start
                left = total - step
                eta = (time.monotonic() - t0) / max(done, 1) * left
                progress({"event": "step", "epoch": epoch + 1, "epochs": cfg.epochs,
                          "step": b + 1, "steps": batches_per_epoch, "global_step": step,
                          "total_steps": total, "lr": sched.get_last_lr()[0],
                          "losses": scalars,
                          "eta_s": eta})
        skip = 0
        n = max(batches_per_epoch, 1)
        record = {"epoch": epoch + 1, **{f"train_{k}": v / n for k, v in sums.items()}}
        if val_ds is not None and len(val_ds):
            metrics = evaluate_tiles(model, val_ds, device, cfg.batch_size, policy)
            record.update({f"val_{k}": v for k, v in metrics.items()})
            score = metrics["iou_at_threshold" if cfg.choose_threshold else "iou_landslide"]
        else:
            metrics, score = {}, float(epoch)
        history.append(record)
        epoch += 1
        if score > best:
            best, best_metrics = score, metrics
            writer.save(model_payload(model, contract, metrics=metrics,
                                      training_data=training_data, train_config=asdict(cfg),
                                      name=out.stem, decision=_decision(metrics, cfg)), out)
        save_resume(epoch, 0, {})
        sums = {}
        if progress is not None:
            progress({"event": "epoch", **record, "best_iou": best})
    writer.wait()
    rpath.unlink(missing_ok=True)
    return TrainResult("completed", out, rpath, epoch, best_metrics, history)


def _seconds_per_step(model: SegmentationModel, model_cfg: ModelConfig, train_ds: TileDataset,
                      cfg: TrainConfig, device: torch.device, policy: ComputePolicy) -> float:
    """Wall time of one training step (forward, backward, optimizer, teacher update), measured
    on a copy of the model with the first batch: the second of two steps (the first warms up).
    The model, the random state and the data are left as they were."""
    probe = copy.deepcopy(model)
    probe.train()
    opt = torch.optim.SGD(probe.trainable_parameters(), lr=cfg.lr, momentum=cfg.momentum)
    x, y = _batch(train_ds, range(min(cfg.batch_size, len(train_ds))), device)
    x = policy.prepare_input(x)
    cuda = device.type == "cuda"
    kwargs = {"phase": "segmentation"} if model_cfg.arch == "icssn" else {}
    took = 0.0
    with torch.random.fork_rng(devices=[device] if cuda else []):
        for _ in range(2):
            t0 = time.perf_counter()
            with policy.autocast():
                loss = probe.compute_losses(x, y, torch.Generator().manual_seed(0),
                                            **kwargs)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            probe.update_teacher()
            if cuda:
                torch.cuda.synchronize(device)
            took = time.perf_counter() - t0
    del probe, opt
    return took


def _decision(metrics: dict, cfg: TrainConfig) -> dict | None:
    """The decision threshold stored in the model file (None: detection's default 0.5)."""
    if not cfg.choose_threshold or "threshold" not in metrics:
        return None
    return {"threshold": metrics["threshold"], "chosen_on": "validation tiles",
            "criterion": "landslide IoU", "iou_at_threshold": metrics["iou_at_threshold"],
            "iou_at_0.5": metrics["iou_landslide"]}


def _batches(n: int, cfg: TrainConfig) -> int:
    """Batches per epoch; a trailing batch of one tile is dropped (batch norm needs two)."""
    full, rest = divmod(n, cfg.batch_size)
    count = full + (1 if rest > 1 or (rest == 1 and cfg.batch_size == 1) else 0)
    if cfg.max_steps_per_epoch:
        count = min(count, cfg.max_steps_per_epoch)
    return count
