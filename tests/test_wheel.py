"""The library installs on its own (issue 30): ``make wheel``'s wheel into a fresh virtual
environment, whose ``mrife`` command then detects landslides on the bundled sample from a folder
outside the source tree. The environment sees torch and GDAL as a workstation or a cluster node
would have them installed already (Debian's GDAL and numpy through --system-site-packages; the
project venv's torch through a .pth file), so nothing is downloaded."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

from osgeo import ogr

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_installs_and_its_command_detects(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(dist), str(ROOT)], check=True, cwd=tmp_path,
                   capture_output=True, timeout=300)
    wheel = next(dist.glob("mrife-*-py3-none-any.whl"))
    venv = tmp_path / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=120)
    site = next(venv.glob("lib/python3*/site-packages"))
    (site / "project-torch.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps",
                          "--no-index", "-q", str(wheel)], capture_output=True, text=True,
                         timeout=300)
    assert pip.returncode == 0, pip.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import mrife; print(mrife.__file__)"], cwd=work,
                           capture_output=True, text=True, timeout=120)
    assert where.stdout.strip().startswith(str(site)), where.stdout + where.stderr
    helped = subprocess.run([str(venv / "bin" / "mrife"), "--help"], cwd=work,
                            capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "detect" in helped.stdout
    out = work / "found.gpkg"
    run = subprocess.run([str(venv / "bin" / "mrife"), "detect", "--device", "cpu", "--model",
                          str(ROOT / "resources" / "models" / "mrife-r18-sichuan.pt"),
                          "--raster", str(ROOT / "resources" / "sample" / "sichuan_sample.tif"),
                          "--out", str(out)], cwd=work, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    src = ogr.Open(str(out))
    # the same 29 polygons as `make demo`, styled by the QML the wheel carries
    assert src.GetLayerByName("landslides").GetFeatureCount() == 29
    styles = src.ExecuteSQL("SELECT styleQML FROM layer_styles")
    assert "mean_prob" in styles.GetNextFeature().GetField(0)
    src.ReleaseResultSet(styles)
