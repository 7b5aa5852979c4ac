"""The Qt6 check of make lint finds what PyQt6 cannot run, and only that."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import qt6_check  # noqa: E402


def test_flags_unscoped_enums_and_qt5_calls_only(tmp_path):
    code = tmp_path / "w.py"
    code.write_text(
        "from qgis.PyQt.QtCore import Qt\n"
        "from qgis.PyQt.QtWidgets import QFrame, QSizePolicy\n"
        "a = Qt.RightDockWidgetArea\n"                       # unscoped: flagged
        "b = Qt.DockWidgetArea.RightDockWidgetArea\n"        # scoped: fine
        "c = QFrame.NoFrame\n"                               # unscoped: flagged
        "d = QSizePolicy.Policy.Expanding\n"                 # scoped: fine
        "fm = widget.fontMetrics()\n"
        "e = fm.width('abc')\n"                              # Qt5-only: flagged
        "f = fm.horizontalAdvance('abc')\n"                  # fine
        "g = rect.width()\n"                                 # not font metrics: fine
        "h = dialog.exec_()\n")                              # Qt5-only: flagged
    index = json.loads(qt6_check.INDEX.read_text())
    found = qt6_check.findings([code], index)
    assert [f.split(":")[1] for f in found] == ["3", "5", "8", "11"], found
    assert "Qt.DockWidgetArea.RightDockWidgetArea" in found[0]
    assert "QFrame.Shape.NoFrame" in found[1]


def test_shipped_code_tests_and_scripts_are_clean():
    index = json.loads(qt6_check.INDEX.read_text())
    paths = [ROOT / d for d in ("mrife_qgis", "tests", "scripts", "bench")]
    assert qt6_check.findings(paths, index) == []
