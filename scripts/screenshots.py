"""Screenshots of the panel's three tabs in a real QGIS window (``make screenshots``).

Run by QGIS itself (``qgis --code scripts/screenshots.py``, under Xvfb at 1280 x 800, a laptop
screen): it loads the bundled sample, opens the MRIFE panel at its default width, runs a detection
with the bundled model through the Detect tab, and saves the whole window with each tab in front
to docs/screenshots/. The environment variable MRIFE_SCREENSHOT_LOCALE=zh-Hans adds
``-zh-Hans`` to the file names (the caller sets QGIS's language). QGIS quits when done; a failure
is written to docs/screenshots/failed.txt.
"""

import os
import time
import traceback
from pathlib import Path

from qgis.core import QgsApplication, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QTimer
from qgis.utils import iface, plugins

ROOT = Path(os.environ.get("MRIFE_ROOT", Path.cwd()))
OUT = ROOT / "docs" / "screenshots"
SUFFIX = "-" + os.environ["MRIFE_SCREENSHOT_LOCALE"] if os.environ.get(
    "MRIFE_SCREENSHOT_LOCALE") else ""
state = {"ticks": 0}


def fail(exc: BaseException) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "failed.txt").write_text("".join(traceback.format_exception(exc)))
    QgsApplication.exit(1)


def shot(tab: str) -> None:
    dock = plugins["mrife_qgis"].dock
    from qgis.PyQt.QtWidgets import QScrollArea

    dock.tabs.setCurrentIndex({"label": 0, "train": 1, "detect": 2}[tab])
    for area in dock.tabs.currentWidget().findChildren(QScrollArea):
        area.verticalScrollBar().setValue(0)          # the top of the tab, as it opens
    QgsApplication.processEvents()
    canvas = iface.mapCanvas()
    canvas.refreshAllLayers()
    end = time.monotonic() + 20                 # the map renders in the background: wait for it
    while time.monotonic() < end:
        QgsApplication.processEvents()
        if not canvas.isDrawing():
            break
        time.sleep(0.05)
    QgsApplication.processEvents()
    OUT.mkdir(parents=True, exist_ok=True)
    iface.mainWindow().grab().save(str(OUT / f"{tab}{SUFFIX}.png"))


def start() -> None:
    try:
        window = iface.mainWindow()
        window.showNormal()
        window.setGeometry(0, 0, 1280, 800)
        sample = ROOT / "resources" / "sample" / "sichuan_sample.tif"
        layer = QgsRasterLayer(str(sample), "sichuan sample")
        QgsProject.instance().addMapLayer(layer)
        iface.setActiveLayer(layer)
        iface.zoomToActiveLayer()
        plugin = plugins["mrife_qgis"]
        plugin.action.trigger()
        dock = plugin.dock
        dock.labelPanel.rasterCombo.setLayer(layer)
        panel = dock.detectPanel
        panel.layerCombo.setLayer(layer)
        panel.areaCombo.setCurrentIndex(panel.areaCombo.findData("layer"))
        panel.outWidget.setFilePath(str(ROOT / "build" / "screenshots"))
        dock.deviceCombo.setCurrentIndex(dock.deviceCombo.findData("cpu"))
        dock.tabs.setCurrentIndex(2)
        if not panel.start():
            raise RuntimeError(f"the detection did not start: {panel.last_message}")
        timer.timeout.disconnect(start)
        timer.timeout.connect(wait)
    except Exception as exc:  # noqa: BLE001 - reported in failed.txt
        fail(exc)


def wait() -> None:
    try:
        state["ticks"] += 1
        panel = plugins["mrife_qgis"].dock.detectPanel
        if panel.task is not None and state["ticks"] < 600:
            return
        timer.stop()
        if panel.last_result is None:
            raise RuntimeError(f"the detection did not finish: {panel.last_message}")
        for tab in ("label", "train", "detect"):
            shot(tab)
        (OUT / "failed.txt").unlink(missing_ok=True)
        QgsApplication.exit(0)
    except Exception as exc:  # noqa: BLE001 - reported in failed.txt
        fail(exc)


timer = QTimer()
timer.setInterval(500)
timer.timeout.connect(start)
timer.start()
