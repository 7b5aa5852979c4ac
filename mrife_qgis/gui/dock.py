"""The MRIFE dock panel: device choice and status, and the Label / Train / Detect tabs."""

from __future__ import annotations

from pathlib import Path

from qgis.core import Qgis
from qgis.PyQt import uic

from mrife import devices

from ..deps import check_deps
from ..i18n import tr
from ..settings import PluginSettings

FORM_CLASS, BASE_CLASS = uic.loadUiType(str(Path(__file__).with_suffix(".ui")))


class MrifeDock(BASE_CLASS, FORM_CLASS):
    """Dock widget. The device combo's item data is the device key (auto, cpu, cuda:N)."""

    def __init__(self, iface, parent=None) -> None:
        super().__init__(parent or iface.mainWindow())
        self.setupUi(self)
        self.setObjectName("MrifeDock")
        self.setWindowTitle(tr("MRIFE relic landslides"))
        self.deviceGroup.setTitle(tr("Compute device"))
        self.deviceChoiceLabel.setText(tr("Run on"))
        for tab, title in ((self.labelTab, tr("Label")), (self.trainTab, tr("Train")),
                           (self.detectTab, tr("Detect"))):
            self.tabs.setTabText(self.tabs.indexOf(tab), title)
        self.iface = iface
        self.settings = PluginSettings.load()
        from qgis.PyQt.QtWidgets import QHBoxLayout, QPushButton

        row = QHBoxLayout()
        self.installButton = QPushButton(tr("Install packages..."))
        self.installButton.setObjectName("mrifeInstallButton")
        self.installButton.setToolTip(tr("Install torch and torchvision for this QGIS, "
                                              "in a folder of the plugin's own"))
        self.installButton.clicked.connect(self.show_installer)
        self.reportButton = QPushButton(tr("Diagnostics report..."))
        self.reportButton.setObjectName("mrifeReportButton")
        self.reportButton.clicked.connect(self.save_report)
        row.addWidget(self.installButton)
        row.addWidget(self.reportButton)
        self.deviceForm.addRow(row)
        self.refresh_devices()
        self.deviceCombo.currentIndexChanged.connect(self._device_chosen)
        from .detect_panel import DetectPanel
        from .label_panel import LabelPanel
        from .train_panel import TrainPanel

        self.labelPanel = LabelPanel(iface, self.labelTab)
        self.labelLayout.addWidget(_scrolled(self.labelPanel))
        self.trainPanel = TrainPanel(iface, self.selected_device, self.trainTab)
        self.trainLayout.addWidget(_scrolled(self.trainPanel))
        self.detectPanel = DetectPanel(iface, self.selected_device, self.detectTab)
        self.detectLayout.addWidget(_scrolled(self.detectPanel))
        self.labelPanel.labelLayerReady.connect(self._label_layer_ready)
        self.labelPanel.areaLayerReady.connect(self.trainPanel.areaCombo.setLayer)
        self.trainPanel.modelReady.connect(self.use_model)

    def _label_layer_ready(self, layer) -> None:
        self.trainPanel.labelCombo.setLayer(layer)
        raster = self.labelPanel.rasterCombo.currentLayer()
        if raster is not None and not self.trainPanel.rasters():
            self.trainPanel.set_rasters([raster])

    def use_model(self, path: str) -> None:
        """Select a (newly trained) model in the Detect tab."""
        self.detectPanel.modelWidget.setFilePath(path)

    def refresh_devices(self) -> None:
        """Fill the device combo from what torch sees, and select the remembered choice."""
        self.deviceCombo.blockSignals(True)
        self.deviceCombo.clear()
        self.deviceCombo.addItem(tr("Auto (GPU if available)"), "auto")
        status = check_deps()
        if status.ok:
            for dev in devices.list_devices():
                self.deviceCombo.addItem(dev.label, dev.key)
        else:
            self.deviceCombo.addItem(tr("CPU"), "cpu")
        index = self.deviceCombo.findData(self.settings.device)
        if index < 0:  # a remembered GPU that is gone: keep the choice visible, say so below
            self.deviceCombo.addItem(tr("{0} (not available)").format(self.settings.device),
                                     self.settings.device)
            index = self.deviceCombo.count() - 1
        self.deviceCombo.setCurrentIndex(index)
        self.deviceCombo.blockSignals(False)
        self._describe()

    def selected_device(self) -> str:
        """The device key chosen in the combo."""
        return self.deviceCombo.currentData()

    def _device_chosen(self, _index: int) -> None:
        self.settings.device = self.selected_device()
        self.settings.save()
        self._describe()

    def show_installer(self):
        from .install_dialog import InstallDialog

        dialog = InstallDialog(self)
        dialog.finished.connect(lambda _r: self.refresh_devices())
        dialog.show()
        return dialog

    def save_report(self, path: str | None = None):
        """Ask where to save the diagnostics report (or write to ``path``), and say where."""
        from qgis.PyQt.QtWidgets import QFileDialog

        from ..diagnostics import write_report
        from ..log import log

        if not path:
            path, _ = QFileDialog.getSaveFileName(self, tr("Save diagnostics report"),
                                                  "mrife-diagnostics.md", "Markdown (*.md)")
        if not path:
            return None
        try:
            written = write_report(Path(path))
        except OSError as exc:
            log(tr("could not write the report to {0}: {1}").format(path, exc),
                level=Qgis.MessageLevel.Critical, bar=self.iface.messageBar())
            return None
        log(tr("Diagnostics report written to {0}; attach it to your bug report").format(
            written), bar=self.iface.messageBar())
        return written

    def _describe(self) -> None:
        status = check_deps()
        self.installButton.setVisible(not status.ok)
        if not status.ok:
            self.deviceStatus.setText(
                tr("The deep-learning packages are not usable:\n") + status.message())
            self.deviceStatus.setStyleSheet("color: #b00020")
            return
        try:
            dev = devices.resolve_device(self.selected_device())
        except ValueError as exc:
            self.deviceStatus.setText(str(exc))
            self.deviceStatus.setStyleSheet("color: #b00020")
            return
        self.deviceStatus.setStyleSheet("")
        self.deviceStatus.setText(tr("Will run on: {0}\ntorch {1}").format(
            dev.label, status.versions.get("torch", "?")))


def _scrolled(widget):
    """The tab's contents in a scroll area that scrolls vertically only (the Train tab is taller
    than a laptop screen), made narrow enough for a side panel (``fit_narrow``)."""
    from qgis.PyQt.QtCore import QSize, Qt
    from qgis.PyQt.QtWidgets import QFrame, QScrollArea

    class TabScroll(QScrollArea):
        def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
            # as wide as the contents need at least (not as wide as they would like): the
            # dock opens at a side panel's width and never needs a horizontal scroll bar
            hint = super().sizeHint()
            need = self.widget().minimumSizeHint().width() + \
                self.verticalScrollBar().sizeHint().width() + 2
            return QSize(need, hint.height())

    fit_narrow(widget)
    area = TabScroll()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(widget)
    area.setMinimumWidth(area.sizeHint().width())
    return area


def fit_narrow(widget) -> None:
    """Let a panel shrink to a side panel's width: combo boxes no wider than a short entry
    (their lists still show everything), form rows whose field does not fit go under their
    label."""
    from qgis.PyQt.QtWidgets import QComboBox, QFormLayout

    for combo in widget.findChildren(QComboBox):
        combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(10)
    for form in widget.findChildren(QFormLayout):
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
