"""The one model file format: architecture and configuration, weights, data contract, metrics,
training summary, format version, and (in a run's resumable file) the optimizer state.

Files are written to a temporary file beside the target and renamed into place, so a crash,
a cancel or a full disk never leaves a truncated model behind; the temporary files of a run that
was killed are removed by the next write into the same folder.

Safe to open. A model file is something users pass around, so reading one must never run code.
Every file is read with ``torch.load(weights_only=True)``, PyTorch's restricted unpickler, which
builds only tensors and plain containers (dict, list, tuple, str, int, float, bool, None). Before
that, the file's pickle is scanned (without executing it) for references to Python callables;
a file that has any is refused with a message naming them, so nothing of it runs. Writing goes
through :func:`plain`, which turns numpy scalars, paths and str subclasses (``torch.__version__``)
into plain values, so every file this product writes passes that check.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from . import __version__
from .digest import sha256_hex
from .leftovers import lock_fd, remove_stale
from .model_checks import CheckpointError, check_archive, check_payload
from .models import ModelConfig, SegmentationModel, build_model
from .preprocess import Preprocessing

FORMAT = "mrife-qgis-model"
FORMAT_VERSION = 1


@dataclass
class DataContract:
    """What a model expects of its input, so detection never asks the user to re-type it.

    Attributes:
        bands: names of the input bands, in order (e.g. ["red", "green", "blue"]).
        ground_resolution: metres per pixel the model was trained at; None = resolution-
            agnostic (detection runs at the raster's native resolution).
        tile_size: training tile size in pixels.
        preprocessing: the fitted :class:`Preprocessing` as a dict.
        class_names: output classes.
        settings: the training data settings (``mrife.config.DataSettings``) as a dict;
            empty in files written before they were recorded.
    """

    bands: list[str]
    ground_resolution: float | None
    tile_size: int
    preprocessing: dict
    class_names: list[str] = field(default_factory=lambda: ["background", "landslide"])
    settings: dict = field(default_factory=dict)    # the DataSettings it was trained with

    @property
    def preprocess(self) -> Preprocessing:
        return Preprocessing.from_dict(self.preprocessing)


@dataclass
class LoadedModel:
    model: SegmentationModel
    config: ModelConfig
    contract: DataContract
    meta: dict
    path: Path | None = None

    @property
    def name(self) -> str:
        return self.meta.get("name") or (self.path.stem if self.path else "model")

    @property
    def threshold(self) -> float:
        """The decision threshold chosen on validation when the model was trained (stored in
        the file), else 0.5."""
        return float((self.meta.get("decision") or {}).get("threshold", 0.5))


def plain(obj: object) -> object:
    """``obj`` with only what the safe loader accepts: tensors, dict/list/tuple, str, int,
    float, bool, None. numpy scalars and arrays, paths and str subclasses are converted; anything
    else is a TypeError (it would make the file unreadable by the safe loader)."""
    if obj is None or type(obj) in (bool, int, float, str) or isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, dict):
        return {plain(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return tuple(plain(v) for v in obj)
    if isinstance(obj, list):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    for kind in (bool, int, float, str):        # subclasses: TorchVersion, IntEnum, ...
        if isinstance(obj, kind):
            return kind(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot store a {type(obj).__name__} in a model file")


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """``write(file)`` into a temporary file in the same folder, fsync, then rename over
    ``path``. The temporary file is locked while it is written; those of dead writers are
    removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path.parent, f".{path.name}.*.part")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            lock_fd(fh.fileno())
            try:
                write(fh)
            except RuntimeError as exc:      # torch.save's C++ writer on a full or failing disk
                raise _write_failure(exc, path) from exc
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a model file is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_failure(exc: RuntimeError, path: Path) -> BaseException:
    """torch.save's RuntimeError ("enforce fail at inline_container.cc ... file write failed")
    as the OSError it is: the disk is full, or the write failed."""
    text = str(exc)
    if "inline_container" not in text and "PytorchStreamWriter" not in text:
        return exc
    import errno
    import shutil

    try:
        full = shutil.disk_usage(path.parent).free < 64 * 2**20
    except OSError:
        full = False
    return OSError(errno.ENOSPC if full else errno.EIO,
                   "No space left on device" if full else "writing failed", str(path))


def atomic_save(obj: object, path: Path) -> None:
    """torch.save of ``plain(obj)`` through :func:`atomic_write`."""
    obj = plain(obj)
    atomic_write(path, lambda fh: torch.save(obj, fh))


def atomic_write_bytes(data: bytes, path: Path) -> None:
    atomic_write(path, lambda fh: fh.write(data))


PRECISIONS = ("float32", "float16", "int8")


def quantize_int8(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-output-channel int8: w ~= q * scale[c], |q| <= 127."""
    flat = w.detach().float().reshape(w.shape[0], -1)
    scale = (flat.abs().amax(dim=1) / 127.0).clamp_min(1e-12)
    q = torch.round(flat / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q.reshape(w.shape), scale


def model_payload(model: SegmentationModel, contract: DataContract, *, metrics: dict | None = None,
                  training_data: dict | None = None, train_config: dict | None = None,
                  name: str = "", half: bool = False, precision: str | None = None,
                  decision: dict | None = None) -> dict:
    """The dict stored in a model file.

    ``precision`` (or ``half=True`` for "float16") makes a smaller, inference-only file:
    "float16" stores float weights as float16 (half size); "int8" stores convolution weights as
    int8 with a float32 scale per output channel and the rest as float16 (about a quarter of the
    float32 size). Both leave out MRIFE's student, which inference does not run, and both are
    loaded back as float32. Training and fine-tuning from such a file work (the student restarts
    from the teacher)."""
    precision = precision or ("float16" if half else "float32")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    small = precision != "float32"
    state, quantized = {}, {}
    for k, v in model.state_dict().items():
        if small and k.startswith("student.") and getattr(model, "teacher", None) is not None:
            continue
        v = v.detach().cpu()
        if precision == "int8" and v.is_floating_point() and v.ndim == 4 and v.numel() >= 1024:
            q, scale = quantize_int8(v)
            quantized[k] = {"q": q.clone(), "scale": scale.clone()}
            continue
        state[k] = (v.half() if small and v.is_floating_point() else v).clone()
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name,
        "model_config": model.cfg.to_dict(),
        "state_dict": state,
        "quantized": quantized,
        "precision": precision,
        "inference_only": bool(small and getattr(model, "teacher", None) is not None),
        "data_contract": asdict(contract),
        "metrics": metrics or {},
        "decision": decision or {},
        "training_data": training_data or {},
        "train_config": train_config or {},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "software": {"mrife_qgis": __version__, "torch": torch.__version__},
    }


def save_model(path: Path, model: SegmentationModel, contract: DataContract, **kw) -> Path:
    atomic_save(model_payload(model, contract, **kw), path)
    return Path(path)


# what every model file holds (key: type), and what a resume file holds besides
REQUIRED = {"model_config": dict, "state_dict": dict, "data_contract": dict}
RESUME_KEYS = ("optimizer", "scheduler", "scaler", "epoch", "step_in_epoch", "global_step",
               "best_score", "best_metrics", "history", "epoch_sums")


def code_references(path: Path) -> list[str]:
    """The Python callables a torch file's pickle refers to beyond what the safe loader allows
    (e.g. ``builtins.exec``, ``os.system``), found without executing anything."""
    return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))


def read_payload(path: Path, map_location: str | torch.device = "cpu", *,
                 resume: bool = False) -> dict:
    """Read and validate a model file's dict (a resume file's with ``resume``) without running
    any code it may hold; CheckpointError for anything unusable or unsafe."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"model file not found: {path}")
    check_archive(path)
    try:
        refs = code_references(path)
    except Exception as exc:
        raise CheckpointError(f"{path.name} cannot be read as a model file (it is corrupt or "
                              f"not a model: {type(exc).__name__}); choose another file or "
                              "train the model again") from exc
    if refs:
        shown = ", ".join(refs[:4]) + (" ..." if len(refs) > 4 else "")
        raise CheckpointError(
            f"{path.name} was not opened: it holds references to Python code ({shown}), which a "
            "model file never needs and which would run on opening. It may have been tampered "
            "with or written by another program; get the file again from a source you trust, "
            "or open it only if you wrote it yourself")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path.name} cannot be read as a model file (it is corrupt or "
                              f"not a model: {type(exc).__name__}); choose another file or "
                              "train the model again") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path.name} is not an MRIFE for QGIS model file")
    version = data.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise CheckpointError(f"{path.name} was written by a newer MRIFE for QGIS (model format "
                              f"{version}, this version reads up to {FORMAT_VERSION}); update "
                              "the plugin")
    missing = [k for k, t in REQUIRED.items() if not isinstance(data.get(k), t)]
    if resume:
        r = data.get("resume")
        missing += ["resume"] if not isinstance(r, dict) else \
            [f"resume.{k}" for k in RESUME_KEYS if k not in r]
    if missing:
        raise CheckpointError(f"{path.name} is damaged: it lacks {', '.join(missing)}; choose "
                              "another file" + (" or start the run afresh (without resume)"
                                                if resume else " or train the model again"))
    check_payload(data, path.name)
    return data


def weights_from_payload(data: dict) -> dict:
    """The stored state_dict as float32 (float16 and int8 files are widened back)."""
    state = {k: v.float() if v.is_floating_point() else v for k, v in data["state_dict"].items()}
    for k, qs in (data.get("quantized") or {}).items():
        q, scale = qs["q"], qs["scale"].float()
        state[k] = q.float() * scale.reshape(-1, *([1] * (q.ndim - 1)))
    return state


def load_model(path: Path, map_location: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the network from a model file, weights loaded, in eval mode."""
    data = read_payload(path, map_location)
    try:
        cfg = ModelConfig.from_dict(data["model_config"])
        cfg.weights = None  # the file holds every weight; never download or read others
        model = build_model(cfg)
        state = weights_from_payload(data)
        strict = not data.get("inference_only")
        missing, unexpected = model.load_state_dict(state, strict=strict)
        if not strict and (unexpected or any(not k.startswith("student.") for k in missing)):
            raise CheckpointError(f"{Path(path).name}: weights do not match the architecture")
        contract = DataContract(**data["data_contract"])
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(f"{Path(path).name} is damaged: {type(exc).__name__}: {exc}") \
            from exc
    model.to(map_location).eval()
    meta = {k: data.get(k) for k in ("name", "metrics", "training_data", "train_config",
                                      "created", "software", "exported_from", "decision")}
    meta["precision"] = data.get("precision", "float32")
    return LoadedModel(model, cfg, contract, meta, Path(path))


def file_checksum(path: Path) -> str:
    """SHA-256 of the file's bytes (first 16 hex digits), recorded with detection results."""
    return sha256_hex(path)[:16]


def check_bands(contract: DataContract, available: int, source: str = "the raster") -> None:
    """CheckpointError when a raster cannot feed the model's bands."""
    need = len(contract.bands)
    if available < need:
        raise CheckpointError(f"the model needs {need} band(s) ({', '.join(contract.bands)}) but "
                              f"{source} has {available}; choose a raster with at least {need} "
                              "bands or a model trained on this band count")



def snapshot(obj: object) -> object:
    """A copy of ``obj`` whose tensors are cloned (so training can go on changing the live ones
    while a background write stores this state)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: snapshot(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(snapshot(v) for v in obj)
    return obj


class BackgroundWriter:
    """:func:`atomic_save` calls run in order on one background thread, so that writing a model
    (about 0.4 s for MRIFE resnet18 on the development machine, 0.6 s for a resume file)
    overlaps training instead of adding to it. ``save`` queues a write and returns; ``wait``
    blocks until every queued write is on disk. A write that failed raises its error from the
    next ``save`` or ``wait`` (the previous file at that path is intact, as with any failed
    atomic_save), and the writes queued after it are dropped. Payloads must be snapshots."""

    def __init__(self) -> None:
        self._pending: deque[tuple[dict, Path]] = deque()
        self._busy = False
        self._error: BaseException | None = None
        self._cv = threading.Condition()

    def _work(self) -> None:
        """Write what is queued, then end (a thread lives only while there is work)."""
        while True:
            with self._cv:
                if not self._pending:
                    self._busy = False
                    self._cv.notify_all()
                    return
                payload, path = self._pending.popleft()
                failed = self._error is not None
            if failed:
                continue
            try:
                atomic_save(payload, path)
            except BaseException as exc:  # handed to the training thread by wait()/save()
                with self._cv:
                    self._error = exc

    def save(self, payload: dict, path: Path) -> None:
        self._raise()
        with self._cv:
            self._pending.append((payload, Path(path)))
            if not self._busy:
                self._busy = True
                threading.Thread(target=self._work, name="model writer", daemon=True).start()

    def wait(self) -> None:
        """Block until every queued write is on disk; raise the error of one that failed."""
        with self._cv:
            self._cv.wait_for(lambda: not self._busy)
        self._raise()

    def _raise(self) -> None:
        with self._cv:
            error, self._error = self._error, None
        if error is not None:
            raise error
