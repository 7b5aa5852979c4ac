"""The Detect tab's "Inside polygons of a layer" with a hand-drawn outline with a spike (issue
31): its repair used to read freed OGR memory on QGIS's GUI thread and kill QGIS. Run in a fresh
process, so that a crash fails this test instead of the test session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PANEL_WITH_SPIKED_AREA = r"""
import json, sys, time
from qgis.core import QgsApplication, QgsProject, QgsRasterLayer, QgsVectorLayer, QgsFeature
from qgis.core import QgsGeometry
app = QgsApplication([], False)
app.initQgis()
from qgis.gui import QgsMapCanvas, QgsMessageBar
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtWidgets import QMainWindow


class Iface:  # the iface calls the panel makes, on real widgets
    def __init__(self):
        self.win = QMainWindow()
        self.canvas, self.bar = QgsMapCanvas(self.win), QgsMessageBar(self.win)
    def mapCanvas(self): return self.canvas
    def messageBar(self): return self.bar
    def mainWindow(self): return self.win


from mrife_qgis.gui.choices import select
from mrife_qgis.gui.detect_panel import DetectPanel

raster = QgsRasterLayer(sys.argv[1], "sample")
area = QgsVectorLayer("Polygon?crs=EPSG:32648", "hand-drawn area", "memory")
feat = QgsFeature()
feat.setGeometry(QgsGeometry.fromWkt(sys.argv[2]))
area.dataProvider().addFeatures([feat])
QgsProject.instance().addMapLayers([raster, area])
panel = DetectPanel(Iface(), lambda: "cpu")
panel.layerCombo.setLayer(raster)
panel.modelWidget.setFilePath(sys.argv[3])
select(panel.areaCombo, "polygons")
panel.polygonCombo.setLayer(area)
area.selectAll()                       # the drawn outline, selected (the tab's default)
panel.outWidget.setFilePath(sys.argv[4])
started = panel.start()
end = time.monotonic() + 120
while panel.task is not None and time.monotonic() < end:
    QCoreApplication.processEvents()
    time.sleep(0.02)
r = panel.last_result
said = [i.text() for i in panel.iface.messageBar().items()]
print("RESULT " + json.dumps({"started": bool(started), "count": r.count if r else None,
                             "width": r.plan.width if r else None, "said": said}))
"""


def test_detect_tab_inside_a_spiked_polygon_does_not_kill_qgis(tmp_path):
    from tests.mrife.test_hostile_input import SPIKE

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               QGIS_CUSTOM_CONFIG_PATH=str(tmp_path / "profile"))
    proc = subprocess.run(
        [sys.executable, "-c", PANEL_WITH_SPIKED_AREA,
         str(ROOT / "resources" / "sample" / "sichuan_sample.tif"), SPIKE,
         str(ROOT / "resources" / "models" / "mrife-r18-sichuan.pt"), str(tmp_path / "out")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]          # not -11 (SIGSEGV)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    out = json.loads(line[len("RESULT "):])
    # the 800 m square without its spike, at the model's 2 m
    assert out["started"] and out["count"] is not None and out["width"] == 400, out


def test_processing_area_with_an_invalid_polygon_runs_and_leaves_nothing(plugin, tmp_path):
    """mrife:detect with a spiked (invalid) area polygon under Processing's default
    invalid-geometry check: it used to stop with an error thrown through our frame from C++,
    leaving mrife-*/area.gpkg in the temporary folder each time. The library repairs area
    polygons, so the run goes on over the 800 m square, and no work folder is left."""
    import glob
    import tempfile

    import processing
    from qgis.core import QgsFeature, QgsGeometry, QgsRasterLayer, QgsVectorLayer

    from tests.mrife.test_hostile_input import SPIKE

    area = QgsVectorLayer("Polygon?crs=EPSG:32648", "hand-drawn area", "memory")
    feat = QgsFeature()
    feat.setGeometry(QgsGeometry.fromWkt(SPIKE))
    area.dataProvider().addFeatures([feat])
    assert not next(area.getFeatures()).geometry().isGeosValid()
    raster = QgsRasterLayer(str(ROOT / "resources" / "sample" / "sichuan_sample.tif"), "s")
    before = set(glob.glob(f"{tempfile.gettempdir()}/mrife-*"))
    result = processing.run("mrife:detect", {
        "INPUT": raster, "AREA": area, "DEVICE": "cpu", "OUTPUT": str(tmp_path / "o.gpkg"),
        "MODEL": str(ROOT / "resources" / "models" / "mrife-r18-sichuan.pt")})
    assert result["COUNT"] > 0
    assert set(glob.glob(f"{tempfile.gettempdir()}/mrife-*")) - before == set()
