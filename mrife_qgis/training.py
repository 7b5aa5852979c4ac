"""QGIS side of fine-tuning, shared by ``mrife:train`` and the panel's Train tab: check the
inputs, turn layers into files the headless backend reads, build its configs, run, and word the
progress. Errors are ValueError whose message names the layer and the fix (the algorithm turns
them into QgsProcessingException, the panel shows them in the message bar)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mrife import devices, errors
from mrife.config import ARCHITECTURES, BACKBONES, DataSettings, ModelConfig, finetune_config
from mrife.events import Epoch, Plan

from .i18n import tr
from .label_inputs import TrainingInputs, training_inputs

if TYPE_CHECKING:
    from mrife.train import TrainConfig
from .log import duration

# the networks and backbones the library builds (mrife.config needs no torch); the plugin
# lists MRIFE first, with display names
_LABELS = {"mrife": "MRIFE", "icssn": "ICSSN", "deeplabv3plus": "DeepLabv3+"}
ARCHS = sorted(ARCHITECTURES, key=list(_LABELS).index)
ARCH_LABELS = [_LABELS[a] for a in ARCHS]
BACKBONES = list(BACKBONES)
# a raster whose pixel size differs from the base model's by more than this factor is resampled
# to the model's resolution with a warning
RESOLUTION_WARN_FACTOR = 1.5


def writable_or_raise(path: Path) -> None:
    """ValueError when ``path``'s folder cannot take a new file."""
    folder = Path(path).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".mrife-write-test")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise ValueError(
            tr(
                "cannot write to {0} ({1}); choose a folder you can write to for the model file"
            ).format(folder, exc.strerror or exc)
        ) from exc


def raster_paths(layers) -> list[Path]:
    paths = []
    for layer in layers:
        if layer.providerType() != "gdal":
            raise ValueError(
                tr(
                    "layer '{0}' is a {1} layer; training reads files: save it with Export > Save "
                    "As... (GeoTIFF) and use that layer"
                ).format(layer.name(), layer.providerType())
            )
        paths.append(Path(layer.source().split("|")[0]))
    return paths


def pixel_size_m(layer) -> float | None:
    from qgis.core import QgsUnitTypes

    if layer.crs().isGeographic() or not layer.crs().isValid():
        return None
    factor = QgsUnitTypes.fromUnitToUnitFactor(
        layer.crs().mapUnits(), QgsUnitTypes.DistanceUnit.DistanceMeters
    )
    return layer.rasterUnitsPerPixelX() * factor


@dataclass
class TrainRequest:
    """What the user chose (the same in the algorithm's dialog and the Train tab)."""

    rasters: list  # QgsRasterLayer
    labels: object  # QgsVectorLayer or None
    area: object  # QgsVectorLayer or None
    out: Path
    base_model: str = ""  # "": the bundled model
    from_scratch: bool = False
    arch: str = "mrife"
    backbone: str = "resnet18"
    epochs: int = 30  # docs/recipes-fewshot.md: MRIFE fine-tuned 30 vs 10 epochs, dev scenes
    batch_size: int = 4
    lr: float = 0.007
    freeze_encoder: bool = False
    tile_size: int = 0  # 0: the base model's, or 256 from scratch
    device: str = ""  # "": the panel's choice
    resume: bool = False
    max_steps_per_epoch: int | None = None
    precision: str = "auto"  # mrife.compute.PRECISIONS
    test_share: float = 0.0  # blocks held out as test (training : validation 8 : 2)


@dataclass
class PreparedTraining:
    """Everything the backend needs; built on the main thread (it reads QGIS layers), run in
    any thread."""

    request: TrainRequest
    rasters: list[Path]
    inputs: TrainingInputs
    model_cfg: ModelConfig
    train_cfg: TrainConfig
    data: DataSettings
    device_label: str
    infos: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def resume_file(self) -> Path:
        from mrife.train import resume_path_for

        return resume_path_for(self.request.out)


def label_inputs(layers, labels, area, workdir: Path) -> tuple[list[Path], TrainingInputs]:
    """The raster files and the label files (in the first raster's CRS) for the backend;
    ValueError naming the layer and the fix."""
    if not layers:
        raise ValueError(tr("choose at least one raster layer to train on"))
    if labels is None:
        raise ValueError(tr("choose the label layer (landslide polygons)"))
    crs = layers[0].crs()
    if not crs.isValid():
        raise ValueError(
            tr("layer '{0}' has no CRS; set it (Layer Properties > Source) before training").format(
                layers[0].name()
            )
        )
    inputs = training_inputs(labels, area, crs, workdir)
    return raster_paths(layers), inputs


def prepare(req: TrainRequest, workdir: Path) -> PreparedTraining:
    """Check the request and write the label files into ``workdir``; ValueError if it cannot
    run."""
    from mrife import checkpoint, models
    from mrife import train as train_mod

    from .detection import default_model
    from .settings import PluginSettings

    out = Path(req.out)
    if out.suffix.lower() != ".pt":
        raise ValueError(tr("name the model file *.pt, not {0}").format(out.name))
    writable_or_raise(out)
    rasters, inputs = label_inputs(req.rasters, req.labels, req.area, workdir)
    infos, warnings = list(inputs.infos), list(inputs.warnings)
    infos.append(
        f"{inputs.landslide_count} landslide polygon(s), {inputs.negative_count} "
        "'not landslide' polygon(s)"
    )
    base = req.base_model
    if not req.from_scratch and not base:
        bundled = default_model()
        if bundled is None:
            raise ValueError(
                tr(
                    "the catalogue's base model is not on disk yet: download it first "
                    "(the Train tab does so when you press Train), choose a model "
                    "file or start from scratch"
                )
            )
        base = str(bundled)
    tile, ground_res = req.tile_size, None
    if req.from_scratch:
        try:
            cfg = models.arch_preset(req.arch, backbone=req.backbone)
        except (KeyError, ValueError) as exc:
            raise ValueError(
                tr("architecture {0}/{1}: {2}").format(req.arch, req.backbone, exc)
            ) from exc
        tile = tile or 256
        init_from = None
        infos.append(f"training from scratch: {cfg.arch}, {cfg.backbone}")
    else:
        try:
            payload = checkpoint.read_payload(Path(base))
        except checkpoint.CheckpointError as exc:
            raise ValueError(tr("base model: {0}").format(exc)) from exc
        cfg = finetune_config(payload["model_config"])
        contract = payload["data_contract"]
        tile = tile or contract["tile_size"]
        ground_res = contract.get("ground_resolution")
        init_from = base
        need = len(contract["bands"])
        for layer in req.rasters:
            if layer.bandCount() < need:
                raise ValueError(
                    tr(
                        "layer '{0}' has {1} band(s); the base model needs {2}. Choose a raster "
                        "with {3} bands or start from scratch"
                    ).format(layer.name(), layer.bandCount(), need, need)
                )
        px = pixel_size_m(req.rasters[0])
        if ground_res and px and max(px / ground_res, ground_res / px) > RESOLUTION_WARN_FACTOR:
            warnings.append(
                f"layer '{req.rasters[0].name()}' has {px:.2f} m pixels; the base model was "
                f"trained at {ground_res:.2f} m: the imagery is resampled to {ground_res:.2f} m "
                "for training (and detection does the same)"
            )
        infos.append(f"fine-tuning {Path(base).name} ({cfg.arch}, {cfg.backbone})")
    device = req.device.strip() or PluginSettings.load().device
    dev = devices.resolve_device(device)
    if dev.key == "cpu":
        warnings.append(
            "no GPU in use: training runs on the CPU; the expected time follows "
            "once two steps are measured"
        )
    tcfg = train_mod.TrainConfig(
        epochs=req.epochs,
        batch_size=req.batch_size,
        lr=req.lr,
        device=dev.key,
        freeze_encoder=req.freeze_encoder,
        init_from=init_from,
        max_steps_per_epoch=req.max_steps_per_epoch or None,
        precision=req.precision,
    )
    if req.resume and not train_mod.resume_path_for(out).exists():
        warnings.append(
            f"nothing to resume ({train_mod.resume_path_for(out).name} does not "
            "exist): starting a new run"
        )
    data = DataSettings(
        tile_size=tile,
        ground_resolution=ground_res,
        split_ratios=(0.8 - req.test_share, 0.2, req.test_share),
    )
    return PreparedTraining(req, rasters, inputs, cfg, tcfg, data, dev.label, infos, warnings)


class TrainFailedError(ValueError):
    """The run stopped; the message says what is kept and what to do."""


def run(prep: PreparedTraining, *, log, progress, should_stop):
    """Train (any thread). Returns the backend's TrainResult; TrainFailedError with a message for
    bad data, a diverging run or a failed write (the last good files are intact)."""
    from mrife import jobs

    req = prep.request
    name = req.rasters[0].name()
    try:
        return jobs.train_on_raster(
            prep.rasters,
            prep.inputs.landslides,
            prep.inputs.mapped_area,
            prep.model_cfg,
            prep.train_cfg,
            req.out,
            prep.data,
            log=log,
            progress=progress,
            should_stop=should_stop,
            resume=req.resume and prep.resume_file.exists(),
        )
    except OSError as exc:
        out = Path(req.out)
        kept = [p.name for p in (out, prep.resume_file) if p.exists()]
        raise TrainFailedError(
            f"writing the model failed ({exc.strerror or exc}); "
            + (
                f"the last good checkpoint ({' and '.join(kept)}) is intact. Free disk space, "
                "then run again with 'Resume'"
                if kept
                else "nothing was written yet. Free disk space and run again"
            )
        ) from exc
    except Exception as exc:  # bad data, a diverging run, a damaged file (GDAL)
        message = errors.user_message(exc)
        if message is None:
            raise
        raise TrainFailedError(f"{name}: {message}") from exc


def describe_plan(ev: Plan, device_label: str) -> str:
    """The expected time, stated before training goes on."""
    text = tr(
        "{0} training step(s) ({1} epoch(s) of {2}, {3} training and {4} validation tiles)"
    ).format(ev.steps_left, ev.epochs, ev.steps_per_epoch, ev.train_tiles, ev.val_tiles)
    if not ev.val_tiles:
        text += tr(
            "; no validation tiles (the labelled area is too small to hold out a "
            "block): the last epoch is kept, without metrics. Label a larger area for a "
            "measured model"
        )
    if ev.eta_s is not None:
        text += tr("; expected time about {0} on {1} ({2} s per step)").format(
            duration(ev.eta_s), device_label, f"{ev.seconds_per_step:.2f}"
        )
    if ev.compute:
        text += tr("; compute: {0}").format(ev.compute)
    return text


def describe_epoch(ev: Epoch, epochs: int, eta_s: float | None) -> str:
    loss = ev.train_loss if ev.train_loss is not None else float("nan")
    parts = [tr("epoch {0}/{1}").format(ev.epoch, epochs), tr("loss {0}").format(f"{loss:.4f}")]
    if ev.val_iou is not None:
        parts += [
            tr("validation landslide IoU {0}").format(f"{ev.val_iou:.3f}"),
            tr("F1 {0}").format(f"{ev.val_f1 or 0:.3f}"),
        ]
    if eta_s is not None and ev.epoch < epochs:
        parts.append(tr("about {0} left").format(duration(eta_s)))
    return tr(", ").join(parts)


def describe_metrics(metrics: dict) -> str:
    if not metrics:
        return tr("no validation tiles: no metrics")
    return tr("validation landslide IoU {0}, F1 {1}, precision {2}, recall {3}").format(
        *(f"{metrics.get(k, 0):.3f}" for k in ("iou_landslide", "f1", "precision", "recall"))
    )
