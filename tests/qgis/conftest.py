"""Fixtures for tests that drive the plugin in a real, headless QGIS (pytest-qgis).

pytest-qgis's ``qgis_iface`` stands in for QGIS's desktop window (QgisApp cannot run headless);
its toolbar, Raster-menu and dock methods do nothing. ``desktop_iface`` gives them real Qt
widgets, so tests can see what the plugin added to the toolbar, the menu and the dock area.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from qgis.core import QgsProject, QgsRasterLayer, QgsVectorLayer
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QMenu, QToolBar

from mrife_qgis import labels as lab


class DesktopIface:
    """Wraps pytest-qgis's iface; plugin-facing toolbar/menu/dock calls act on real widgets."""

    def __init__(self, iface) -> None:
        self._iface = iface
        self.window = iface.mainWindow()
        self.plugin_toolbar = QToolBar("Plugins", self.window)
        self.window.addToolBar(self.plugin_toolbar)
        self.raster_menu = QMenu("&Raster", self.window)
        self.window.menuBar().addMenu(self.raster_menu)

    def __getattr__(self, name):
        return getattr(self._iface, name)

    def addToolBarIcon(self, action):
        self.plugin_toolbar.addAction(action)

    def removeToolBarIcon(self, action):
        self.plugin_toolbar.removeAction(action)

    def _submenu(self, name: str, create: bool) -> QMenu | None:
        for action in self.raster_menu.actions():
            if action.menu() is not None and action.text() == name:
                return action.menu()
        return self.raster_menu.addMenu(name) if create else None

    def addPluginToRasterMenu(self, name, action):
        self._submenu(name, create=True).addAction(action)

    def removePluginRasterMenu(self, name, action):
        menu = self._submenu(name, create=False)
        if menu is None:
            return
        menu.removeAction(action)
        if not menu.actions():
            self.raster_menu.removeAction(menu.menuAction())

    def addDockWidget(self, area, dock):
        self.window.addDockWidget(area or Qt.DockWidgetArea.RightDockWidgetArea, dock)

    def removeDockWidget(self, dock):
        self.window.removeDockWidget(dock)

    def raster_menu_texts(self) -> list[str]:
        """Every entry under Raster, as 'submenu/action'."""
        texts = []
        for top in self.raster_menu.actions():
            if top.menu() is not None:
                texts += [f"{top.text()}/{a.text()}" for a in top.menu().actions()]
        return texts


@pytest.fixture()
def desktop_iface(qgis_iface):
    iface = DesktopIface(qgis_iface)
    yield iface
    iface.window.removeToolBar(iface.plugin_toolbar)
    iface.window.menuBar().removeAction(iface.raster_menu.menuAction())


@pytest.fixture()
def plugin(desktop_iface, qgis_processing):
    """The plugin, started (initGui) in headless QGIS; unloaded afterwards if the test did not."""
    import mrife_qgis

    p = mrife_qgis.classFactory(desktop_iface)
    p.initGui()
    yield p
    if p.provider is not None:
        p.unload()


SAMPLE = Path(__file__).resolve().parents[2] / "resources" / "sample"


def sample_outlines(folder) -> Path:
    """A copy of the sample's outlines: QGIS opens GeoPackages for update, which would touch the
    file in the repository."""
    import shutil

    dst = Path(folder) / "sample_outlines.gpkg"
    if not dst.exists():
        shutil.copyfile(SAMPLE / "sichuan_sample_landslides.gpkg", dst)
    return dst


@pytest.fixture
def sample_layer(plugin):
    """The bundled sample: four real scenes (2048 px, 0.5 m, synthetic UTM georeference)."""
    layer = QgsRasterLayer(str(SAMPLE / "sichuan_sample.tif"), "sample")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    yield layer
    QgsProject.instance().removeAllMapLayers()


@pytest.fixture
def label_layer(sample_layer, tmp_path):
    """A label layer made by the plugin, filled with the sample's landslide outlines."""
    layer = lab.create_label_layer(tmp_path / "labels.gpkg", sample_layer.crs())
    src = QgsVectorLayer(str(sample_outlines(tmp_path)), "outlines", "ogr")
    assert lab.copy_features(src, layer, lab.LANDSLIDE, selected_only=False) == 15
    QgsProject.instance().addMapLayer(layer)
    return layer
