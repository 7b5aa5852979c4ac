"""The QGIS plugin object: toolbar button, Raster menu entry, dock panel, Processing provider."""

from __future__ import annotations

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction

from . import i18n
from .i18n import tr
from .paths import resources_dir


class MrifePlugin:
    """What QGIS loads. ``unload()`` undoes ``initGui()`` step by step."""

    def __init__(self, iface) -> None:
        self.iface = iface
        self.action: QAction | None = None
        self.dock = None
        self.provider = None
        self.install_action = None
        self.report_action = None
        i18n.install()                 # QGIS's language, when the plugin has it
        self.menu = tr("&MRIFE relic landslides")

    def initGui(self) -> None:  # noqa: N802 (QGIS's name)
        from .processing.provider import MrifeProvider

        self.provider = MrifeProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

        icon = QIcon(str(resources_dir() / "icons" / "mrife.svg"))
        self.action = QAction(icon, tr("MRIFE relic landslides"), self.iface.mainWindow())
        self.action.setObjectName("mrifeShowPanel")
        self.action.setCheckable(True)
        self.action.setToolTip(tr("Label, fine-tune and detect relic landslides"))
        self.action.toggled.connect(self.set_dock_visible)
        self.iface.addToolBarIcon(self.action)
        self.iface.addPluginToRasterMenu(self.menu, self.action)
        self.install_action = QAction(tr("Install deep-learning packages..."),
                                      self.iface.mainWindow())
        self.install_action.setObjectName("mrifeInstall")
        self.install_action.triggered.connect(lambda: self._dock().show_installer())
        self.report_action = QAction(tr("Write diagnostics report..."),
                                     self.iface.mainWindow())
        self.report_action.setObjectName("mrifeReport")
        self.report_action.triggered.connect(lambda: self._dock().save_report())
        for extra in (self.install_action, self.report_action):
            self.iface.addPluginToRasterMenu(self.menu, extra)

    def _dock(self):
        self.set_dock_visible(True)
        return self.dock

    def unload(self) -> None:
        for extra in (self.install_action, self.report_action):
            self.iface.removePluginRasterMenu(self.menu, extra)
            extra.deleteLater()
        self.install_action = self.report_action = None
        self.iface.removePluginRasterMenu(self.menu, self.action)
        self.iface.removeToolBarIcon(self.action)
        self.action.toggled.disconnect(self.set_dock_visible)
        self.action.deleteLater()
        self.action = None

        if self.dock is not None:
            for panel in (self.dock.detectPanel, self.dock.trainPanel):
                if panel.task is not None:   # runs on without its panel; a training run
                    panel.task.on_done = None   # saves its resume file when it stops
                    panel.task.cancel()
            self.iface.removeDockWidget(self.dock)
            self.dock.close()
            self.dock.deleteLater()
            self.dock = None

        QgsApplication.processingRegistry().removeProvider(self.provider)
        self.provider = None
        i18n.remove()

    def set_dock_visible(self, visible: bool) -> None:
        """Show or hide the panel, creating it the first time."""
        if self.dock is None:
            if not visible:
                return
            from .gui.dock import MrifeDock

            self.dock = MrifeDock(self.iface)
            self.iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
            self.dock.visibilityChanged.connect(self._sync_action)
        self.dock.setVisible(visible)

    def _sync_action(self, visible: bool) -> None:
        if self.action is not None and self.action.isChecked() != visible:
            self.action.setChecked(visible)
