"""Detection on two ranks (torchrun, gloo, two CPU processes) against one process: one raster cut
across the ranks, and two rasters mosaicked into one grid, give the same polygons and
probabilities; a rank killed mid-run fails the job with nothing at the destination, and the
re-run reuses the band the other rank finished. The bundled model on the bundled sample."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from osgeo import gdal, ogr

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "resources" / "models" / "mrife-r18-sichuan.pt"
SAMPLE = ROOT / "resources" / "sample" / "sichuan_sample.tif"
ENV = dict(os.environ, OMP_NUM_THREADS="1", MRIFE_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
PROB_TOL = 1e-5       # measured 2026-11-22: at most 3e-7 (blending sums in another order)


def _detect(out: Path, rasters: list[Path], ranks: int = 1, wait: bool = True, extra=()):
    args = ["-m", "mrife", "detect", "--model", str(MODEL), "--raster", *map(str, rasters),
            "--out", str(out), "--probability", str(out.with_suffix(".tif")), "--device",
            "cpu", "--precision", "float32", *extra]
    cmd = [sys.executable, *args] if ranks == 1 else \
        [sys.executable, "-m", "torch.distributed.run", "--standalone",
         f"--nproc-per-node={ranks}", *args]
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
    r = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return r


def _tiles(stdout: str) -> int:
    return int(re.search(r"(\d+) tiles in", stdout).group(1))


def _polygons(path: Path) -> list[float]:
    ds = ogr.Open(str(path))
    return sorted(f.GetGeometryRef().GetArea() for f in ds.GetLayer("landslides"))


def _same_result(a: Path, b: Path) -> None:
    pa, pb = _polygons(a), _polygons(b)
    assert len(pa) == len(pb) > 0
    pixel = 2.0 * 2.0                                   # the bundled model's grid: 2 m
    assert max(abs(x - y) for x, y in zip(pa, pb)) <= pixel
    da, db = gdal.Open(str(a.with_suffix(".tif"))), gdal.Open(str(b.with_suffix(".tif")))
    A, B = da.ReadAsArray(), db.ReadAsArray()
    assert A.shape == B.shape and np.abs(A - B).max() <= PROB_TOL


def test_one_raster_cut_across_two_ranks_equals_one_process(tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = _detect(tmp_path / "one" / "a.gpkg", [SAMPLE])
    r = _detect(tmp_path / "two" / "a.gpkg", [SAMPLE], ranks=2)
    assert r.stdout.count("landslide polygon(s)") == 1               # rank 0 alone reports
    # the grid's tiles, as one process counts them (a rank's halo rows are not extra tiles)
    assert _tiles(r.stdout) == _tiles(one.stdout) > 0
    _same_result(tmp_path / "one" / "a.gpkg", tmp_path / "two" / "a.gpkg")
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["a.gpkg", "a.qml", "a.tif"]


def test_two_rasters_mosaicked_on_two_ranks_equal_the_whole(tmp_path):
    """The sample cut into a west and an east file; detection over both (one grid: polygons
    whole across the files' border) equals detection over the uncut sample."""
    src = gdal.Open(str(SAMPLE))
    w, h = src.RasterXSize, src.RasterYSize
    halves = []
    for name, win in (("west.tif", [0, 0, w // 2, h]), ("east.tif", [w // 2, 0, w - w // 2, h])):
        gdal.Translate(str(tmp_path / name), src, srcWin=win)
        halves.append(tmp_path / name)
    del src
    (tmp_path / "whole").mkdir()
    (tmp_path / "parts").mkdir()
    _detect(tmp_path / "whole" / "a.gpkg", [SAMPLE])
    _detect(tmp_path / "parts" / "a.gpkg", halves, ranks=2)
    _same_result(tmp_path / "whole" / "a.gpkg", tmp_path / "parts" / "a.gpkg")
    assert not list((tmp_path / "parts").glob(".*"))       # no mosaic or band files left


def _workers(launcher: subprocess.Popen, n: int, seconds: float = 60) -> dict[int, int]:
    """{rank: pid} of torchrun's worker processes."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        found = {}
        kids = subprocess.run(["pgrep", "-P", str(launcher.pid)], capture_output=True,
                              text=True).stdout.split()
        for pid in kids:
            try:
                env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            ranks = [e for e in env if e.startswith(b"RANK=")]
            if ranks:
                found[int(ranks[0][5:])] = int(pid)
        if len(found) == n:
            return found
        time.sleep(0.05)
    raise AssertionError("torchrun's workers did not start")


def test_killed_rank_fails_cleanly_and_the_rerun_reuses_the_finished_band(tmp_path):
    out = tmp_path / "a.gpkg"
    job = _detect(out, [SAMPLE], ranks=2, wait=False, extra=["--batch-size", "1"])
    try:
        _kill_rank_one_after_rank_zero(job, tmp_path / ".a.shards")
    finally:                             # never leave the job (launcher and ranks) behind
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    stdout, stderr = job.communicate(timeout=300)
    assert job.returncode != 0
    assert not out.exists() and not out.with_suffix(".tif").exists()   # nothing half-merged
    assert not list(tmp_path.glob("*.lock")) and not list(tmp_path.glob(".*.lock"))
    shards = tmp_path / ".a.shards"
    assert len(list(shards.glob("done-*"))) == 1     # the finished band is kept
    r = _detect(out, [SAMPLE], ranks=2)
    assert "done by an earlier run, reused" in r.stdout
    (tmp_path / "one").mkdir()
    _detect(tmp_path / "one" / "a.gpkg", [SAMPLE])
    _same_result(tmp_path / "one" / "a.gpkg", out)
    assert not shards.exists()


def _kill_rank_one_after_rank_zero(job: subprocess.Popen, shards: Path) -> None:
    """Pause rank 1 once it has started its band, wait for rank 0 to finish its own, then
    kill rank 1 (SIGKILL: no chance to clean up)."""
    pids = _workers(job, 2)
    end = time.monotonic() + 300
    while not [p for p in shards.glob("prob-*.tif") if not p.name.startswith("prob-000000")] \
            and time.monotonic() < end:
        time.sleep(0.02)                             # rank 1 has started its band...
    os.kill(pids[1], signal.SIGSTOP)                 # ...and is paused there
    while not list(shards.glob("done-000000-*")) and time.monotonic() < end:
        time.sleep(0.1)                              # ...until rank 0 has finished its band
    assert list(shards.glob("done-000000-*")), "rank 0 did not finish its band"
    os.kill(pids[1], signal.SIGKILL)                 # then killed
