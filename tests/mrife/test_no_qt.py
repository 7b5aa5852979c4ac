"""mrife/ must run headless: importing every module of it pulls in no QGIS or Qt module."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import importlib, json, pkgutil, sys
import mrife
names = ["mrife"] + [m.name for m in pkgutil.walk_packages(mrife.__path__, "mrife.")
                       if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
bad = sorted(m for m in sys.modules
             if m.split(".")[0] in {"qgis", "PyQt5", "PyQt6", "PySide2", "PySide6", "sip"})
print(json.dumps({"imported": names, "forbidden": bad}))
"""


def test_backend_imports_no_qgis_or_qt():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(result["imported"]) > 1
    assert result["forbidden"] == []


def test_cli_help_runs_without_qgis():
    out = subprocess.run([sys.executable, "-m", "mrife", "--help"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "usage" in out.stdout.lower()
