"""Sanity of a model file's contents, checked before anything is built from them.

The safe loader (``checkpoint.read_payload``) guarantees that opening a file runs no code; this
module guarantees that what it holds is sane, so a damaged or hostile file gets one clear line
instead of a 23 GB allocation, an all-NaN probability map or a silently different run:

- **Size before allocation** (:func:`check_archive`): a model file is a ZIP archive whose
  members PyTorch stores uncompressed. The sizes its directory declares are added up without
  reading any member; more than ``MAX_MODEL_BYTES`` in all (2 GiB, about four times the
  largest network the product builds, MRIFE resnet101 in float32) or more than the file's own
  size plus ``SLACK_BYTES`` (compressed members, the shape of a ZIP bomb: a tiny file that
  inflates to gigabytes) is refused before ``torch.load`` allocates it. The cap can be raised
  by the user's explicit say-so: the environment variable ``MRIFE_MAX_MODEL_BYTES``.
- **Every stored number in range** (:func:`check_payload`): format version a whole number;
  tile size 32 to ``MAX_TILE`` px and a multiple of 8 (the networks' output stride); 1 to
  ``MAX_BANDS`` named bands; ground resolution absent or a finite 0.01 to 1000 m; the
  preprocessing's mean, standard deviation (> 0) and quantile curves finite, one per band, the
  curves non-decreasing; a stored decision threshold finite and strictly between 0 and 1;
  every floating weight finite; int8 weights int8 with one finite positive scale per output
  channel.
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path

import torch

MAX_MODEL_BYTES = 2 * 1024**3      # what one model file may inflate to, unless the user says so
SLACK_BYTES = 16 * 1024**2         # directory, pickle and alignment beyond the members' bytes
MAX_TILE = 2048                    # px; 128 to 512 in practice (the paper: 512)
MAX_BANDS = 32
RESOLUTION_RANGE = (0.01, 1000.0)  # metres per pixel


class CheckpointError(ValueError):
    """The file is not a usable model; the message says why and what to do (re-exported by
    ``checkpoint``)."""


def max_model_bytes() -> int:
    """The cap on a model file's inflated size: ``MAX_MODEL_BYTES``, or the user's
    ``MRIFE_MAX_MODEL_BYTES``."""
    raw = os.environ.get("MRIFE_MAX_MODEL_BYTES", "").strip()
    try:
        return int(raw) if raw else MAX_MODEL_BYTES
    except ValueError:
        return MAX_MODEL_BYTES


def check_archive(path: Path) -> None:
    """CheckpointError when the archive would inflate beyond the cap or beyond its own size (read
    from the ZIP directory only; nothing is decompressed). Files that are not ZIP archives
    (PyTorch's legacy format) are bounded by their own size and pass."""
    path = Path(path)
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as zf:
            declared = sum(max(i.file_size, 0) for i in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"{path.name} cannot be read as a model file (its archive is "
                             f"damaged: {exc}); choose another file or train the model "
                             "again") from exc
    size = path.stat().st_size
    cap = max_model_bytes()
    if declared > cap:
        raise CheckpointError(
            f"{path.name} would take {declared / 1024**3:.1f} GiB of memory to open, more than "
            f"the {cap / 1024**3:.1f} GiB a model file may use; it is not a model this product "
            "wrote. If you trust it, raise the limit with MRIFE_MAX_MODEL_BYTES")
    if declared > size + SLACK_BYTES:
        raise CheckpointError(
            f"{path.name} is {size / 1024**2:.1f} MiB but would inflate to "
            f"{declared / 1024**2:.0f} MiB: model files are stored uncompressed, so it was not "
            "written by this product and was not opened; get the file again from its source")


def _finite_numbers(values, length: int | None = None) -> bool:
    if not isinstance(values, list | tuple) or (length is not None and len(values) != length):
        return False
    return all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
               for v in values)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def contract_problems(contract: dict) -> list[str]:
    """What is out of range in a data contract (empty: nothing)."""
    problems = []
    tile = contract.get("tile_size")
    if not isinstance(tile, int) or isinstance(tile, bool) or not 32 <= tile <= MAX_TILE \
            or tile % 8:
        problems.append(f"tile size {tile!r} (a multiple of 8 from 32 to {MAX_TILE} px)")
    bands = contract.get("bands")
    if not isinstance(bands, list) or not 1 <= len(bands) <= MAX_BANDS \
            or not all(isinstance(b, str) for b in bands):
        problems.append(f"bands {bands!r:.60} (1 to {MAX_BANDS} band names)")
        bands = None
    res = contract.get("ground_resolution")
    if res is not None and (not _number(res) or not math.isfinite(res)
                            or not RESOLUTION_RANGE[0] <= res <= RESOLUTION_RANGE[1]):
        problems.append(f"ground resolution {res!r} m (none, or {RESOLUTION_RANGE[0]:g} to "
                        f"{RESOLUTION_RANGE[1]:g} m)")
    pre = contract.get("preprocessing")
    if not isinstance(pre, dict):
        return [*problems, "preprocessing (missing)"]
    n = len(bands) if bands else None
    if not _finite_numbers(pre.get("mean"), n):
        problems.append("preprocessing mean (one finite number per band)")
    std = pre.get("std")
    if not _finite_numbers(std, n) or any(s <= 1e-9 for s in std):
        problems.append(f"preprocessing standard deviation {std!r:.60} (one finite number "
                        "above 0 per band)")
    if pre.get("mode", "dataset") != "tile":
        curves = pre.get("quantiles")
        if not isinstance(curves, list) or (n is not None and len(curves) != n) or not all(
                _finite_numbers(c) and len(c) >= 3
                and all(a <= b for a, b in zip(c, c[1:], strict=False)) for c in curves):
            problems.append("preprocessing quantile curves (finite, non-decreasing, one per band)")
    return problems


def weight_problems(state: dict, quantized: dict) -> list[str]:
    """Weights that are not finite, and int8 weights whose storage is not int8 with one finite
    positive scale per output channel."""
    bad = [k for k, v in state.items() if isinstance(v, torch.Tensor) and v.is_floating_point()
           and not bool(torch.isfinite(v).all())]
    problems = [f"non-finite weights in {', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}"] \
        if bad else []
    for k, qs in quantized.items():
        q, scale = (qs.get("q"), qs.get("scale")) if isinstance(qs, dict) else (None, None)
        if not isinstance(q, torch.Tensor) or q.dtype != torch.int8 \
                or not isinstance(scale, torch.Tensor) or not scale.is_floating_point() \
                or scale.numel() != (q.shape[0] if q.ndim else 0) \
                or not bool(torch.isfinite(scale).all()) or not bool((scale > 0).all()):
            problems.append(f"int8 weights of {k} (int8 values with one finite scale above 0 "
                            "per output channel)")
    return problems


def check_payload(data: dict, name: str) -> None:
    """CheckpointError naming every insane value of a payload that passed the safe loader."""
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(f"{name} is damaged: its format version is {version!r} (a "
                             f"{type(version).__name__}, not a whole number); choose another "
                             "file or train the model again")
    problems = contract_problems(data.get("data_contract") or {})
    threshold = (data.get("decision") or {}).get("threshold") \
        if isinstance(data.get("decision"), dict) else None
    if threshold is not None and (not _number(threshold) or not math.isfinite(threshold)
                                  or not 0 < threshold < 1):
        problems.append(f"decision threshold {threshold!r} (between 0 and 1)")
    quantized = data.get("quantized") or {}
    problems += weight_problems(data.get("state_dict") or {},
                                quantized if isinstance(quantized, dict) else {})
    if problems:
        raise CheckpointError(f"{name} is damaged: " + "; ".join(problems[:4])
                             + (" ..." if len(problems) > 4 else "")
                             + " out of range; choose another file or train the model again")


# what a resume file's network must share with the run that resumes it
RESUME_MUST_MATCH = ("arch", "backbone", "in_channels", "num_classes", "block_size",
                     "mrife_decoder", "aspp_channels", "decoder_channels", "se")


def check_same_network(state: dict, config: dict, name: str) -> dict:
    """``state``; CheckpointError before any weight is loaded when that resume file was written
    by a run of another network than ``config`` (its weights would not fit)."""
    def same(value):
        return list(value) if isinstance(value, tuple | list) else value

    stored = state.get("model_config") or {}
    differ = [k for k in RESUME_MUST_MATCH if k in stored and k in config
              and same(stored[k]) != same(config[k])]
    if differ:
        said = ", ".join(f"{k} {stored[k]!r} there, {config[k]!r} now" for k in differ[:3])
        raise CheckpointError(f"{name} was written by a run of another network ({said}); "
                              "resume with that run's settings, or run again without --resume "
                              "to start afresh")
    return state
