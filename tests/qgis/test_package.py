"""`make package` builds a zip that installs into a fresh QGIS profile and starts there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.loopback import ModelServer

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh process whose sys.path does NOT contain the repository: only the unzipped
# plugin folder is visible, as in a user's profile.
LOAD_IN_FRESH_QGIS = r"""
import json, sys
plugins_dir = sys.argv[1]
sys.path = [p for p in sys.path if p not in ("", sys.argv[2])]
sys.path.insert(0, plugins_dir)
from qgis.core import QgsApplication
app = QgsApplication([], False)
app.initQgis()
QGIS_PLUGINS = QgsApplication.pkgDataPath() + "/python/plugins"  # QGIS's own: processing
ORDER = sys.argv[5]


def start_qgis_processing():
    sys.path.append(QGIS_PLUGINS)
    from processing.core.Processing import Processing
    Processing.initialize()


if ORDER == "qgis-first":
    start_qgis_processing()
from qgis.gui import QgsMapCanvas, QgsMessageBar
from qgis.PyQt.QtWidgets import QMainWindow, QToolBar


class Iface:  # the few iface calls a plugin makes, on real widgets
    def __init__(self):
        self.win = QMainWindow()
        self.canvas, self.bar = QgsMapCanvas(self.win), QgsMessageBar(self.win)
        self.toolbar = QToolBar("Plugins", self.win)
        self.menu = self.win.menuBar().addMenu("Raster")
    def mainWindow(self): return self.win
    def mapCanvas(self): return self.canvas
    def messageBar(self): return self.bar
    def addToolBarIcon(self, a): self.toolbar.addAction(a)
    def removeToolBarIcon(self, a): self.toolbar.removeAction(a)
    def addPluginToRasterMenu(self, name, a): self.menu.addAction(a)
    def removePluginRasterMenu(self, name, a): self.menu.removeAction(a)
    def addDockWidget(self, area, d): self.win.addDockWidget(area, d)
    def removeDockWidget(self, d): self.win.removeDockWidget(d)


iface = Iface()
import qgis.utils
qgis.utils.iface = iface
ok_load = qgis.utils.loadPlugin("mrife_qgis")
ok_start = qgis.utils.startPlugin("mrife_qgis")
import mrife_qgis
if ORDER == "ours-first":
    start_qgis_processing()
import importlib.util
# what `import processing` and our generic names resolve to once both plugins are loaded
out_names = {}
for name in ("processing", "settings", "log", "labels", "gui", "installer", "backend",
             "paths", "deps", "catalogue", "training", "detection", "i18n", "lib"):
    spec = importlib.util.find_spec(name)
    out_names[name] = spec.origin if spec and spec.origin else (
        list(spec.submodule_search_locations) if spec else None)
plugin = qgis.utils.plugins["mrife_qgis"]
plugin.set_dock_visible(True)
provider = QgsApplication.processingRegistry().providerById("mrife")
out = {"names": out_names, "qgis_plugins": QGIS_PLUGINS, "load": ok_load, "start": ok_start,
       "file": mrife_qgis.__file__,
       "provider": provider is not None,
       "algs": [a.id() for a in provider.algorithms()] if provider else [],
       "dock_tabs": plugin.dock.tabs.count(),
       "dock_module": sys.modules[plugin.dock.__module__].__file__}
import processing
out["device"] = processing.run("mrife:deviceinfo", {"DEVICE": "cpu"})["OUTPUT"]
out["mrife"] = sys.modules["mrife"].__file__
from qgis.core import QgsRasterLayer
sample = QgsRasterLayer(sys.argv[3], "sample")
det = processing.run("mrife:detect", {"INPUT": sample, "DEVICE": "cpu",
                                      "OUTPUT": sys.argv[4] + "/found.gpkg"})
out["detected"] = det["COUNT"]
import mrife_qgis.catalogue as cat
out["model_cache"] = [str(p) for p in cat.cache_dir().iterdir()]
import traceback
try:
    plugin.unload()
    out["unload"] = True
except Exception:
    out["unload"] = traceback.format_exc()
out["provider_after"] = QgsApplication.processingRegistry().providerById("mrife") is not None
print("RESULT " + json.dumps(out))
"""


@pytest.mark.parametrize("order", ["qgis-first", "ours-first"])
def test_zip_layout_and_fresh_profile_load(tmp_path, order):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import package
    finally:
        sys.path.pop(0)
    zip_path = package.build(tmp_path / "dist")
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"mrife_qgis"}
    assert zip_path.stat().st_size < 25e6 and not [n for n in names if n.endswith(".pt")]
    for needed in ("mrife_qgis/metadata.txt", "mrife_qgis/__init__.py",
                   "mrife_qgis/lib/mrife/__init__.py", "mrife_qgis/resources/icons/mrife.svg",
                   "mrife_qgis/gui/dock.ui", "mrife_qgis/LICENSE",
                   "mrife_qgis/i18n/mrife_zh_CN.qm"):
        assert needed in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")
                or "/tests/" in n or ".venv" in n]
    # lib/ holds the library and nothing else: it is the only folder put on sys.path
    assert {n.split("/")[2] for n in names if n.startswith("mrife_qgis/lib/")} == {"mrife"}

    profile_plugins = tmp_path / "profiles" / "default" / "python" / "plugins"
    profile_plugins.mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(profile_plugins)

    # the model comes from the catalogue's download location: a real server on 127.0.0.1
    with ModelServer(ROOT / "resources" / "models") as srv:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH="",
                   QGIS_CUSTOM_CONFIG_PATH=str(tmp_path / "profiles"), MRIFE_MODELS_URL=srv.url)
        proc = subprocess.run([sys.executable, "-c", LOAD_IN_FRESH_QGIS, str(profile_plugins),
                               str(ROOT), str(ROOT / "resources" / "sample" /
                                              "sichuan_sample.tif"), str(tmp_path), order],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])
    assert out["load"] and out["start"]
    # QGIS's own processing wins whatever the load order, and none of our generic names exists
    names = out["names"]
    assert str(names["processing"]).startswith(out["qgis_plugins"]), names
    ours = {k: v for k, v in names.items() if k != "processing" and v is not None}
    assert not ours, ours
    assert out["file"].startswith(str(profile_plugins))
    assert out["provider"] and "mrife:deviceinfo" in out["algs"]
    assert out["dock_tabs"] == 3
    assert out["device"] == "CPU"
    # the backend that ran is the one inside the installed plugin, not the source tree's
    assert out["mrife"].startswith(str(profile_plugins / "mrife_qgis" / "lib" / "mrife"))
    assert out["dock_module"].startswith(str(profile_plugins))
    # mrife:detect without a model file downloaded the catalogue's model into the profile and
    # found the sample's landslides with it
    assert [Path(p).name for p in out["model_cache"]] == ["mrife-r18-sichuan.pt"]
    assert str(tmp_path / "profiles") in out["model_cache"][0]
    assert out["detected"] > 0 and any(r[0].endswith(".pt") for r in srv.requests)
    assert out["unload"] is True and not out["provider_after"]
