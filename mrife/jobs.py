"""Whole jobs built from the parts, for the command line and for QGIS: train or evaluate on a
folder of images and masks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .checkpoint import DataContract, LoadedModel, check_bands
from .compute import choose
from .config import DataSettings
from .data import (
    FOLDER_SPLIT,
    RASTER_SPLIT,
    Scene,
    TileDataset,
    load_folder_scenes,
    split_scenes,
)
from .inference import pad_window, predict_array
from .metrics import SegmentationScores, classification_scores
from .models import ModelConfig
from .preprocess import fit_preprocessing
from .train import TrainConfig, TrainResult, train


@dataclass
class FolderData:
    """Where the images are, their resolution, and how to tile them.

    Attributes:
        images, masks: the two folders.
        settings: tiles, resolution, balance, split (default split 6:2:2).
        source_resolution: the images' ground resolution (m/px) if known; needed to train at
            ``settings.ground_resolution``. Without both the model is resolution-agnostic and
            detection runs at native resolution.
    """

    images: Path
    masks: Path
    settings: DataSettings = field(default_factory=DataSettings)
    source_resolution: float | None = None

    def scale(self) -> float:
        res = self.settings.ground_resolution
        if res and self.source_resolution:
            return self.source_resolution / res
        if res and not self.source_resolution:
            raise ValueError("--ground-resolution needs --source-resolution (the images' own "
                             "metres per pixel) for a folder of images without georeference")
        return 1.0


def split_folder(data: FolderData) -> tuple[dict[str, list[Scene]], dict[str, list[str]]]:
    scenes = load_folder_scenes(data.images, data.masks, data.scale())
    split = split_scenes([s.name for s in scenes], data.settings.split_seed,
                         data.settings.ratios(FOLDER_SPLIT))
    by_name = {s.name: s for s in scenes}
    return {k: [by_name[n] for n in v] for k, v in split.items()}, split


def train_on_folder(data: FolderData, model_cfg: ModelConfig, train_cfg: TrainConfig,
                    out: Path, **kw) -> TrainResult:
    """Split by scene, fit the preprocessing on the training scenes, tile, train."""
    parts, split = split_folder(data)
    summary = {"source": "folders", "images": str(data.images), "masks": str(data.masks),
               "split": split, "split_seed": data.settings.split_seed}
    return train_on_scenes(parts, summary, model_cfg, train_cfg, out, data.settings, **kw)


def load_rasters(rasters, landslides: Path, mapped_area: Path | None, data: DataSettings,
                 log=print):
    """Scenes of one or more rasters (each cut into spatial blocks, each split on its own by
    ``data.split_ratios``, default 8:2:0: training and validation only), merged per split, with
    a training-data summary."""
    split_ratios = data.ratios(RASTER_SPLIT)
    from .geodata import load_raster_scenes

    rasters = [Path(r) for r in ([rasters] if isinstance(rasters, str | Path) else rasters)]
    parts: dict[str, list] = {"train": [], "val": [], "test": []}
    summary = {"source": "raster", "rasters": [str(r) for r in rasters],
               "landslides": str(landslides),
               "mapped_area": str(mapped_area) if mapped_area else None,
               "split": {"train": [], "val": [], "test": []}, "split_seed": data.split_seed,
               "split_ratios": list(split_ratios)}
    facts = None
    for i, raster in enumerate(rasters):
        try:
            p, report, f = load_raster_scenes(raster, landslides, mapped_area,
                                              ground_resolution=data.ground_resolution,
                                              tile_size=data.tile_size,
                                              split_seed=data.split_seed,
                                              split_ratios=split_ratios)
        except ValueError as exc:
            if len(rasters) > 1 and "falls inside" in str(exc):
                log(f"{raster.name}: no landslide polygon inside it; skipped")
                continue
            raise
        if facts is not None and f["bands"] != facts["bands"]:
            raise ValueError(f"{raster.name} has {f['bands']} bands but {rasters[0].name} has "
                             f"{facts['bands']}; train on rasters with the same bands")
        facts = facts or f
        if "landslide_polygons" not in summary:      # the first raster that has labels
            if report.reprojected_from:
                log(f"landslide polygons reprojected from {report.reprojected_from} to the "
                    "raster's CRS")
            if report.repaired:
                log(f"invalid landslide geometries repaired: {report.repaired}")
            if report.negatives:
                log(f"'not landslide' polygons: {report.negatives} (mapped ground, not burned "
                    "as landslides)")
            for line in report.warnings:
                log(line)
            summary.update(landslide_polygons=report.landslides, negatives=report.negatives,
                           repaired_geometries=report.repaired, block_px=f["block_px"])
        prefix = f"r{i}_" if len(rasters) > 1 else ""
        for k, scenes in p.items():
            for sc in scenes:
                sc.name = prefix + sc.name
            parts[k] += scenes
            summary["split"][k] += [sc.name for sc in scenes]
    if facts is None:
        raise ValueError(f"none of the landslide polygons of {Path(landslides).name} falls inside "
                         "the raster(s); check that they cover the imagery")
    if len(rasters) == 1:
        summary["raster"] = str(rasters[0])
    return parts, summary, facts


def train_on_raster(raster, landslides: Path, mapped_area: Path | None,
                    model_cfg: ModelConfig, train_cfg: TrainConfig, out: Path,
                    data: DataSettings, *, log=print, **kw) -> TrainResult:
    """Train on one or more georeferenced rasters and landslide polygons (see
    ``geodata.py``)."""
    parts, summary, facts = load_rasters(raster, landslides, mapped_area, data, log=log)
    data = data.with_(ground_resolution=data.ground_resolution or facts["ground_resolution"])
    return train_on_scenes(parts, summary, model_cfg, train_cfg, out, data, **kw)


def train_on_scenes(parts: dict[str, list[Scene]], summary: dict, model_cfg: ModelConfig,
                    train_cfg: TrainConfig, out: Path, data: DataSettings, **kw) -> TrainResult:
    """Fit the preprocessing on the training scenes, tile every split, train."""
    if not parts["train"]:
        raise ValueError("not enough scenes (or spatial blocks) to train on")
    bands = parts["train"][0].image.shape[0]
    model_cfg = model_cfg.with_(in_channels=bands)
    pre = fit_preprocessing([s.image for s in parts["train"]], data.preprocessing,
                            [s.valid for s in parts["train"]], seed=train_cfg.seed)
    train_ds = TileDataset(parts["train"], pre, data.tile_size, data.pos_neg_ratio,
                           augment=True, seed=train_cfg.seed, photometric=train_cfg.photometric,
                           scale_jitter=train_cfg.scale_jitter)
    val_ds = TileDataset(parts["val"], pre, data.tile_size, pos_neg_ratio=0.0) \
        if parts["val"] else None
    names = ["red", "green", "blue"] if bands == 3 else [f"band{i + 1}" for i in range(bands)]
    contract = DataContract(bands=names, ground_resolution=data.ground_resolution,
                            tile_size=data.tile_size, preprocessing=pre.to_dict(),
                            settings=asdict(data))
    summary = dict(summary, train_tiles=train_ds.summary(),
                   val_tiles=val_ds.summary() if val_ds else None,
                   landslide_fraction_train=float(np.mean([s.label[s.valid].mean()
                                                           for s in parts["train"]])))
    return train(model_cfg, train_ds, val_ds, train_cfg, out, contract, training_data=summary,
                 **kw)


def evaluate_scenes(loaded: LoadedModel, scenes: list[Scene], *, overlap: int | None = None,
                    batch_size: int = 4, device: str = "cpu", threshold: float | None = None,
                    precision: str = "auto", tta: bool = False) -> dict:
    """Metrics of a model over whole scenes, with the same sliding-window inference as detect
    (each tile preprocessed as it is read). For a model with a tile classifier (ICSSN), also
    tile classification accuracy and F1 over each scene's non-overlapping tile grid (a tile is
    positive when any labelled pixel in it is landslide). ``threshold`` None: the model's own
    (``LoadedModel.threshold``); ``tta``: average over flips (``inference.predict_batch``)."""
    threshold = loaded.threshold if threshold is None else threshold
    contract = loaded.contract
    pre = contract.preprocess
    tile = contract.tile_size
    overlap = tile // 4 if overlap is None else overlap
    policy = choose(precision, device)
    policy.prepare_model(loaded.model)
    scores = SegmentationScores()
    classify = getattr(loaded.model, "classify", None)
    cls_prob: list[float] = []
    cls_truth: list[bool] = []
    for scene in scenes:
        check_bands(contract, scene.image.shape[0], scene.name)
        image = scene.image[:len(contract.bands)]
        prob = predict_array(loaded.model, image, tile=tile, overlap=overlap,
                             preprocess=pre.apply, batch_size=batch_size, device=device,
                             valid=scene.valid, policy=policy, tta=tta)
        scores.update(prob >= threshold, scene.label == 1, valid=scene.valid)
        if classify is not None:
            p, t = _tile_classification(classify, image, scene, pre, tile, device)
            cls_prob += p
            cls_truth += t
    result = scores.as_dict()
    result["scenes"] = len(scenes)
    result["threshold"] = threshold
    if classify is not None:
        result.update(classification_scores(np.array(cls_prob), np.array(cls_truth), threshold))
        result["tiles_classified"] = len(cls_prob)
    return result


def _tile_classification(classify, image: np.ndarray, scene: Scene, pre, tile: int,
                         device: str) -> tuple[list[float], list[bool]]:
    import torch

    probs, truth = [], []
    _, h, w = image.shape
    for r in range(0, h, tile):
        for c in range(0, w, tile):
            x, v = pad_window(image, scene.valid, r, c, tile)
            if not v.any():
                continue
            lab, _ = pad_window(scene.label[None], scene.valid, r, c, tile)
            inp = torch.from_numpy(pre.apply(x, v)[None]).to(device)
            probs.append(float(classify(inp)[0]))
            truth.append(bool(((lab[0] == 1) & v).any()))
    return probs, truth
