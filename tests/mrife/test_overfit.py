"""On one real Sichuan tile each architecture (resnet18) can overfit: the training loss falls and
the tile's landslide IoU (eval mode) exceeds 0.9 within a bounded number of CPU steps."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from mrife.models import ARCHITECTURES, ModelConfig, build_model

SIZE = 96
MAX_STEPS = 200


@pytest.fixture(scope="module")
def real_tile(sichuan_dir):
    image = cv2.imread(str(sichuan_dir / "images" / "Landslide003.png"), cv2.IMREAD_COLOR)
    mask = cv2.imread(str(sichuan_dir / "masks" / "LandslideLabel003.png"), cv2.IMREAD_COLOR)
    image = cv2.resize(image, (SIZE, SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)
    mask = cv2.resize((mask.max(axis=2) > 0).astype(np.uint8), (SIZE, SIZE),
                      interpolation=cv2.INTER_NEAREST)
    x = torch.from_numpy(image).permute(2, 0, 1)[None]
    x = (x - x.mean(dim=(2, 3), keepdim=True)) / x.std(dim=(2, 3), keepdim=True)
    y = torch.from_numpy(mask.astype(np.int64))[None]
    assert 0.05 < float(y.float().mean()) < 0.6
    return x, y


def iou(pred: torch.Tensor, y: torch.Tensor) -> float:
    inter = int(((pred == 1) & (y == 1)).sum())
    union = int(((pred == 1) | (y == 1)).sum())
    return inter / union


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_overfits_one_real_tile(arch, real_tile):
    x, y = real_tile
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    # ema_momentum 0.9: with the paper's 0.996 the teacher (used at inference) trails the
    # student by ~250 steps, longer than this test; eq. 1 itself is tested exactly elsewhere.
    model = build_model(ModelConfig.for_arch(arch, backbone="resnet18", decoder_dropout=0.0,
                                             ema_momentum=0.9))
    opt = torch.optim.Adam(model.trainable_parameters(), lr=1e-3)
    # Two copies of the tile (a flipped one) so MRIFE's pairs and batch norm see a batch of 2.
    xb, yb = torch.cat([x, x.flip(-1)]), torch.cat([y, y.flip(-1)])
    first, reached = None, None
    for step in range(1, MAX_STEPS + 1):
        model.train()
        out = model.compute_losses(xb, yb, g)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        model.update_teacher()
        first = first if first is not None else float(out["ce"])
        if step % 10 == 0:
            model.eval()
            with torch.no_grad():
                score = iou(model(x).argmax(1), y)
            if score > 0.9:
                reached = step
                break
    assert reached is not None, f"{arch}: IoU {score:.3f} after {MAX_STEPS} steps"
    assert float(out["ce"]) < 0.5 * first
