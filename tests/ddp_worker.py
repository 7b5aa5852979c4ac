"""One rank of a distributed training test, started by torchrun (tests/mrife/test_distributed.py).

    torchrun --standalone --nproc-per-node 2 tests/ddp_worker.py IMAGES MASKS OUT.pt ARCH \
        EPOCHS [STOP_AFTER_STEPS]

Trains with the settings the test compares against (float32, 64 px tiles at 4 m, batch 4) and
writes, from rank 0, the step losses to OUT.json; with STOP_AFTER_STEPS every rank stops there
(a cancel), leaving the resume file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mrife import distributed  # noqa: E402
from mrife.config import DataSettings  # noqa: E402
from mrife.events import Step  # noqa: E402
from mrife.jobs import FolderData, train_on_folder  # noqa: E402
from mrife.models import ModelConfig  # noqa: E402
from mrife.train import TrainConfig  # noqa: E402

SETTINGS = DataSettings(tile_size=64, ground_resolution=4.0)


def config(epochs: int) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=4, lr=0.01, device="cpu", precision="float32",
                       max_steps_per_epoch=3, estimate_time=False)


def main() -> int:
    images, masks, out, arch, epochs = sys.argv[1:6]
    stop_after = int(sys.argv[6]) if len(sys.argv) > 6 else None
    world = distributed.start("cpu")
    steps: list[dict] = []
    try:
        data = FolderData(Path(images), Path(masks), SETTINGS, 0.5)
        result = train_on_folder(
            data, ModelConfig(arch=arch, backbone="resnet18"), config(int(epochs)), Path(out),
            progress=lambda ev: steps.append(ev.losses) if isinstance(ev, Step) else None,
            should_stop=(lambda: len(steps) >= stop_after) if stop_after else None)
        if world.main:
            Path(out).with_suffix(".json").write_text(json.dumps(
                {"status": result.status, "losses": steps, "ranks": world.size}))
    finally:
        distributed.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
