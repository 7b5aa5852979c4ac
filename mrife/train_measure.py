"""What training measures besides its steps: validation metrics over tiles, and the time of one
step before the run (the "plan" event)."""

from __future__ import annotations

import copy
import time

import numpy as np
import torch

from .compute import ComputePolicy
from .config import TrainConfig
from .data import TileDataset
from .metrics import SegmentationScores, ThresholdSweep
from .models import SegmentationModel


def batch_of(dataset: TileDataset, indices, device: torch.device
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels of the dataset's tiles ``indices``, stacked, on ``device``."""
    items = [dataset[i] for i in indices]
    return (torch.from_numpy(np.stack([it[0] for it in items])).to(device),
            torch.from_numpy(np.stack([it[1] for it in items])).to(device))


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


def seconds_per_step(model: SegmentationModel, train_ds: TileDataset, cfg: TrainConfig,
                      device: torch.device, policy: ComputePolicy) -> float:
    """Wall time of one training step (forward, backward, optimizer, teacher update), measured
    on a copy of the model with the first batch: the second of two steps (the first warms up).
    The model, the random state and the data are left as they were."""
    probe = copy.deepcopy(model)
    probe.train()
    opt = torch.optim.SGD(probe.trainable_parameters(), lr=cfg.lr, momentum=cfg.momentum)
    x, y = batch_of(train_ds, range(min(cfg.batch_size, len(train_ds))), device)
    x = policy.prepare_input(x)
    cuda = device.type == "cuda"
    kwargs = model.loss_arguments(1)    # ICSSN: a segmentation-phase step (the costlier one)
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
