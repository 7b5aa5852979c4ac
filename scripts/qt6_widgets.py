"""Run the plugin's Qt-only widgets under PyQt6 (Qt 6), offscreen: the closest this machine gets
to QGIS 4, for which Debian 12 has no package (``make qt6-widgets``; part of ``make lint`` when
the Qt6 venv exists).

QGIS 4 maps ``qgis.PyQt`` onto PyQt6. Here a stand-in ``qgis.PyQt`` package (written into a
temporary folder, re-exporting PyQt6's modules) does the same for the widgets that need Qt and
nothing of QGIS: the training plot (``gui/plot.py``), the keyed choice boxes
(``gui/choices.py``) and the translations (``i18n.py``, with the shipped Simplified Chinese
``.qm`` loaded by Qt 6's QTranslator). Each is built, drawn and read back; a Qt5-only call or an
unscoped enum fails here as it would in QGIS 4.

Run with the Qt6 venv: build/qt6-venv/bin/python scripts/qt6_widgets.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIM = {
    "__init__.py": "",
    "PyQt/__init__.py": "",
    "PyQt/QtCore.py": "from PyQt6.QtCore import *  # noqa: F403\n",
    "PyQt/QtGui.py": "from PyQt6.QtGui import *  # noqa: F403\n",
    "PyQt/QtWidgets.py": "from PyQt6.QtWidgets import *  # noqa: F403\n",
}


def _install_shim(folder: Path) -> None:
    for rel, text in SHIM.items():
        path = folder / "qgis" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    sys.path.insert(0, str(folder))
    # the plugin package without its __init__ (which starts the QGIS side)
    package = types.ModuleType("mrife_qgis")
    package.__path__ = [str(ROOT / "mrife_qgis")]
    sys.modules["mrife_qgis"] = package


def check() -> list[str]:
    from PyQt6.QtCore import QT_VERSION_STR, QCoreApplication, QTranslator
    from PyQt6.QtGui import QColor
    from PyQt6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from mrife_qgis import i18n
    from mrife_qgis.gui import choices, plot

    done = [f"Qt {QT_VERSION_STR}"]
    # the plot: two epochs of losses and metrics, drawn offscreen and read back
    widget = plot.CurvePlot()
    widget.resize(400, 200)
    widget.clear(2)
    for step in range(20):
        widget.add("loss (step)", step / 10, 1.0 - step / 40)
    for epoch in (1, 2):
        widget.add("loss (epoch)", epoch, 0.8 - epoch / 10)
        widget.add("val IoU", epoch, 0.3 * epoch)
        widget.add("val F1", epoch, 0.4 * epoch)
    image = widget.grab().toImage()
    colours = {image.pixelColor(x, y).name() for x in range(0, image.width(), 2)
               for y in range(0, image.height(), 2)}
    wanted = {QColor(c).name() for c, _r, _d in plot.SERIES.values()}
    if not wanted <= colours:
        raise AssertionError(f"the plot did not draw every series: {wanted - colours} missing")
    done.append("plot drawn with every series")
    # keyed choices
    combo = choices.keyed_combo({"extent": "Visible map extent", "layer": "Whole layer"})
    choices.select(combo, "layer")
    assert combo.currentData() == "layer" and combo.currentText() == "Whole layer"
    precision = choices.precision_combo()
    assert precision.findData("bfloat16") >= 0
    done.append("choice boxes keyed by data")
    # the shipped translation through Qt 6
    translator = QTranslator()
    assert translator.load(str(i18n.I18N_DIR / "mrife_zh_CN.qm"))
    QCoreApplication.installTranslator(translator)
    assert i18n.tr("Detect") == "检测", i18n.tr("Detect")
    assert choices.precision_labels()["auto"].startswith("自动")
    QCoreApplication.removeTranslator(translator)
    done.append("zh_CN translation loaded by Qt 6")
    del app
    return done


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        import PyQt6  # noqa: F401
    except ImportError:
        print("qt6 widgets: PyQt6 is not installed here; run with build/qt6-venv/bin/python "
              "(make qt6-widgets makes it)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        _install_shim(Path(tmp))
        try:
            done = check()
        except Exception as exc:  # noqa: BLE001 - one line for make
            print(f"qt6 widgets: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    print("qt6 widgets: " + "; ".join(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
