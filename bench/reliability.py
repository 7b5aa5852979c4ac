"""Every bad input and fault of issues 14 and 31 (the latter in reliability_hostile.py), run
through ``python -m mrife`` in fresh processes;
the table goes to docs/reliability.md (``make reliability``).

For each case: the command, its exit code, the first line it printed on stderr, whether a
traceback appeared, whether a crafted payload ran (its sentinel file exists), and whether
anything was left behind (temporary files, locks, a half-written or unwanted output).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from osgeo import gdal

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from doc_block import write_block  # noqa: E402
from reliability_hostile import add_cases  # noqa: E402
from reliability_processes import qgis_rows, signal_rows  # noqa: E402

from mrife.checkpoint import read_payload  # noqa: E402
from mrife.leftovers import DestinationLock  # noqa: E402
from tests import crafted  # noqa: E402

gdal.UseExceptions()
MODEL = ROOT / "resources" / "models" / "mrife-r18-sichuan.pt"
SAMPLE = ROOT / "resources" / "sample" / "sichuan_sample.tif"
LABELS = ROOT / "resources" / "sample" / "sichuan_sample_landslides.gpkg"
TRAIN = ["--arch", "deeplabv3plus", "--backbone", "resnet18", "--tile-size", "128",
         "--ground-resolution", "4", "--epochs", "2", "--max-steps-per-epoch", "2",
         "--batch-size", "2", "--device", "cpu", "--quiet"]


HANG_S = 300      # a case still running after this is a hang


def cli(*args, timeout: float = HANG_S) -> tuple[int | str, str, str, float]:
    t = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "mrife", *map(str, args)], cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        return "hang", str(exc.stdout or ""), str(exc.stderr or ""), time.monotonic() - t
    return done.returncode, done.stdout, done.stderr, time.monotonic() - t


def garbage(folder: Path, allowed: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in allowed)


def float_copy(dst: Path, poke=None) -> Path:
    gdal.Translate(str(dst), str(SAMPLE), outputType=gdal.GDT_Float32)
    if poke is not None:
        ds = gdal.Open(str(dst), gdal.GA_Update)
        for b in range(1, 4):
            band = ds.GetRasterBand(b)
            a = band.ReadAsArray()
            poke(a)
            band.WriteArray(a)
        ds = None
    return dst


def run_cases(work: Path) -> list[dict]:
    rows = []

    def case(name: str, args: list, expect_ok: bool = False, allowed=(), sentinel=None,
             check=None):
        folder = work / name.replace(" ", "_").replace("/", "_")[:40]
        folder.mkdir()
        before = set(allowed)
        argv = [a(folder) if callable(a) else a for a in args]
        rc, out, err, secs = cli(*argv)
        extra = check(folder, rc, out, err) if check and rc != "hang" else ""
        right = True
        if isinstance(extra, tuple):             # (what it shows, whether it is right)
            extra, right = extra
        left = garbage(folder, before | ({"o.gpkg", "p.tif", "p.qml"} if expect_ok else set()))
        ran = bool(sentinel and (folder / sentinel).exists())
        rows.append({"case": name, "command": " ".join(str(a).replace(str(folder), "D")
                                                         .replace(str(ROOT) + "/", "")
                                                         for a in argv),
                     "rc": rc, "message": (err.strip().splitlines() or [out.strip()[-120:]])[0]
                     if rc else (extra or out.strip().splitlines()[-1] if out.strip() else ""),
                     "traceback": "Traceback" in err, "ran": ran, "left": left, "secs": secs,
                     "wrong": expect_ok and rc == 0 and not right,
                     "clear": (rc == 0) == expect_ok and "Traceback" not in err and right
                     and (rc == 0 or (err.startswith("error: ") and err.count("\n") == 1))})

    def evil(kind):
        def make(folder: Path) -> Path:
            s = folder / "ran"
            if kind == "top":
                return crafted.top_level(folder / "evil.pt", s)
            return crafted.in_metadata(folder / "evil.pt", s, MODEL)
        return make

    det = ["detect", "--device", "cpu", "--raster", SAMPLE, "--out", lambda f: f / "o.gpkg"]
    for kind in ("top", "meta"):
        case(f"crafted model ({kind}) -> detect", [*det, "--model", evil(kind)],
             allowed={"evil.pt"}, sentinel="ran")
    case("crafted model -> detect --plan", [*det, "--plan", "--model", evil("meta")],
         allowed={"evil.pt"}, sentinel="ran")
    case("crafted model -> evaluate", ["evaluate", "--model", evil("meta"), "--images",
                                       lambda f: f, "--masks", lambda f: f],
         allowed={"evil.pt"}, sentinel="ran")
    case("crafted model -> export-model", ["export-model", "--model", evil("meta"), "--out",
                                           lambda f: f / "x.pt"], allowed={"evil.pt"},
         sentinel="ran")
    case("crafted model -> train --init-from",
         ["train", "--raster", SAMPLE, "--labels", LABELS, *TRAIN, "--init-from",
          evil("meta"), "--out", lambda f: f / "m.pt"], allowed={"evil.pt"}, sentinel="ran")
    case("planted resume file -> train --resume",
         ["train", "--raster", SAMPLE, "--labels", LABELS, *TRAIN, "--resume", "--out",
          lambda f: (crafted.as_resume(f / "m.resume.pt", f / "ran", MODEL), f / "m.pt")[1]],
         allowed={"m.resume.pt"}, sentinel="ran")
    case("model file without state_dict -> detect",
         [*det, "--model", lambda f: crafted.missing_keys(f / "m.pt", MODEL, "state_dict")],
         allowed={"m.pt"})

    def resume_without_optimizer(f: Path) -> Path:
        data = read_payload(MODEL)
        data["resume"] = {"epoch": 1}
        torch.save(data, f / "m.resume.pt")
        return f / "m.pt"
    case("resume file without optimizer state -> train --resume",
         ["train", "--raster", SAMPLE, "--labels", LABELS, *TRAIN, "--resume", "--out",
          resume_without_optimizer], allowed={"m.resume.pt"})
    case("--resume without a resume file", ["train", "--raster", SAMPLE, "--labels", LABELS,
                                            *TRAIN, "--resume", "--out", lambda f: f / "m.pt"])

    def speck(a):
        a[400:410, 400:410] = np.nan

    def nan_check(folder, rc, out, err):
        ds = gdal.Open(str(folder / "p.tif"))
        p = ds.ReadAsArray()
        return f"exit 0; probability nodata {int((p == -1).sum())} px, NaN {int(np.isnan(p).sum())}"
    case("NaN speck 10x10 px (float raster)",
         [*det[:4], lambda f: float_copy(f / "f.tif", speck), *det[5:], "--probability",
          lambda f: f / "p.tif", "--model", MODEL], expect_ok=True, allowed={"f.tif"},
         check=nan_check)

    def inf_block(a):
        a[:256, :] = np.inf
    case("inf block (float raster)",
         [*det[:4], lambda f: float_copy(f / "f.tif", inf_block), *det[5:], "--probability",
          lambda f: f / "p.tif", "--model", MODEL], expect_ok=True, allowed={"f.tif"},
         check=nan_check)

    def all_nan(a):
        a[:] = np.nan
    case("all-NaN raster", [*det[:4], lambda f: float_copy(f / "f.tif", all_nan), *det[5:],
                            "--model", MODEL], allowed={"f.tif"})

    def truncated(f: Path) -> Path:
        full = f / "full.tif"
        gdal.Translate(str(full), str(SAMPLE), creationOptions=["TILED=YES"])
        data = full.read_bytes()
        (f / "cut.tif").write_bytes(data[:len(data) // 2])
        full.unlink()
        return f / "cut.tif"
    case("truncated GeoTIFF", [*det[:4], truncated, *det[5:], "--model", MODEL],
         allowed={"cut.tif"})

    def vrt_missing(f: Path) -> Path:
        src = f / "src.tif"
        gdal.Translate(str(src), str(SAMPLE))
        gdal.BuildVRT(str(f / "m.vrt"), [str(src)]).FlushCache()
        src.unlink()
        return f / "m.vrt"
    case("VRT whose source is missing", [*det[:4], vrt_missing, *det[5:], "--model", MODEL],
         allowed={"m.vrt"})

    def sparse(f: Path) -> Path:
        ds = gdal.GetDriverByName("GTiff").Create(str(f / "huge.tif"), 100_000, 100_000, 3,
                                                  gdal.GDT_Byte, ["SPARSE_OK=TRUE", "TILED=YES",
                                                                  "COMPRESS=DEFLATE"])
        ds.SetGeoTransform((400000.0, 0.5, 0, 3400000.0, 0, -0.5))
        ds.SetProjection(gdal.Open(str(SAMPLE)).GetProjection())
        ds = None
        return f / "huge.tif"
    case("sparse 100000 x 100000 px GeoTIFF", [*det[:4], sparse, *det[5:], "--model", MODEL],
         allowed={"huge.tif"})
    case("sparse 100000 x 100000 px GeoTIFF, --plan",
         [*det[:4], sparse, *det[5:], "--model", MODEL, "--plan"], expect_ok=True,
         allowed={"huge.tif"})

    holder: list = []

    def held(f: Path) -> Path:
        lock = DestinationLock(f / "o.gpkg")
        lock.__enter__()
        holder.append(lock)
        return f / "o.gpkg"
    case("second detection to a destination in use",
         ["detect", "--device", "cpu", "--raster", SAMPLE, "--out", held, "--model", MODEL],
         allowed={".o.gpkg.lock"})
    for lock in holder:
        lock.__exit__(None, None, None)
    case("--json into a missing folder", [*det, "--model", MODEL, "--json",
                                          lambda f: f / "no" / "r.json"])
    case("output not a GeoPackage", ["detect", "--device", "cpu", "--raster", SAMPLE,
                                     "--model", MODEL, "--out", lambda f: f / "o.shp"])
    x, y = 400100.0, 3399900.0
    case("labels: only empty and collinear polygons",
         ["train", "--raster", SAMPLE, "--labels", lambda f: crafted.label_layer(f / "l.gpkg", [
             "POLYGON EMPTY", f"POLYGON (({x} {y}, {x + 50} {y}, {x + 90} {y}, {x} {y}))"]),
          *TRAIN, "--out", lambda f: f / "m.pt"], allowed={"l.gpkg"})
    case("labels: points and lines only",
         ["train", "--raster", SAMPLE, "--labels", lambda f: crafted.label_layer(f / "l.gpkg", [
             f"POINT ({x} {y})", f"LINESTRING ({x} {y}, {x + 80} {y - 80})"]),
          *TRAIN, "--out", lambda f: f / "m.pt"], allowed={"l.gpkg"})
    case("raster without a CRS", ["detect", "--device", "cpu", "--model", MODEL, "--raster",
                                  lambda f: shutil.copyfile(
                                      ROOT.parent / "shared" / "data" / "sichuan" / "images" /
                                      "Landslide011.png", f / "x.png") and f / "x.png",
                                  "--out", lambda f: f / "o.gpkg"], allowed={"x.png"})
    add_cases(case, work)
    rows += signal_rows(work, cli)
    rows += qgis_rows(work)
    rows += kill_cases(work)
    return rows


def _kill(args: list, ready_words=None, ready_file=None, timeout=300) -> int:
    proc = subprocess.Popen([sys.executable, "-m", "mrife", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    threading.Thread(target=lambda: seen.extend(proc.stdout), daemon=True).start()
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if ready_words and any(ready_words in s for s in list(seen)):
            break
        if ready_file and ready_file():
            break
        time.sleep(0.001)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    return proc.returncode


def kill_cases(work: Path) -> list[dict]:
    rows = []
    f = work / "kill_detect"
    f.mkdir()
    (f / "o.gpkg").write_bytes(b"previous")
    args = ["detect", "--device", "cpu", "--model", MODEL, "--raster", SAMPLE, "--out",
            f / "o.gpkg", "--probability", f / "p.tif", "--batch-size", "1"]
    rc = _kill(args, ready_words="tiles 1/")
    after_kill = garbage(f, {"o.gpkg"})
    intact = (f / "o.gpkg").read_bytes() == b"previous"
    rc2, _, err, secs = cli(*args)
    left = garbage(f, {"o.gpkg", "p.tif", "p.qml"})
    rows.append({"case": "SIGKILL detection mid-run, then run again",
                 "command": "detect ... (killed at 'tiles 1/'), then the same command",
                 "rc": rc2, "message": f"killed ({rc}); left by the dead run: {after_kill}; "
                 f"destination intact: {intact}; re-run exit {rc2}, removed the leftovers",
                 "traceback": "Traceback" in err, "ran": False, "left": left, "secs": secs,
                 "clear": rc2 == 0 and intact and not left})
    f = work / "kill_train"
    f.mkdir()
    out = f / "m.pt"
    args = ["train", "--raster", SAMPLE, "--labels", LABELS, *TRAIN[:-1], "--out", out]
    args[args.index("--epochs") + 1] = "3"

    done_one: list[bool] = []

    def writing() -> bool:
        """A later epoch's resume write is under way: epoch 1's files are complete (read once:
        reading takes longer than a small model's write), then a .part appears (cheap poll)."""
        if not done_one:
            try:
                if out.exists() and read_payload(f / "m.resume.pt",
                                                 resume=True)["resume"]["epoch"] >= 1:
                    done_one.append(True)
            except Exception:      # not written yet
                pass
            return False
        return any(p.name.startswith(".m.resume.pt.") and p.name.endswith(".part")
                   for p in f.iterdir())
    rc = _kill(args, ready_file=writing)
    parts = [p.name for p in f.iterdir() if p.name.endswith(".part")]
    rc2, sout, err, secs = cli(*args, "--resume")
    left = garbage(f, {"m.pt"})
    rows.append({"case": "SIGKILL training while writing its resume file, then --resume",
                 "command": "train ... (killed with a .part being written), then --resume",
                 "rc": rc2, "message": f"killed ({rc}) with {len(parts)} .part file(s) left; "
                 "--resume: " + next((line[:60] for line in sout.splitlines()
                                      if line.startswith(("completed", "cancelled"))),
                                     (err.strip().splitlines() or ["no output"])[-1][:120]),
                 "traceback": "Traceback" in err, "ran": False, "left": left, "secs": secs,
                 "clear": rc2 == 0 and not left})
    f = work / "kill_train_first"
    f.mkdir()
    out = f / "m.pt"
    rc = _kill(["train", "--raster", SAMPLE, "--labels", LABELS, *TRAIN[:-1], "--out", out],
               ready_words="training steps")
    left = garbage(f, set())
    rows.append({"case": "SIGKILL training in its first epoch", "command": "train ... (killed "
                 "after the plan line)", "rc": rc, "message": f"killed ({rc}); files: {left}",
                 "traceback": False, "ran": False, "left": left, "secs": 0.0,
                 "clear": not left})
    return rows


def write(rows: list[dict], out: Path, command: str) -> None:
    n = len(rows)
    clear = sum(r["clear"] for r in rows)
    tracebacks = sum(r["traceback"] for r in rows)
    ran = sum(r["ran"] for r in rows)
    left = sum(bool(r["left"]) for r in rows)
    crashes = sum(isinstance(r["rc"], int) and r["rc"] < 0 and "killed" not in r["message"]
                  for r in rows)
    hangs = sum(r["rc"] == "hang" for r in rows)
    wrong = sum(bool(r.get("wrong")) for r in rows)
    lines = ["| # | case | command (D = the case's folder) | exit | what the user reads | "
             "payload ran | left behind | s |", "|---|---|---|---:|---|---|---|---:|"]
    for i, r in enumerate(rows, 1):
        msg = r["message"].replace("|", "\\|")[:220]
        lines.append(f"| {i} | {r['case']} | `{r['command'][:110]}` | {r['rc']} | {msg} | "
                     f"{'**yes**' if r['ran'] else 'no'} | {', '.join(r['left']) or '-'} | "
                     f"{r['secs']:.1f} |")
    count = (f"**{n} tried, {clear} clear errors or correct results; {crashes} crashes, "
             f"{wrong} silently wrong results, {tracebacks} tracebacks, {hangs} hangs, {left} "
             f"with garbage left, {ran} payloads ran.**")
    write_block(out, "table", f"Measured {time.strftime('%Y-%m-%d')} by `{command}`.\n\n"
                f"{count}\n\n" + "\n".join(lines))
    print(count)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "reliability.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mrife-reliability-") as tmp:
        rows = run_cases(Path(tmp))
    write(rows, args.out, "make reliability")
