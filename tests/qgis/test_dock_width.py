"""The dock fits a laptop: in a 1280 x 800 QGIS window, at the dock's default width, no tab needs
a horizontal scroll bar (nothing is cut off); long texts wrap and fields stretch instead."""

from __future__ import annotations

from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtWidgets import QScrollArea


def test_every_tab_fits_the_default_dock_width(plugin, desktop_iface):
    from qgis.PyQt.QtWidgets import QWidget

    window = desktop_iface.window
    if window.centralWidget() is None:          # QGIS's window has its map canvas there
        window.setCentralWidget(QWidget())
    window.resize(1280, 800)
    window.show()
    plugin.action.trigger()
    dock = plugin.dock
    for _ in range(5):
        QCoreApplication.processEvents()
    width = dock.width()
    assert 0 < width <= 1280 * 0.4, width      # a side panel, not half the screen
    for i in range(dock.tabs.count()):
        dock.tabs.setCurrentIndex(i)
        QCoreApplication.processEvents()
        area = dock.tabs.widget(i).findChild(QScrollArea)
        content = area.widget()
        need = content.minimumSizeHint().width()
        have = area.viewport().width()
        assert need <= have, (f"tab {dock.tabs.tabText(i)} needs {need} px, the dock gives "
                              f"{have}")
        assert not area.horizontalScrollBar().isVisible(), dock.tabs.tabText(i)
    window.hide()
