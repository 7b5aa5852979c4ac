"""Model files that cannot run code (issue 14): crafted pickles through every command that
opens a model or resume file. Each payload would create a sentinel file; it must not exist."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mrife.checkpoint import (
    CheckpointError,
    atomic_save,
    load_model,
    model_payload,
    read_payload,
)
from mrife.cli import main
from tests import crafted

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "resources" / "models" / "mrife-r18-sichuan.pt"
SAMPLE = ROOT / "resources" / "sample"


@pytest.fixture
def labels(tmp_path) -> Path:
    dst = tmp_path / "labels.gpkg"
    shutil.copyfile(SAMPLE / "sichuan_sample_landslides.gpkg", dst)
    return dst


def _cli(capsys, *argv: str) -> tuple[int, str]:
    rc = main(list(argv))
    return rc, capsys.readouterr().err


def _refused(rc: int, err: str, sentinel: Path, words: str = "references to Python code"):
    assert not sentinel.exists(), "the payload ran"
    assert rc == 1, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert words in err, err


def test_the_permissive_loader_would_run_each_payload(tmp_path):
    """The crafted files are real attacks: torch.load(weights_only=False) runs them. (Without
    this check a harmless 'payload' would make every test below pass.)"""
    for make in (lambda p, s: crafted.top_level(p, s),
                 lambda p, s: crafted.in_metadata(p, s, BUNDLED),
                 lambda p, s: crafted.as_resume(p, s, BUNDLED)):
        sentinel = tmp_path / "ran"
        path = make(tmp_path / "evil.pt", sentinel)
        torch.load(path, weights_only=False)  # nosec B614 - proving the attack works
        assert sentinel.exists()
        sentinel.unlink()


def test_crafted_files_are_refused_by_the_loader(tmp_path):
    sentinel = tmp_path / "ran"
    for path in (crafted.top_level(tmp_path / "a.pt", sentinel),
                 crafted.in_metadata(tmp_path / "b.pt", sentinel, BUNDLED)):
        with pytest.raises(CheckpointError, match=r"not opened.*(exec|system)"):
            load_model(path)
        with pytest.raises(CheckpointError, match="not opened"):
            read_payload(path)
    assert not sentinel.exists()


@pytest.mark.parametrize("command", ["detect", "plan", "evaluate", "export-model"])
def test_cli_commands_refuse_crafted_models(command, tmp_path, capsys, sichuan_dir):
    sentinel = tmp_path / "ran"
    for evil in (crafted.top_level(tmp_path / "top.pt", sentinel),
                 crafted.in_metadata(tmp_path / "meta.pt", sentinel, BUNDLED)):
        args = {
            "detect": ["detect", "--model", str(evil), "--raster",
                       str(SAMPLE / "sichuan_sample.tif"), "--out", str(tmp_path / "o.gpkg")],
            "plan": ["detect", "--plan", "--model", str(evil), "--raster",
                     str(SAMPLE / "sichuan_sample.tif"), "--out", str(tmp_path / "o.gpkg")],
            "evaluate": ["evaluate", "--model", str(evil), "--images",
                         str(sichuan_dir / "images"), "--masks", str(sichuan_dir / "masks")],
            "export-model": ["export-model", "--model", str(evil), "--out",
                             str(tmp_path / "x.pt")],
        }[command]
        _refused(*_cli(capsys, *args), sentinel)
    assert not (tmp_path / "o.gpkg").exists() and not (tmp_path / "x.pt").exists()


def test_training_refuses_crafted_init_and_resume_files(tmp_path, capsys, labels):
    sentinel = tmp_path / "ran"
    common = ["train", "--raster", str(SAMPLE / "sichuan_sample.tif"), "--labels", str(labels),
              "--arch", "mrife", "--backbone", "resnet18", "--tile-size", "128",
              "--ground-resolution", "2", "--epochs", "1", "--max-steps-per-epoch", "1",
              "--quiet"]
    evil = crafted.in_metadata(tmp_path / "base.pt", sentinel, BUNDLED)
    _refused(*_cli(capsys, *common, "--init-from", str(evil), "--out",
                   str(tmp_path / "a.pt")), sentinel)
    out = tmp_path / "b.pt"
    crafted.as_resume(out.with_suffix(".resume.pt"), sentinel, BUNDLED)
    _refused(*_cli(capsys, *common, "--resume", "--out", str(out)), sentinel)
    assert not (tmp_path / "a.pt").exists() and not out.exists()


def test_missing_keys_and_missing_resume_file_are_clear(tmp_path, capsys, labels):
    for key in ("state_dict", "model_config", "data_contract"):
        path = crafted.missing_keys(tmp_path / f"no_{key}.pt", BUNDLED, key)
        with pytest.raises(CheckpointError, match=f"damaged: it lacks {key}"):
            load_model(path)
    # a resume file without its optimizer state
    out = tmp_path / "run.pt"
    data = read_payload(BUNDLED)
    data["resume"] = {"epoch": 1}
    torch.save(data, out.with_suffix(".resume.pt"))
    common = ["train", "--raster", str(SAMPLE / "sichuan_sample.tif"), "--labels", str(labels),
              "--arch", "mrife", "--backbone", "resnet18", "--tile-size", "128",
              "--ground-resolution", "2", "--epochs", "1", "--max-steps-per-epoch", "1",
              "--quiet", "--resume", "--out", str(out)]
    rc, err = _cli(capsys, *common)
    assert rc == 1 and "lacks resume.optimizer" in err and err.count("\n") == 1
    out.with_suffix(".resume.pt").unlink()
    rc, err = _cli(capsys, *common)
    assert rc == 1 and "nothing to resume" in err and "run.resume.pt does not exist" in err


def test_every_file_the_product_writes_passes_the_safe_loader(tmp_path):
    """Model and resume payloads carry numpy scalars, tuples, a TorchVersion and paths in
    practice; all are stored as plain values and read back with weights_only=True."""
    import numpy as np

    loaded = load_model(BUNDLED)
    payload = model_payload(loaded.model, loaded.contract, metrics={"iou": np.float64(0.5)},
                            train_config={"cycle": (1, 1), "out": tmp_path / "x.pt"})
    payload["resume"] = {"history": [{"loss": np.float32(1.5)}], "rng": np.arange(3)}
    atomic_save(payload, tmp_path / "m.pt")
    back = torch.load(tmp_path / "m.pt", weights_only=True)
    assert type(back["software"]["torch"]) is str
    assert back["metrics"]["iou"] == 0.5 and type(back["metrics"]["iou"]) is float
    assert back["train_config"]["cycle"] == (1, 1)
    assert back["train_config"]["out"] == str(tmp_path / "x.pt")
    assert back["resume"]["history"][0]["loss"] == 1.5
    assert torch.equal(back["resume"]["rng"], torch.arange(3))
    with pytest.raises(TypeError, match="cannot store a object"):
        atomic_save({"x": object()}, tmp_path / "bad.pt")
    assert not (tmp_path / "bad.pt").exists()


def test_bundled_model_is_in_the_safe_form():
    assert read_payload(BUNDLED)["format"] == "mrife-qgis-model"
    assert torch.serialization.get_unsafe_globals_in_checkpoint(BUNDLED) == []


def test_refusal_in_a_fresh_process_runs_nothing(tmp_path):
    """The same through ``python -m mrife`` in its own process: one line, exit 1."""
    sentinel = tmp_path / "ran"
    evil = crafted.top_level(tmp_path / "evil.pt", sentinel)
    done = subprocess.run([sys.executable, "-m", "mrife", "detect", "--model", str(evil),
                           "--raster", str(SAMPLE / "sichuan_sample.tif"), "--out",
                           str(tmp_path / "o.gpkg")], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr and not sentinel.exists()
