"""Runs killed with SIGKILL (issue 14): nothing corrupt, destinations untouched, the next run
cleans up what the dead one left, and --resume continues where a resume file exists. Real
subprocesses of ``python -m mrife``, killed with os.kill at the moment under test."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mrife.checkpoint import load_model, read_payload

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "resources" / "sample"
BUNDLED = ROOT / "resources" / "models" / "mrife-r18-sichuan.pt"

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mrife", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 240.0) -> None:
    """SIGKILL ``proc`` as soon as ready() is true (polled every millisecond)."""
    end = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, "the run ended before the moment to kill it"
        assert time.monotonic() < end, "the moment to kill never came"
        time.sleep(0.001)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL


def _line_seen(proc: subprocess.Popen, words: str):
    """ready() for _kill_when: ``words`` appeared in the run's output (read by a thread)."""
    seen: list[str] = []
    threading.Thread(target=lambda: seen.extend(proc.stdout), daemon=True).start()
    return lambda: any(words in line for line in list(seen))


def _train_args(tmp_path: Path, out: Path, epochs: int) -> list:
    labels = tmp_path / "labels.gpkg"
    if not labels.exists():
        shutil.copyfile(SAMPLE / "sichuan_sample_landslides.gpkg", labels)
    return ["train", "--raster", SAMPLE / "sichuan_sample.tif", "--labels", labels, "--arch",
            "deeplabv3plus", "--backbone", "resnet18", "--tile-size", "128",
            "--ground-resolution", "4", "--epochs", epochs, "--max-steps-per-epoch", "2",
            "--batch-size", "2", "--device", "cpu", "--out", out]


def _parts(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_training_killed_in_its_first_epoch(tmp_path):
    out = tmp_path / "m.pt"
    proc = _start(_train_args(tmp_path, out, 2))
    _kill_when(proc, _line_seen(proc, "training steps"))
    assert not out.exists() and _parts(tmp_path) == []
    # nothing to resume (no epoch finished): said so; a fresh run completes
    again = subprocess.run([sys.executable, "-m", "mrife",
                            *map(str, _train_args(tmp_path, out, 1)), "--resume"], cwd=ROOT,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 1 and "nothing to resume" in again.stderr
    fresh = subprocess.run([sys.executable, "-m", "mrife",
                            *map(str, _train_args(tmp_path, out, 1))], cwd=ROOT,
                           capture_output=True, text=True, timeout=600)
    assert fresh.returncode == 0, fresh.stderr
    assert load_model(out).config.arch == "deeplabv3plus"


def test_training_killed_while_writing_a_model_then_resumed(tmp_path):
    out = tmp_path / "m.pt"
    proc = _start(_train_args(tmp_path, out, 3))
    # a later epoch's resume write: first epoch 1's model and resume file are complete (read
    # once: reading takes longer than a small model's write), then a .part appears (polled
    # cheaply every millisecond, so the kill lands inside the write)
    done_one = []

    def writing() -> bool:
        if not done_one:
            if out.exists() and read_epoch(out) is not None:
                done_one.append(True)
            return False
        return any(p.name.startswith(".m.resume.pt.") and p.name.endswith(".part")
                   for p in tmp_path.iterdir())
    _kill_when(proc, writing)
    left = _parts(tmp_path)
    assert left, "the kill came after the write"
    # whatever was there is complete: the best model and the resume file load
    load_model(out)
    resume = out.with_suffix(".resume.pt")
    assert read_payload(resume, resume=True)["resume"]["epoch"] >= 1
    done = subprocess.run([sys.executable, "-m", "mrife",
                           *map(str, _train_args(tmp_path, out, 3)), "--resume"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "completed after 3 epoch(s)" in done.stdout
    assert _parts(tmp_path) == [] and not resume.exists()      # the dead run's .part removed


def read_epoch(out: Path) -> int | None:
    try:
        return read_payload(out.with_suffix(".resume.pt"), resume=True)["resume"]["epoch"]
    except Exception:    # not written yet, or being replaced
        return None


def test_detection_killed_mid_run(tmp_path):
    out = tmp_path / "found.gpkg"
    prob = tmp_path / "prob.tif"
    out.write_bytes(b"the previous result")
    args = ["detect", "--model", BUNDLED, "--raster", SAMPLE / "sichuan_sample.tif", "--out",
            out, "--probability", prob, "--device", "cpu", "--batch-size", "1"]
    proc = _start(args)
    _kill_when(proc, _line_seen(proc, "tiles 1/"))
    assert out.read_bytes() == b"the previous result" and not prob.exists()
    dead = [p.name for p in tmp_path.iterdir() if p.name.startswith(".mrife-detect-")]
    assert len(dead) == 1
    done = subprocess.run([sys.executable, "-m", "mrife", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["found.gpkg", "prob.qml", "prob.tif"]
