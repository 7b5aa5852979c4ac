"""Cases of ``make reliability`` that need processes of their own (issue 31): signals sent to
training and detection, --resume with another network, and the plugin's cases in headless
QGIS (run by the suite's own tests through pytest-qgis, one row each)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from reliability_hostile import LABELS, MODEL, ROOT, SAMPLE, TRAIN


def signal_rows(work: Path, cli) -> list[dict]:
    """SIGTERM/SIGINT in training's first epoch, SIGTERM during detection, and --resume with
    another network."""
    rows = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        f = work / f"signal_train_{sig.name}"
        f.mkdir()
        args = ["train", "--raster", SAMPLE, "--labels", LABELS, *TRAIN[:-1], "--out",
                f / "m.pt"]
        proc = subprocess.Popen([sys.executable, "-m", "mrife", *map(str, args)], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        t = time.monotonic()
        for line in proc.stdout:
            if "expected" in line:
                proc.send_signal(sig)
                break
        rest = proc.communicate(timeout=120)[0]
        kept = (f / "m.resume.pt").exists()
        rows.append({"case": f"{sig.name} in training's first epoch",
                     "command": "train ... (signal after the plan line)", "rc": proc.returncode,
                     "message": f"{rest.strip().splitlines()[-1][:100]}; resume file: {kept}",
                     "traceback": "Traceback" in rest, "ran": False, "secs":
                     time.monotonic() - t, "left": [], "clear": proc.returncode == 3 and kept})
        if sig == signal.SIGTERM:
            other = [("icssn" if a == "deeplabv3plus" else a) for a in args]
            rc, out, err, secs = cli(*other, "--resume")
            rows.append({"case": "--resume with another network's resume file",
                         "command": "train --arch icssn --resume (a DeepLabv3+ run's file)",
                         "rc": rc, "message": (err.strip().splitlines() or [""])[0],
                         "traceback": "Traceback" in err, "ran": False, "secs": secs,
                         "left": [], "clear": rc == 1 and err.count("\n") == 1})
    f = work / "signal_detect"
    f.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "mrife", "detect", "--device", "cpu",
                             "--model", str(MODEL), "--raster", str(SAMPLE), "--out",
                             str(f / "o.gpkg"), "--probability", str(f / "p.tif"),
                             "--overlap", "96"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if line.startswith("tiles "):
            proc.send_signal(signal.SIGTERM)
            break
    try:
        rest = proc.communicate(timeout=60)[0]
    except subprocess.TimeoutExpired:           # a hang: its stacks for the report, then kill
        proc.send_signal(signal.SIGUSR1)
        time.sleep(2)
        proc.kill()
        rest = proc.communicate()[0]
        print(rest[-4000:], file=sys.stderr)
        rows.append({"case": "SIGTERM during detection", "command": "detect ... (SIGTERM)",
                     "rc": "hang", "message": "still running 60 s after SIGTERM",
                     "traceback": False, "ran": False, "secs": 60.0, "left": [],
                     "clear": False})
        return rows
    left = sorted(p.name for p in f.iterdir())
    rows.append({"case": "SIGTERM during detection", "command": "detect ... (SIGTERM at the "
                 "first progress line)", "rc": proc.returncode, "message":
                 f"{(rest.strip().splitlines() or [''])[-1]}; left: {left or 'nothing'}",
                 "traceback": "Traceback" in rest, "ran": False, "secs": 0.0, "left": left,
                 "clear": proc.returncode == 130 and not left})
    return rows


QGIS_CASES = {   # what the plugin does in headless QGIS, as the suite's own tests check it
    "QGIS: Detect tab inside a spiked polygon (killed QGIS), in a fresh QGIS":
        "tests/qgis/test_spiked_area.py::"
        "test_detect_tab_inside_a_spiked_polygon_does_not_kill_qgis",
    "QGIS: mrife:detect with an invalid area polygon (left mrife-*/area.gpkg)":
        "tests/qgis/test_spiked_area.py::"
        "test_processing_area_with_an_invalid_polygon_runs_and_leaves_nothing",
    "QGIS: packaged plugin loaded before QGIS's Processing: nothing shadowed":
        "tests/qgis/test_package.py::test_zip_layout_and_fresh_profile_load[ours-first]",
    "QGIS: packaged plugin loaded after QGIS's Processing: nothing shadowed":
        "tests/qgis/test_package.py::test_zip_layout_and_fresh_profile_load[qgis-first]",
    "QGIS: catalogue download from a server without range support":
        "tests/qgis/test_catalogue.py::test_server_without_range_support_sends_the_whole_file",
    "QGIS: catalogue reply far larger than the range asked":
        "tests/qgis/test_catalogue.py::test_oversized_range_reply_is_cut_off",
    "QGIS: catalogue server that trickles for ever":
        "tests/qgis/test_catalogue.py::test_endless_trickle_times_out",
}


def qgis_rows(work: Path) -> list[dict]:
    """The QGIS cases, run by pytest in headless QGIS (pytest-qgis); one row per test."""
    import xml.etree.ElementTree as ET

    report = work / "qgis.xml"
    t = time.monotonic()
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    f"--junitxml={report}", *QGIS_CASES.values()], cwd=ROOT,
                   capture_output=True, text=True, timeout=1200)
    secs = (time.monotonic() - t) / len(QGIS_CASES)
    outcome = {}
    for tc in ET.parse(report).getroot().iter("testcase"):
        bad = tc.find("failure") if tc.find("failure") is not None else tc.find("error")
        outcome[tc.get("name")] = "passed" if bad is None and tc.find("skipped") is None \
            else (bad.get("message", "failed")[:160] if bad is not None else "skipped")
    rows = []
    for name, node in QGIS_CASES.items():
        got = outcome.get(node.split("::")[-1], "not run")
        rows.append({"case": name, "command": f"pytest {node.split('::')[0]}", "rc":
                     0 if got == "passed" else 1, "message": f"test {got}",
                     "traceback": False, "ran": False, "secs": secs, "left": [],
                     "clear": got == "passed"})
    return rows
