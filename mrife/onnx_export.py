"""ONNX export: a model file as an ONNX graph that ONNX Runtime (and the Deepness QGIS plugin)
can run, with the data contract in its metadata.

The graph is self-contained: input (N, C, H, W) float in [0, 1] (raw 8-bit values / 255, what
Deepness feeds), output (N, 2, H, W) class probabilities (background, landslide). The model's
preprocessing (histogram equalisation through the training data's quantile curve, then
standardisation) is inside the graph as a 256-entry lookup table per band, which is exact for
8-bit imagery, the only kind such tools feed. Models trained on other value ranges are refused.

Metadata (``onnx`` ``metadata_props``, JSON values): Deepness's keys (``model_type``
"Segmentor", ``class_names``, ``resolution`` in cm/px, ``tiles_size``, ``tiles_overlap`` in
percent, ``seg_thresh``, ``seg_small_segment``) and ours (``mrife_data_contract``: bands,
ground resolution, tile size, preprocessing; ``mrife_model_config``; ``mrife_source_sha256_16``).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checkpoint import LoadedModel, atomic_write_bytes, file_checksum


class ExportError(ValueError):
    """The model cannot be exported; the message says why."""


def lookup_tables(loaded: LoadedModel) -> np.ndarray:
    """(C, 256) float32: network input for each 8-bit value of each band (equalised, then
    standardised exactly as detection does)."""
    pre = loaded.contract.preprocess
    if pre.source_dtype != "uint8" or pre.mode == "tile":
        raise ExportError(f"the model was trained on {pre.source_dtype} imagery with '{pre.mode}' "
                          "equalisation; ONNX export supports 8-bit models with dataset "
                          "equalisation (what ONNX tools such as Deepness feed)")
    return pre.lookup_table()


class _Exported(nn.Module):
    """[0, 1] input -> lookup-table preprocessing -> network -> softmax."""

    def __init__(self, model: nn.Module, lut: np.ndarray):
        super().__init__()
        self.model = model
        self.register_buffer("lut", torch.from_numpy(lut))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idx = torch.clamp(torch.round(x * 255.0), 0, 255).long()
        bands = [self.lut[b][idx[:, b]] for b in range(self.lut.shape[0])]
        return torch.softmax(self.model(torch.stack(bands, dim=1)).float(), dim=1)


def deepness_metadata(loaded: LoadedModel, threshold: float | None = None) -> dict[str, str]:
    """Deepness's metadata keys; ``seg_thresh`` is the model's own decision threshold (chosen
    on validation and stored in the file) unless ``threshold`` is given."""
    threshold = loaded.threshold if threshold is None else threshold
    c = loaded.contract
    meta = {
        "model_type": "Segmentor",
        "class_names": {i: n for i, n in enumerate(c.class_names)},
        "tiles_size": int(c.tile_size),
        "tiles_overlap": 25,                      # percent; detection's default (a quarter)
        "seg_thresh": float(threshold),
        "seg_small_segment": 7,
    }
    if c.ground_resolution:
        meta["resolution"] = float(c.ground_resolution) * 100.0     # cm per pixel
    return {k: json.dumps(v) for k, v in meta.items()}


def export_onnx(loaded: LoadedModel, out: Path, *, source: Path | None = None,
                opset: int = 17) -> dict[str, str]:
    """Write ``out`` (atomically); return the metadata written."""
    import onnx

    lut = lookup_tables(loaded)
    model = loaded.model.float().eval()
    wrapper = _Exported(model, lut).eval()
    t = loaded.contract.tile_size
    sample = torch.rand(1, len(loaded.contract.bands), t, t)
    tmp = Path(out).with_name(f".{Path(out).name}.export")
    try:
        with warnings.catch_warnings():
            # the TorchScript exporter (dynamo=False) says it is deprecated, and that the input
            # checks are traced as constants (they are: shapes are checked before the graph)
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapper, (sample,), str(tmp), input_names=["input"],
                              output_names=["output"], opset_version=opset, dynamo=False,
                              dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"},
                                            "output": {0: "batch", 2: "height", 3: "width"}})
        proto = onnx.load(str(tmp))
    finally:
        tmp.unlink(missing_ok=True)
        model.eval()                         # the exporter restores the wrapper's mode
    meta = deepness_metadata(loaded)
    meta["mrife_data_contract"] = json.dumps({
        "bands": loaded.contract.bands, "ground_resolution": loaded.contract.ground_resolution,
        "tile_size": loaded.contract.tile_size, "class_names": loaded.contract.class_names,
        "input": "raw 8-bit values / 255, (N, C, H, W) with H, W multiples of "
                 f"{getattr(loaded.model, 'input_multiple', 16)}",
        "output": "(N, 2, H, W) probabilities of background and landslide"})
    meta["mrife_model_config"] = json.dumps(loaded.config.to_dict())
    if source is not None:
        meta["mrife_source_sha256_16"] = json.dumps(file_checksum(source))
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(proto)
    atomic_write_bytes(proto.SerializeToString(), Path(out))
    return meta
